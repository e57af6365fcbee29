"""Compact, deterministic JSON with exact decimal numbers.

CU are ``Decimal`` end to end; ``dumps`` writes them as JSON numbers with their exact digits
(``5.5``, never ``5.499999999``), trailing zeros removed, so sums printed equal sums computed.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

import simplejson

__all__ = ["dumps", "instant", "num", "size"]

_ONE = Decimal(1)


def num(d: Decimal | int | None) -> Decimal:
    """``d`` in its shortest exact form: 5.500000 → 5.5, 1200.000000 → 1200, -0 → 0."""
    if d is None or d == 0:
        return Decimal(0)
    d = Decimal(d).normalize()
    return d.quantize(_ONE) if d.as_tuple().exponent > 0 else d  # type: ignore[operator]


def instant(t: datetime | None) -> str | None:
    """A naive UTC datetime as an ISO 8601 instant with ``Z``."""
    if t is None:
        return None
    text = t.isoformat(timespec="microseconds" if t.microsecond else "seconds")
    return text + "Z"


def dumps(obj: Any, *, indent: int | None = None) -> str:
    """Compact UTF-8 JSON (or indented with ``indent``); Decimals as exact numbers."""
    seps = (",", ":") if indent is None else (",", ": ")
    return simplejson.dumps(obj, separators=seps, ensure_ascii=False, use_decimal=True, indent=indent)


def size(obj: Any) -> int:
    """Bytes of the compact UTF-8 JSON of ``obj``."""
    return len(dumps(obj).encode())
