"""A DuckDB store's whole contents, in the shapes writes take (``StoreContents``)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime

import duckdb
import pyarrow as pa

from usagelens.ledger.base import EXPORT_BATCH
from usagelens.ledger.duckdb import sql as q
from usagelens.ledger.entity_rules import entity_key
from usagelens.model import ENTITY_FIELDS, ENTITY_SCHEMAS, EVENT_SCHEMA

__all__ = ["entity_rows", "events"]


def events(
    con: duckdb.DuckDBPyConnection, team: str | None, start: datetime | None, end: datetime | None
) -> Iterator[pa.Table]:
    """See ``StoreContents.events``; reads on a cursor of its own, closed when the iteration ends."""
    where, params = ["true"], []
    for cond, value in (("team_id = ?", team), ("time >= ?", start), ("time < ?", end)):
        if value is not None:
            where.append(cond)
            params.append(value)
    cur = con.cursor()
    try:
        reader = cur.execute(
            f"SELECT {', '.join(q.EVENT_COLUMNS)} FROM events WHERE {' AND '.join(where)} ORDER BY team_id, time, id",
            params,
        ).to_arrow_reader(EXPORT_BATCH)
        assert reader is not None  # a SELECT always has a result
        for batch in reader:
            yield pa.Table.from_batches([batch]).cast(EVENT_SCHEMA)
    finally:
        cur.close()


def entity_rows(con: duckdb.DuckDBPyConnection, kind: str) -> pa.Table:
    """See ``StoreContents.entity_rows``."""
    cols = [f.column for f in ENTITY_FIELDS[kind]]
    key = ", ".join(("owner", *entity_key(kind)))
    cur = con.cursor()
    try:
        got = cur.execute(f"SELECT owner, {', '.join(cols)} FROM {kind} ORDER BY {key}").to_arrow_table()
        assert got is not None  # a SELECT always has a result
    finally:
        cur.close()
    schema = pa.schema([pa.field("owner", pa.string(), nullable=False), *ENTITY_SCHEMAS[kind]])
    return got.cast(schema)
