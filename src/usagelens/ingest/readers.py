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

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from usagelens.errors import InvalidInput
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
_ROWS = 500_000  # rows per CSV / Parquet chunk


@dataclass(frozen=True)
class Chunk:
    """Raw records: column ``_line`` (line or row number) plus the source's columns."""

    table: pa.Table
    size: int  # bytes or rows consumed, for progress


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
                    lines = pc.list_flatten(pc.split_pattern(pa.array([data], pa.large_binary()), b"\n"))
                    if data.endswith(b"\n"):
                        lines = lines.slice(0, len(lines) - 1)
                    yield Chunk(_lines_table(name, lines, line_no), len(data))
                    line_no += len(lines)
                if not block:
                    return

    return Source(name, "jsonl", "line", size, {}, chunks())


def _lines_table(name: str, lines: pa.Array, first: int) -> pa.Table:
    try:
        text = lines.cast(pa.large_string())
    except pa.ArrowInvalid:
        valid = pc.utf8_is_valid(lines)  # type: ignore[attr-defined]
        bad = pc.index(valid, False).as_py()
        raise InvalidInput(f"{name}: line {first + bad} is not valid UTF-8") from None
    numbers = pa.array(range(first, first + len(lines)), pa.int64())
    keep = pc.not_equal(pc.utf8_trim_whitespace(text), "")
    return pa.table({"_line": numbers, "line": text}).filter(keep)


def _check_columns(name: str, names: list[str], fields: tuple[Field, ...]) -> None:
    known = {f.name for f in fields}
    unknown = [n for n in names if n not in known]
    if unknown:
        raise InvalidInput(
            f"{name}: unknown column '{unknown[0]}' (accepted: {', '.join(f.name for f in fields)})"
        )
    missing = [f.name for f in fields if f.required and f.name not in names]
    if missing:
        raise InvalidInput(f"{name}: missing required column '{missing[0]}'")


def _csv(path: str, fields: tuple[Field, ...]) -> Source:
    try:
        reader = pacsv.open_csv(
            path,
            read_options=pacsv.ReadOptions(block_size=16 << 20),
            convert_options=pacsv.ConvertOptions(
                column_types={f.name: pa.string() for f in fields}, strings_can_be_null=False
            ),
        )
    except (pa.ArrowInvalid, OSError) as e:
        raise InvalidInput(f"{path}: cannot read it as CSV ({_short(e)})") from None
    names = reader.schema.names
    _check_columns(path, names, fields)
    for n in names:
        if reader.schema.field(n).type != pa.string():
            raise InvalidInput(f"{path}: cannot read column '{n}' as text")

    def chunks() -> Iterator[Chunk]:
        row = 2  # line 1 is the header
        try:
            for batch in reader:
                table = pa.Table.from_batches([batch])
                yield Chunk(_numbered(table, row), table.num_rows)
                row += table.num_rows
        except pa.ArrowInvalid as e:
            raise InvalidInput(f"{path}: malformed CSV near line {row} ({_short(e)})") from None

    return Source(path, "csv", "line", Path(path).stat().st_size, dict.fromkeys(names, "text"), chunks())


def _parquet(path: str, fields: tuple[Field, ...]) -> Source:
    try:
        pf = pq.ParquetFile(path)
    except (pa.ArrowInvalid, OSError) as e:
        raise InvalidInput(f"{path}: not a readable Parquet file ({_short(e)})") from None
    schema = pf.schema_arrow
    _check_columns(path, schema.names, fields)
    columns = {n: _duck_type(schema.field(n).type) for n in schema.names}

    def chunks() -> Iterator[Chunk]:
        row = 1
        for batch in pf.iter_batches(batch_size=_ROWS):
            table = pa.Table.from_batches([batch])
            yield Chunk(_numbered(table, row), table.num_rows)
            row += table.num_rows

    return Source(path, "parquet", "row", pf.metadata.num_rows, columns, chunks())


def _numbered(table: pa.Table, first: int) -> pa.Table:
    return table.add_column(0, "_line", pa.array(range(first, first + table.num_rows), pa.int64()))


def _duck_type(t: pa.DataType) -> str:
    """The DuckDB name of an Arrow type, as DuckDB will see the column."""
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        return "VARCHAR"
    if pa.types.is_timestamp(t):
        return "TIMESTAMP WITH TIME ZONE" if t.tz else "TIMESTAMP"
    if pa.types.is_decimal(t):
        return f"DECIMAL({t.precision},{t.scale})"
    if pa.types.is_list(t) or pa.types.is_large_list(t):
        inner = _duck_type(t.value_type)
        return f"{inner}[]"
    names = {
        pa.bool_(): "BOOLEAN",
        pa.int8(): "TINYINT",
        pa.int16(): "SMALLINT",
        pa.int32(): "INTEGER",
        pa.int64(): "BIGINT",
        pa.uint8(): "UTINYINT",
        pa.uint16(): "USMALLINT",
        pa.uint32(): "UINTEGER",
        pa.uint64(): "UBIGINT",
        pa.float32(): "FLOAT",
        pa.float64(): "DOUBLE",
        pa.date32(): "DATE",
    }
    return names.get(t, str(t).upper())


def _short(e: Exception) -> str:
    return str(e).strip().splitlines()[0][:120]
