"""Compact, deterministic JSON with exact decimal numbers.

CU are ``Decimal`` end to end; ``dumps`` writes them as JSON numbers with their exact digits
(``5.5``, never ``5.499999999``), trailing zeros removed, so sums printed equal sums computed.
"""

from __future__ import annotations

import json
from datetime import datetime
from decimal import Decimal
from functools import lru_cache
from typing import Any

import orjson
import simplejson

__all__ = ["dumps", "instant", "num", "size", "size_of"]

_ONE = Decimal(1)
_ZERO = Decimal(0)


def num(d: Decimal | int | None) -> Decimal:
    """``d`` in its shortest exact form: 5.500000 → 5.5, 1200.000000 → 1200, -0 → 0."""
    if d is None or not d:
        return _ZERO
    if type(d) is not Decimal:
        d = Decimal(d)
    n = d.normalize()
    # only an integer can have a positive exponent once normalized (1.2E+3): write its digits
    # (checked without ``as_tuple``, which builds the digits: 2x faster, 200,000 calls an answer)
    return n.quantize(_ONE) if n.adjusted() >= 0 and n == n.to_integral_value() else n


def instant(t: datetime | None) -> str | None:
    """A naive UTC datetime as an ISO 8601 instant with ``Z``."""
    if t is None:
        return None
    return _instant(t) if t.tzinfo is None else _text(t)


@lru_cache(maxsize=65_536)
def _instant(t: datetime) -> str:
    return _text(t)  # a daily series repeats its ~120 days 400 times: 50,000 calls an answer


def _text(t: datetime) -> str:
    return t.isoformat(timespec="microseconds" if t.microsecond else "seconds") + "Z"


#: orjson writes what it knows natively; these go through ``_fragment`` (and so to simplejson)
_PASS = orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS | orjson.OPT_PASSTHROUGH_SUBCLASS


def _fragment(o: Any) -> orjson.Fragment:
    if type(o) is Decimal:
        return orjson.Fragment(str(o))  # the exact digits, as simplejson's use_decimal writes them
    raise TypeError(f"{type(o).__name__} is not JSON")


def dumps(obj: Any, *, indent: int | None = None) -> str:
    """Compact UTF-8 JSON (or indented with ``indent``); Decimals as exact numbers.

    Compact text comes from orjson (~4x faster on an answer: 1.4 ms -> 0.4 ms for 87 KB), the
    same bytes simplejson writes (tested; only a float below 1e-4 differs in form, 1e-7 for
    1e-07, and answers carry none); what orjson refuses (a lone surrogate, an integer past 64
    bits, a type it would write differently) is written by simplejson.
    """
    if indent is None:
        try:
            return orjson.dumps(obj, default=_fragment, option=_PASS).decode()
        except TypeError:  # orjson.JSONEncodeError is one
            pass
    seps = (",", ":") if indent is None else (",", ": ")
    return simplejson.dumps(obj, separators=seps, ensure_ascii=False, use_decimal=True, indent=indent)


def size(obj: Any) -> int:
    """Bytes of the compact UTF-8 JSON of ``obj``."""
    return len(dumps(obj).encode())


@lru_cache(maxsize=4096)
def _key_bytes(key: str) -> int:
    return len(json.encoder.encode_basestring(key).encode()) + 1  # and its colon


def size_of(obj: Any) -> int:
    """``size(obj)``: the same number, from orjson's bytes (a 4 MB answer's rows: ~0.15 s instead
    of ~0.5 s walking them), or for what orjson refuses from a walk of the value."""
    try:
        return len(orjson.dumps(obj, default=_fragment, option=_PASS))
    except TypeError:
        return _walked_size(obj)


def _walked_size(obj: Any) -> int:
    """``size(obj)`` computed without building the text (strings are escaped by the standard
    library's C encoder)."""
    if isinstance(obj, str):
        return len(json.encoder.encode_basestring(obj).encode())
    if obj is None or obj is True:
        return 4
    if obj is False:
        return 5
    if isinstance(obj, int | Decimal):
        return len(str(obj))
    if isinstance(obj, dict):
        return 1 + len(obj) + sum(_key_bytes(k) + _walked_size(v) for k, v in obj.items()) if obj else 2
    if isinstance(obj, list | tuple):
        return 1 + len(obj) + sum(_walked_size(v) for v in obj) if obj else 2
    return size(obj)
