"""Readers: a JSONL, CSV or Parquet source as Arrow chunks of raw values, with line numbers.

Readers never interpret values; they only split the input into records and say how each
column arrives (``"json"``, ``"text"`` or a typed column). Whole-file problems (unreadable,
empty, wrong type, unknown columns) raise ``InvalidInput`` with one line.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from usagelens.errors import InvalidInput
from usagelens.ingest.fields import lit
from usagelens.model import Field

__all__ = ["FORMATS", "Chunk", "Source", "open_source"]

FORMATS = {
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "jsonl",
    ".csv": "csv",
    ".parquet": "parquet",
    ".pq": "parquet",
}
_BLOCK = 64 << 20  # JSONL is read in blocks of whole lines


@dataclass(frozen=True)
class Chunk:
    """Raw records with a ``_line`` column (line or row number) and the source's columns:
    the SQL text of a relation DuckDB reads from the file itself, or (JSONL) an object whose
    ``table()`` splits the block into numbered lines."""

    table: _LazyLines | str
    size: int  # bytes or rows consumed, for progress
    jsonl: bytes | None = None  # JSONL: the block's bytes, for a fast typed parse
    first_line: int = 1
    lines: int = 0  # JSONL: physical lines in the block


@dataclass(frozen=True)
class Source:
    """An opened input: its format, how its columns arrive, its total size and its chunks."""

    name: str
    format: str
    unit: str  # "line" or "row", for messages
    total: int  # bytes or rows, for progress
    columns: dict[str, str]  # field name -> "json" | "text" | DuckDB type
    chunks: Iterator[Chunk]


def open_source(path: str, fields: tuple[Field, ...], fmt: str | None = None) -> Source:
    """Open ``path`` (``-`` = JSONL on stdin) and check what can be checked up front."""
    if path == "-":
        return _jsonl("stdin", sys.stdin.buffer, 0)
    p = Path(path)
    fmt = fmt or FORMATS.get(p.suffix.lower())
    if fmt is None:
        raise InvalidInput(
            f"{path}: unsupported file type '{p.suffix or '(none)'}' "
            f"(accepted: {', '.join(sorted(FORMATS))}, or - for JSONL on stdin)"
        )
    try:
        size = p.stat().st_size
        handle = p.open("rb")
    except OSError as e:
        raise InvalidInput(f"cannot read {path}: {e.strerror or e}") from None
    if size == 0:
        handle.close()
        raise InvalidInput(f"{path}: the file is empty")
    if fmt == "jsonl":
        return _jsonl(path, handle, size)
    handle.close()
    if fmt == "csv":
        return _csv(path, fields)
    return _parquet(path, fields)


def _jsonl(name: str, handle: BinaryIO, size: int) -> Source:
    def chunks() -> Iterator[Chunk]:
        line_no, rest = 1, b""
        with handle:
            while True:
                block = handle.read(_BLOCK)
                data = rest + block
                if not block:
                    rest = b""
                else:
                    cut = data.rfind(b"\n") + 1
                    data, rest = data[:cut], data[cut:]
                if data:
                    count = data.count(b"\n") + (not data.endswith(b"\n"))
                    yield Chunk(_LazyLines(name, data, line_no), len(data), data, line_no, count)
                    line_no += count
                if not block:
                    return

    return Source(name, "jsonl", "line", size, {}, chunks())


class _LazyLines:
    """The lines of a JSONL block as a table, split only if the slow path needs them."""

    def __init__(self, name: str, data: bytes, first: int) -> None:
        self.name, self.data, self.first = name, data, first

    def table(self) -> pa.Table:
        lines = pc.list_flatten(pc.split_pattern(pa.array([self.data], pa.large_binary()), b"\n"))
        if self.data.endswith(b"\n"):
            lines = lines.slice(0, len(lines) - 1)
        return _lines_table(self.name, lines, self.first)


def _lines_table(name: str, lines: pa.Array, first: int) -> pa.Table:
    try:
        text = lines.cast(pa.large_string())
    except pa.ArrowInvalid:
        valid = pc.utf8_is_valid(lines)  # type: ignore[attr-defined]
        bad = pc.index(valid, False).as_py()
        raise InvalidInput(f"{name}: line {first + bad} is not valid UTF-8") from None
    numbers = pa.array(np.arange(first, first + len(lines), dtype=np.int64))
    keep = pc.not_equal(pc.utf8_trim_whitespace(text), "")
    return pa.table({"_line": numbers, "line": text}).filter(keep)


def _check_columns(name: str, names: list[str], fields: tuple[Field, ...]) -> None:
    known = {f.name for f in fields}
    unknown = [n for n in names if n not in known]
    if unknown:
        raise InvalidInput(f"{name}: unknown column '{unknown[0]}' (accepted: {', '.join(f.name for f in fields)})")
    missing = [f.name for f in fields if f.required and f.name not in names]
    if missing:
        raise InvalidInput(f"{name}: missing required column '{missing[0]}'")


def _csv(path: str, fields: tuple[Field, ...]) -> Source:
    # DuckDB reads the file (in parallel) inside the validation query; line 1 is the header
    reader = (
        f"read_csv({lit(path)}, header = true, all_varchar = true, delim = ',', quote = '\"', "
        "escape = '\"', auto_detect = false"
    )
    reader += f", columns = {_header_columns(path)})"
    names = _describe(path, f"SELECT * FROM {reader}")
    _check_columns(path, names, fields)
    relation = f"(SELECT row_number() OVER () + 1 AS _line, * FROM {reader})"
    return Source(
        path,
        "csv",
        "line",
        Path(path).stat().st_size,
        dict.fromkeys(names, "text"),
        iter([Chunk(relation, Path(path).stat().st_size)]),
    )


def _header_columns(path: str) -> str:
    with open(path, encoding="utf-8", errors="replace") as f:
        header = f.readline().rstrip("\r\n")
    cols = [c.strip().strip('"') for c in header.split(",")]
    return "{" + ", ".join(f"{lit(c)}: 'VARCHAR'" for c in cols) + "}"


def _parquet(path: str, fields: tuple[Field, ...]) -> Source:
    reader = f"read_parquet({lit(path)}, file_row_number = true)"
    con = duckdb.connect()
    try:
        described = con.execute(f"DESCRIBE SELECT * FROM {reader}").fetchall()
        (rows,) = con.execute(f"SELECT count(*) FROM {reader}").fetchall()[0]
    except duckdb.Error as e:
        raise InvalidInput(f"{path}: not a readable Parquet file ({_short(e)})") from None
    finally:
        con.close()
    columns = {name: typ for name, typ, *_ in described if name != "file_row_number"}
    _check_columns(path, list(columns), fields)
    relation = f"(SELECT file_row_number + 1 AS _line, * EXCLUDE (file_row_number) FROM {reader})"
    return Source(path, "parquet", "row", rows, columns, iter([Chunk(relation, rows)]))


def _describe(path: str, sql: str) -> list[str]:
    con = duckdb.connect()
    try:
        return [r[0] for r in con.execute(f"DESCRIBE {sql}").fetchall()]
    except duckdb.Error as e:
        raise InvalidInput(f"{path}: cannot read it as CSV ({_short(e)})") from None
    finally:
        con.close()


def _short(e: Exception) -> str:
    return str(e).strip().splitlines()[0][:120]
