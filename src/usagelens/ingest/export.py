"""Write event batches to JSONL, CSV or Parquet files with the contract's field names.

The inverse of the readers: what ``write_events_file`` writes, ``usagelens ingest`` reads back
unchanged (times as ISO 8601 UTC with ``Z``, CU as exact decimals).
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import duckdb
import pyarrow as pa

from usagelens.errors import InvalidArgument
from usagelens.ingest.readers import FORMATS
from usagelens.model import EVENT_FIELDS, EVENT_SCHEMA, FieldType

__all__ = ["write_events_file"]


def _select(fmt: str) -> str:
    cols = []
    for f in EVENT_FIELDS:
        c = f.column
        if f.type is FieldType.TIME and fmt != "parquet":
            cols.append(f"strftime({c}, '%Y-%m-%dT%H:%M:%S.%fZ') AS \"{f.name}\"")
        elif f.type is FieldType.TIME:
            cols.append(f'{c}::TIMESTAMPTZ AS "{f.name}"')
        elif f.type is FieldType.LABELS and fmt == "csv":
            cols.append(f"array_to_string({c}, ';') AS \"{f.name}\"")
        else:
            cols.append(f'{c} AS "{f.name}"')
    return ", ".join(cols)


def write_events_file(batches: Iterable[pa.Table], path: str) -> int:
    """Write ``batches`` (``EVENT_SCHEMA``) to ``path``; the format follows the extension."""
    fmt = FORMATS.get(Path(path).suffix.lower())
    if fmt is None:
        raise InvalidArgument(f"--out: unsupported file type '{Path(path).suffix}' (accepted: .jsonl, .csv, .parquet)")
    tables = list(batches)
    events = pa.concat_tables(tables) if tables else EVENT_SCHEMA.empty_table()
    options = {
        "jsonl": "FORMAT json",
        "csv": "FORMAT csv, HEADER true",
        "parquet": "FORMAT parquet, COMPRESSION zstd",
    }[fmt]
    con = duckdb.connect()
    try:
        con.execute("SET TimeZone = 'UTC'")
        con.register("_e", events)
        con.execute(f"COPY (SELECT {_select(fmt)} FROM _e) TO '{path}' ({options})")
    finally:
        con.close()
    return events.num_rows
