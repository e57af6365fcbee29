"""Encode event and entity batches as JSONL, CSV or Parquet with the contract's field names.

The inverse of the readers: what these functions write, ``usagelens ingest`` (``--entity KIND``
for entities) reads back to the same rows. Callers can rely on:

- field names are the API's (``model.EVENT_FIELDS`` / ``ENTITY_FIELDS``), in their declared order;
- times are UTC ISO 8601 with six fractional digits and ``Z`` (``2026-04-01T12:00:00.000000Z``);
  a Parquet ``time`` is a UTC-adjusted ``TIMESTAMP(us)``;
- CU are exact decimals, never floats: JSON numbers and CSV cells carry the stored digits without
  trailing zeros (``123456789012.123456``, ``1.5``, ``0``); Parquet columns are ``DECIMAL(18, 6)``;
- JSONL holds one object per line and leaves absent values out; CSV has a header row, absent
  values are empty cells, cells are quoted only when they must be, ``isApiKey`` is
  ``true``/``false`` and ``nsfw`` is ``label;label`` (or ``["…"]`` when a label holds ``;``, a
  bracket, a quote or a backslash, or is empty; ``[]`` for an empty list). An empty text value
  reads back as absent (ingest reads empty values so in every format);
- the bytes depend only on the rows and their order, not on how they arrive in batches (Parquet
  row groups hold ``ROW_GROUP`` rows each): the same rows give the same file.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from usagelens.errors import InvalidArgument
from usagelens.model import EVENT_FIELDS, Field, FieldType

__all__ = [
    "EXPORT_FORMATS",
    "ROW_GROUP",
    "Encoder",
    "export_format",
    "parquet_schema",
    "text_chunks",
    "write_events_file",
    "write_parquet",
]

#: What an export can be written as, and the file extensions that name each.
EXPORT_FORMATS = ("jsonl", "csv", "parquet")
_EXTENSIONS = {
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "jsonl",
    ".csv": "csv",
    ".parquet": "parquet",
    ".pq": "parquet",
}
_TIME = "strftime({c}, '%Y-%m-%dT%H:%M:%S.%fZ')"
#: Exact decimal text without trailing zeros (a DECIMAL(18,6) always prints its 6 digits).
_DECIMAL = "rtrim(rtrim({c}::VARCHAR, '0'), '.')"
_LABEL_LIST = (
    "'[' || array_to_string(list_transform({c}, lambda x: '\"' || replace(replace(x, '\\', '\\\\'), '\"', '\\\"') "
    "|| '\"'), ',') || ']'"
)
#: Labels written ``a;b``: at least one, none empty, none holding ``;``, a bracket, a quote or a backslash.
_PLAIN_LABELS = (
    "len({c}) > 0 AND list_bool_and(list_transform({c}, lambda x: regexp_matches(x, '^[^;\\[\\]\"\\\\]+$')))"
)
#: What makes a CSV text cell need quotes (``_CSV_MACRO``'s rule, for a whole column at once).
_NEEDS_QUOTES = '[",\\r\\n]|^ | $|^$'
#: A CSV cell: empty when absent; quoted when it holds a comma, a quote, a line break, an edge space or nothing.
_CSV_MACRO = (
    "CREATE MACRO csv_cell(v) AS CASE WHEN v IS NULL THEN '' WHEN v = '' OR contains(v, ',') OR contains(v, '\"') "
    "OR contains(v, chr(10)) OR contains(v, chr(13)) OR starts_with(v, ' ') OR ends_with(v, ' ') "
    "THEN '\"' || replace(v, '\"', '\"\"') || '\"' ELSE v END"
)


def export_format(fmt: str | None, path: str | None, option: str = "--format") -> str:
    """The format asked for (``fmt``), else the one ``path``'s extension names; ``InvalidArgument``
    naming ``option`` (or ``--out``) and the accepted values otherwise."""
    if fmt is not None:
        if fmt not in EXPORT_FORMATS:
            raise InvalidArgument(
                f"{option}: '{fmt}' is not an export format (accepted: {', '.join(EXPORT_FORMATS)})", field=option
            )
        return fmt
    suffix = Path(path or "").suffix.lower()
    found = _EXTENSIONS.get(suffix)
    if found is None:
        raise InvalidArgument(
            f"--out: cannot tell the format from '{suffix or path or '(none)'}' (accepted: "
            f"{', '.join(sorted(_EXTENSIONS))}); name the file so, or pass {option} {'|'.join(EXPORT_FORMATS)}",
            field="--out",
        )
    return found


def _json_member(f: Field) -> str:
    """SQL of ``"name":value`` for one field (NULL when the value is absent)."""
    c, key = f.column, f"'\"{f.name}\":'"
    value = {
        FieldType.TIME: "'\"' || " + _TIME.format(c=c) + " || '\"'",
        FieldType.DECIMAL: _DECIMAL.format(c=c),
        FieldType.NONNEG_DECIMAL: _DECIMAL.format(c=c),
        FieldType.BOOL: f"CASE WHEN {c} THEN 'true' WHEN NOT {c} THEN 'false' END",
    }.get(f.type, f"to_json({c})")
    return f"{key} || {value}"


def _csv_cell(f: Field, plain: bool = False) -> str:
    """SQL of one CSV cell ('' when the value is absent), quoted when it must be (``plain``: a
    text column known to need no quotes in this batch)."""
    c = f.column
    if plain:
        return f"coalesce({c}, '')"
    if f.type is FieldType.TIME:
        return f"coalesce({_TIME.format(c=c)}, '')"
    if f.type in (FieldType.DECIMAL, FieldType.NONNEG_DECIMAL):
        return f"coalesce({_DECIMAL.format(c=c)}, '')"
    if f.type is FieldType.BOOL:
        return f"CASE WHEN {c} THEN 'true' WHEN NOT {c} THEN 'false' ELSE '' END"
    v = c
    if f.type is FieldType.LABELS:
        simple = _PLAIN_LABELS.format(c=c)
        v = f"CASE WHEN {simple} THEN array_to_string({c}, ';') ELSE {_LABEL_LIST.format(c=c)} END"
    return f"csv_cell({v})"


def _joined(lines: pa.Array) -> bytes:
    """The text of every line of ``lines`` (no nulls), one after the other: for Arrow's offset
    string layouts, the data buffer between the first and the last offset (one copy)."""
    width = {pa.string(): 4, pa.large_string(): 8}.get(lines.type)
    if width is None or lines.null_count:
        return "".join(lines.to_pylist()).encode()
    offsets, data = lines.buffers()[1], lines.buffers()[2]
    first = int.from_bytes(offsets[lines.offset * width : (lines.offset + 1) * width], "little", signed=True)
    end = (lines.offset + len(lines)) * width
    last = int.from_bytes(offsets[end : end + width], "little", signed=True)
    return data[first:last].to_pybytes() if data is not None else b""


class Encoder:
    """Turns batches (ledger columns of ``fields``) into the bytes of one text format, batch by
    batch: ``header()`` once, then ``encode(batch)`` for each (never ``parquet``: see
    ``write_parquet``). Holds an in-memory DuckDB connection until ``close()``."""

    def __init__(self, fields: tuple[Field, ...], fmt: str) -> None:
        if fmt not in ("jsonl", "csv"):
            raise ValueError(f"Encoder: {fmt!r} is not a text format")
        self.fields, self.format = fields, fmt
        self._texts = [f.column for f in fields if f.type in (FieldType.STRING, FieldType.ASSET_KIND)]
        self._sqls: dict[frozenset[str], str] = {}
        self._con = duckdb.connect()
        self._con.execute("SET TimeZone = 'UTC'")
        self._con.execute(_CSV_MACRO)

    def header(self) -> bytes:
        """The CSV header row (nothing for JSONL)."""
        return (",".join(f.name for f in self.fields) + "\n").encode() if self.format == "csv" else b""

    def _sql(self, batch: pa.Table) -> str:
        """The statement for ``batch``: CSV text columns none of whose values need quotes in this
        batch (the usual case for ids) are written as they are, which is twice as fast."""
        plain: frozenset[str] = frozenset()
        if self.format == "csv":
            plain = frozenset(
                c for c in self._texts if not pc.any(pc.match_substring_regex(batch[c], _NEEDS_QUOTES)).as_py()
            )
        if plain not in self._sqls:
            if self.format == "jsonl":
                line = "'{' || concat_ws(',', " + ", ".join(_json_member(f) for f in self.fields) + ") || '}'"
            else:
                line = " || ',' || ".join(_csv_cell(f, f.column in plain) for f in self.fields)
            self._sqls[plain] = f"SELECT {line} || chr(10) AS line FROM _batch"
        return self._sqls[plain]

    def encode(self, batch: pa.Table) -> bytes:
        """The lines of ``batch``'s rows, in order."""
        if batch.num_rows == 0:
            return b""
        batch = batch.select([f.column for f in self.fields])
        self._con.register("_batch", batch)
        try:
            lines = self._con.sql(self._sql(batch)).to_arrow_table().column("line")
        finally:
            self._con.unregister("_batch")
        return b"".join(_joined(chunk) for chunk in lines.chunks)

    def close(self) -> None:
        self._con.close()


def text_chunks(tables: Iterable[pa.Table], fields: tuple[Field, ...], fmt: str) -> Iterator[bytes]:
    """The file's bytes in chunks, one per non-empty batch (the CSV header comes with the first);
    a file without rows is one chunk (the CSV header) or none (JSONL)."""
    encoder = Encoder(fields, fmt)
    try:
        head = encoder.header()
        for batch in tables:
            chunk = encoder.encode(batch)
            if chunk:
                yield head + chunk
                head = b""
        if head:
            yield head
    finally:
        encoder.close()


def parquet_schema(fields: tuple[Field, ...], schema: pa.Schema) -> pa.Schema:
    """The Parquet file's schema: ``schema`` (ledger columns) renamed to the API's names, times
    UTC-adjusted."""
    out = []
    for f in fields:
        typ = schema.field(f.column).type
        out.append(pa.field(f.name, pa.timestamp("us", tz="UTC") if f.type is FieldType.TIME else typ))
    return pa.schema(out)


#: Rows per Parquet row group: fixed, so that the file does not depend on how a store batches rows.
ROW_GROUP = 100_000


def write_parquet(tables: Iterable[pa.Table], fields: tuple[Field, ...], schema: pa.Schema, sink: IO[bytes]) -> None:
    """Write ``tables`` (``schema``) to ``sink`` as one Parquet file (zstd) in row groups of
    ``ROW_GROUP`` rows (the last one shorter); memory holds at most two row groups. An export
    without rows is a valid file without rows."""
    target = parquet_schema(fields, schema)
    pending: list[pa.Table] = []
    held = 0
    with pq.ParquetWriter(sink, target, compression="zstd") as writer:
        for batch in tables:
            columns = [batch.column(f.column) for f in fields]
            pending.append(pa.Table.from_arrays(columns, names=target.names).cast(target))
            held += batch.num_rows
            if held >= ROW_GROUP:
                rows = pa.concat_tables(pending)
                whole = held - held % ROW_GROUP
                writer.write_table(rows.slice(0, whole), row_group_size=ROW_GROUP)
                pending, held = [rows.slice(whole)], held - whole
        if held:
            writer.write_table(pa.concat_tables(pending), row_group_size=ROW_GROUP)


def write_events_file(batches: Iterable[pa.Table], path: str) -> int:
    """Write ``batches`` (``EVENT_SCHEMA``) to ``path``; the format follows the extension. Returns
    the number of events written."""
    from usagelens.model import EVENT_SCHEMA

    fmt = export_format(None, path)
    rows = 0

    def counted() -> Iterator[pa.Table]:
        nonlocal rows
        for b in batches:
            rows += b.num_rows
            yield b

    with open(path, "wb") as out:
        if fmt == "parquet":
            write_parquet(counted(), EVENT_FIELDS, EVENT_SCHEMA, out)
        else:
            for chunk in text_chunks(counted(), EVENT_FIELDS, fmt):
                out.write(chunk)
    return rows
