"""A ClickHouse store's whole contents, in the shapes writes take (``StoreContents``)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from usagelens.ledger.base import EXPORT_BATCH
from usagelens.ledger.entity_rules import entity_key
from usagelens.model import ENTITY_FIELDS, ENTITY_SCHEMAS, EVENT_SCHEMA

__all__ = ["entity_rows_sql", "entity_table", "events_sql", "stored_events"]


def events_sql(
    db: str, team: str | None, start: datetime | None, end: datetime | None, after: tuple[str, datetime, str] | None
) -> tuple[str, dict[str, Any]]:
    """One page of stored events (``EVENT_SCHEMA`` columns plus ``nsfw_null``): the first
    ``EXPORT_BATCH`` after the key ``after`` (team, time, id), in key order. Pages are separate
    queries, so no read stays open while the caller writes elsewhere (chDB would wait on it)."""
    where, params = ["1"], {}
    for cond, name, value in (
        ("team_id = {team:String}", "team", team),
        ("time >= {start:DateTime64(6, 'UTC')}", "start", start),
        ("time < {end:DateTime64(6, 'UTC')}", "end", end),
    ):
        if value is not None:
            where.append(cond)
            params[name] = value
    if after is not None:
        where.append("(team_id, time, id) > ({a_team:String}, {a_time:DateTime64(6, 'UTC')}, {a_id:String})")
        params |= {"a_team": after[0], "a_time": after[1], "a_id": after[2]}
    cols = ", ".join(EVENT_SCHEMA.names)
    sql = (
        f"SELECT {cols}, nsfw_null FROM `{db}`.events WHERE {' AND '.join(where)} ORDER BY team_id, time, id "
        f"LIMIT {EXPORT_BATCH}"
    )
    return sql, params


def stored_events(table: pa.Table) -> pa.Table:
    """Rows as read (``nsfw`` an empty list where the event had none) back to ``EVENT_SCHEMA``."""
    labels = table["nsfw"].cast(pa.list_(pa.string()))
    nsfw = pc.if_else(table["nsfw_null"], pa.nulls(table.num_rows, labels.type), labels)
    table = table.set_column(table.schema.get_field_index("nsfw"), "nsfw", nsfw).drop_columns(["nsfw_null"])
    return table.cast(EVENT_SCHEMA)


def entity_rows_sql(db: str, kind: str) -> str:
    """The statement reading every row of ``kind`` with its owner, newest version per key."""
    cols = ", ".join(f.column for f in ENTITY_FIELDS[kind])
    return f"SELECT owner, {cols} FROM `{db}`.{kind} FINAL ORDER BY {', '.join(('owner', *entity_key(kind)))}"


def entity_table(kind: str, table: pa.Table) -> pa.Table:
    """``table`` as ``StoreContents.entity_rows`` gives it (owner first, the entity's schema)."""
    schema = pa.schema([pa.field("owner", pa.string(), nullable=False), *ENTITY_SCHEMAS[kind]])
    if table.num_rows == 0:
        return schema.empty_table()
    return table.select(schema.names).cast(schema)
