"""NDJSON as numbered lines, split by us: row *i* of what a parser returns is never assumed to be
line *i* (a line may hold two objects, or none).

Callers can rely on:
- ``split_lines`` numbers every physical line of a block itself; blank lines (only JSON
  whitespace) are not records; a line that is not valid UTF-8 is a ``Problem`` of that line.
- ``array_lines`` turns the text of one JSON array of records into NDJSON without ever reading a
  number through a float (``123456789012.123456`` stays exactly that), each element on its own
  line whatever it is (so a ``null`` element is a problem of its own index, not a crash).
- ``strip_bom`` removes a leading UTF-8 byte-order mark (Excel's "CSV UTF-8", some editors).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import simplejson

from usagelens.errors import InvalidInput, Problem

__all__ = ["BOM", "Lines", "array_lines", "braced_lines", "is_array_document", "split_lines", "strip_bom"]

BOM = b"\xef\xbb\xbf"
#: JSON's own whitespace (RFC 8259), without the newline that ends a line.
_JSON_SPACE = " \t\r"


@dataclass(frozen=True)
class Lines:
    """The records of a block: ``table`` has ``_line`` (int64) and ``line`` (string) for every
    non-blank valid-UTF-8 line, in order; ``problems`` holds the lines that are not UTF-8."""

    table: pa.Table
    problems: list[Problem]

    def braced(self) -> bool:
        """Whether every line starts with ``{`` and ends with ``}`` (JSON whitespace aside).

        With valid JSON, such lines each hold one or more whole top-level values, the first an
        object: a newline can only sit between top-level values (``}`` then ``{`` has no other
        reading, and a JSON string cannot hold a raw newline). So a parser that reads exactly
        as many rows as there are lines read exactly one object per line, in order; and it never
        sees a line that starts with anything but an object (a bare ``null`` first crashes
        pyarrow 26's JSON reader)."""
        text = pc.utf8_trim(self.table["line"], _JSON_SPACE)
        ok = pc.and_(pc.starts_with(text, "{"), pc.ends_with(text, "}"))
        return bool(pc.all(ok).as_py()) and not self.problems


def braced_lines(data: bytes, breaks: int | None = None) -> int | None:
    """The number of lines of ``data`` when each is exactly ``{`` … ``}`` (no blank line, no
    whitespace around) and all is UTF-8, else None: ``Lines.braced`` without splitting.
    ``breaks``: the number of newlines in ``data``, when the caller has counted them."""
    if not data.startswith(b"{") or not (data.endswith(b"}\n") or data.endswith(b"}")):
        return None
    breaks = data.count(b"\n") if breaks is None else breaks
    inner = breaks - data.endswith(b"\n")  # newlines between two lines
    if data.count(b"}\n{") != inner:  # some line does not end with } or the next not start with {
        return None
    return inner + 1 if _utf8(data) else None


def _utf8(data: bytes) -> bool:
    """Whether ``data`` is valid UTF-8 (Arrow's JSON reader lets some invalid bytes through)."""
    offsets = pa.py_buffer(np.array([0, len(data)], dtype=np.int64).tobytes())
    text = pa.Array.from_buffers(pa.large_string(), 1, [None, offsets, pa.py_buffer(data)])
    try:
        text.validate(full=True)
    except pa.ArrowInvalid:
        return False
    return True


def strip_bom(data: bytes) -> bytes:
    """``data`` without a leading UTF-8 byte-order mark."""
    return data[len(BOM) :] if data.startswith(BOM) else data


def split_lines(data: bytes, first: int, unit: str = "line") -> Lines:
    """The lines of ``data`` (a block of whole lines), numbered from ``first``."""
    parts = pc.list_flatten(pc.split_pattern(pa.array([data], pa.large_binary()), b"\n"))
    if data.endswith(b"\n"):
        parts = parts.slice(0, len(parts) - 1)
    numbers = pa.array(np.arange(first, first + len(parts), dtype=np.int64))
    problems: list[Problem] = []
    try:
        text = parts.cast(pa.large_string())
    except pa.ArrowInvalid:  # rare: find the culprits one by one, keep the rest
        values, keep = [], []
        for i, raw in enumerate(parts.to_pylist()):
            try:
                values.append(raw.decode("utf-8"))
                keep.append(True)
            except UnicodeDecodeError as e:
                why = f"is not valid UTF-8 (byte {e.start + 1} of the line); save the file as UTF-8"
                problems.append(Problem(first + i, "record", why, unit))
                values.append("")
                keep.append(False)
        text = pa.array(values, pa.large_string())
        numbers = numbers.filter(pa.array(keep))
        text = text.filter(pa.array(keep))
    blank = pc.equal(pc.utf8_trim(text, _JSON_SPACE), "")
    table = pa.table({"_line": numbers, "line": text})
    if pc.any(blank).as_py():  # rare; filtering copies every line
        table = table.filter(pc.invert(blank))
    return Lines(table, problems)


def is_array_document(head: bytes, what: str) -> bool:
    """Whether a text starting with ``head`` is one JSON array of records (``[...]`` or
    ``{"<what>": [...]}``) rather than JSON lines."""
    return re.match(rb'\s*(\[|\{\s*"' + re.escape(what.encode()) + rb'"\s*:\s*\[)', strip_bom(head)) is not None


def array_lines(raw: bytes, what: str, subject: str = "the body") -> bytes:
    """The elements of the JSON array ``raw`` as NDJSON (one element per line, exact numbers).

    ``raw`` may also be an object ``{"<what>": [...]}``. Raises ``InvalidInput`` naming
    ``subject`` and the problem when ``raw`` is not JSON, nests too deeply, or is not such an array.
    """
    fix = f"send a JSON array of {what} or NDJSON"
    try:
        body = json.loads(strip_bom(raw) or b"null", parse_float=Decimal, parse_constant=_no_constant)
    except RecursionError:
        raise InvalidInput(f"{subject} nests JSON too deeply; {fix}") from None
    except (ValueError, UnicodeDecodeError) as e:
        raise InvalidInput(f"{subject} is not valid JSON ({e}); {fix}") from None
    if isinstance(body, dict) and isinstance(body.get(what), list):
        body = body[what]
    if not isinstance(body, list):
        raise InvalidInput(f'{subject} must be a JSON array of {what}, an object {{"{what}": [...]}}, or NDJSON')
    try:
        return b"".join(_line(r) for r in body)
    except RecursionError:
        raise InvalidInput(
            f"{subject} holds a record that nests JSON too deeply; send flat records of {what}"
        ) from None


def _line(record: Any) -> bytes:
    return simplejson.dumps(record, use_decimal=True).encode() + b"\n"


def _no_constant(name: str) -> None:
    raise ValueError(f"{name} is not a JSON number")
