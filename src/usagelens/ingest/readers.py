"""Readers: a JSONL, CSV or Parquet source as chunks of raw records, with line numbers.

Readers never interpret values; they only split the input into records and say how each
column arrives (``"json"``, ``"text"`` or a typed column). Whole-file problems (unreadable,
empty, wrong type, unknown columns, not UTF-8) raise ``InvalidInput`` with one line. A leading
UTF-8 byte-order mark is ignored; a JSON file (or stdin) holding one JSON array of records is
read as those records, numbered ``record 1, 2, …``.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from usagelens.errors import InvalidInput
from usagelens.ingest.fields import lit
from usagelens.ingest.lines import BOM, array_lines, is_array_document
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
_ROWS = 1 << 20  # Parquet is read in batches of at most this many rows


@dataclass(frozen=True)
class Chunk:
    """Raw records: the SQL text of a relation DuckDB reads from the file itself (with a
    ``_line`` column and the source's columns), or (JSONL) a block of whole lines whose first
    line is number ``first_line``. A Parquet chunk also carries its rows as read by Arrow
    (``arrow``, columns by field name): the relation then holds exactly those rows."""

    table: str | None
    size: int  # bytes or rows consumed, for progress
    jsonl: bytes | None = None
    first_line: int = 1
    arrow: pa.Table | None = None
    breaks: int | None = None  # newlines in ``jsonl``, when the reader counted them


@dataclass(frozen=True)
class Source:
    """An opened input: its format, how its columns arrive, its total size and its chunks."""

    name: str
    format: str
    unit: str  # "line" or "row", for messages
    total: int  # bytes or rows, for progress
    columns: dict[str, str]  # field name -> "json" | "text" | DuckDB type
    chunks: Iterator[Chunk]


def open_source(path: str, fields: tuple[Field, ...], fmt: str | None = None, what: str = "events") -> Source:
    """Open ``path`` (``-`` = JSONL on stdin) and check what can be checked up front.

    ``what`` names the records (``events`` or an entity kind), as in ``{"events": [...]}``."""
    if path == "-":
        return _jsonl("stdin", sys.stdin.buffer, 0, what)
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
        return _jsonl(path, handle, size, what)
    handle.close()
    if fmt == "csv":
        return _csv(path, fields)
    return _parquet(path, fields)


def _jsonl(name: str, handle: BinaryIO, size: int, what: str) -> Source:
    head = handle.read(len(BOM))
    if head != BOM:
        rest = handle
        handle = _Prefixed(head, rest)  # type: ignore[assignment]
    first = handle.read(_BLOCK)
    if is_array_document(first[:4096], what):  # one JSON array of records: the intent is clear
        with handle:
            data = array_lines(first + handle.read(), what, f"{name}: the file")
        if not data:
            raise InvalidInput(f"{name}: the JSON array holds no {what}")
        return Source(name, "jsonl", "record", size, {}, iter([Chunk(None, size or len(data), data, 1)]))

    def chunks() -> Iterator[Chunk]:
        line_no, block = 1, first
        with handle:
            while block:
                if not block.endswith(b"\n"):
                    block += handle.readline()  # the rest of the block's last line
                breaks = block.count(b"\n")
                yield Chunk(None, len(block), block, line_no, breaks=breaks)
                line_no += breaks + (not block.endswith(b"\n"))
                block = handle.read(_BLOCK)

    return Source(name, "jsonl", "line", size, {}, chunks())


class _Prefixed:
    """A binary handle with a few bytes already read put back in front."""

    def __init__(self, head: bytes, handle: BinaryIO) -> None:
        self._head, self._handle = head, handle

    def read(self, n: int = -1) -> bytes:
        head, self._head = self._head, b""
        if n < 0:
            return head + self._handle.read()
        if n <= len(head):
            self._head = head[n:]
            return head[:n]
        return head + self._handle.read(n - len(head))

    def readline(self) -> bytes:
        head, self._head = self._head, b""
        cut = head.find(b"\n") + 1
        if cut:
            self._head = head[cut:]
            return head[:cut]
        return head + self._handle.readline()

    def __enter__(self) -> _Prefixed:
        return self

    def __exit__(self, *exc: object) -> None:
        self._handle.close()


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
    names = _header(path)
    _check_columns(path, names, fields)
    columns = "{" + ", ".join(f"{lit(c)}: 'VARCHAR'" for c in names) + "}"
    reader = (
        f"read_csv({lit(path)}, header = true, all_varchar = true, delim = ',', quote = '\"', "
        f"escape = '\"', auto_detect = false, columns = {columns})"
    )
    _describe(path, f"SELECT * FROM {reader}")
    relation = f"(SELECT row_number() OVER () + 1 AS _line, * FROM {reader})"
    size = Path(path).stat().st_size
    return Source(path, "csv", "line", size, dict.fromkeys(names, "text"), iter([Chunk(relation, size)]))


def _header(path: str) -> list[str]:
    """The column names of line 1 (a byte-order mark before it is ignored)."""
    with open(path, "rb") as f:
        first = f.readline(1 << 16)
    try:
        header = first.decode("utf-8-sig").rstrip("\r\n")
    except UnicodeDecodeError:
        raise InvalidInput(f"{path}: line 1 (the header) is not valid UTF-8; save the file as UTF-8") from None
    names = [c.strip().strip('"') for c in header.split(",")]
    if "" in names or len(set(names)) < len(names):
        raise InvalidInput(
            f"{path}: line 1 must name each column once, comma-separated (got {header[:60]!r}); "
            "the first line of a CSV file is its header"
        )
    return names


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
    return Source(path, "parquet", "row", rows, columns, _parquet_chunks(path, reader, rows))


def _parquet_chunks(path: str, reader: str, rows: int) -> Iterator[Chunk]:
    """Batches of rows read by Arrow, each with the relation DuckDB reads them through (the
    exact, slower path validation falls back to). Rows Arrow cannot read come as one relation."""

    def rows_of(start: int, end: int | None) -> str:
        until = "" if end is None else f" AND file_row_number < {end}"
        return (
            f"(SELECT file_row_number + 1 AS _line, * EXCLUDE (file_row_number) FROM {reader} "
            f"WHERE file_row_number >= {start}{until})"
        )

    done = 0
    try:
        for batch in pq.ParquetFile(path).iter_batches(batch_size=_ROWS):
            end = done + batch.num_rows
            yield Chunk(rows_of(done, end), batch.num_rows, arrow=pa.Table.from_batches([batch]))
            done = end
    except (pa.ArrowException, OSError):
        if done < rows:
            yield Chunk(rows_of(done, None), rows - done)


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
