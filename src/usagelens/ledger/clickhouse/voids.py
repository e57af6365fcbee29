"""Corrections on the ClickHouse backend (CONTRACT §1): voiding stored events by id.

ClickHouse has no multi-statement transaction, so a void is three steps that a retry of the same
void completes exactly once:

1. the events are copied to ``voids`` (a ``ReplacingMergeTree``: a repeated copy is one row);
2. rollup rows subtracting them are inserted through the same SELECTs as the materialized views
   (``schema.rollup_select``), under an ``insert_deduplication_token`` derived from the ids, so a
   retry after a lost answer is dropped;
3. the events are deleted (a lightweight ``DELETE``: reads skip them at once).

An id still in ``events`` is not voided yet, whatever ``voids`` holds; between steps 2 and 3 an
answer may see the events both in raw slices and subtracted in rollups (the README says so).
Their ids stay in ``event_ids``, so they stay taken.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from usagelens.ledger.clickhouse.contents import stored_events
from usagelens.ledger.clickhouse.schema import rollup_select
from usagelens.ledger.rollups import ROLLUPS
from usagelens.ledger.void_rules import sort_ids
from usagelens.model import EVENT_SCHEMA, VOID_SCHEMA

__all__ = ["VOID_COLUMNS", "plan", "stored_voids", "token", "void_sql", "void_table", "voids_sql"]

Query = Callable[[str, dict[str, Any]], list[tuple[Any, ...]]]
_STORED = [*EVENT_SCHEMA.names, "nsfw_null"]
VOID_COLUMNS = [*_STORED, "voided_at", "voided_by", "reason"]
_MATCH = "team_id = {t:String} AND id IN {ids:Array(String)}"


def plan(query: Query, db: str, team: str, ids: list[str]) -> tuple[list[str], list[str]]:
    """``(to void, voided before)`` among ``ids`` (distinct, in order); ``NotFound`` naming the
    ids the team never stored (another team's ids are unknown ids: nothing leaks)."""
    wanted = list(dict.fromkeys(ids))
    params = {"t": team, "ids": wanted}
    stored = {r[0] for r in query(f"SELECT id FROM `{db}`.events WHERE {_MATCH}", params)}
    voided = {r[0] for r in query(f"SELECT id FROM `{db}`.voids FINAL WHERE {_MATCH}", params)}
    return sort_ids(team, wanted, stored, voided)


def void_sql(db: str) -> list[tuple[str, bool]]:
    """The statements of one void, in order, each with whether it carries the deduplication
    token; parameters ``t``, ``ids``, ``at``, ``by``, ``reason``."""
    events = f"`{db}`.events"
    chosen = f"(SELECT * FROM {events} WHERE {_MATCH})"
    copy = (
        f"INSERT INTO `{db}`.voids ({', '.join(VOID_COLUMNS)}) SELECT {', '.join(_STORED)}, "
        "{at:DateTime64(6, 'UTC')}, {by:String}, {reason:String} " + f"FROM {events} WHERE {_MATCH}"
    )
    subtract = [(f"INSERT INTO `{db}`.rollups {rollup_select(r, chosen, sign='-')}", True) for r in ROLLUPS]
    return [(copy, False), *subtract, (f"DELETE FROM {events} WHERE {_MATCH}", False)]


def token(team: str, ids: list[str], rollup: int) -> str:
    """The deduplication token of one rollup's subtraction for these ids."""
    h = hashlib.sha256(f"void\x00{team}\x00{rollup}".encode())
    for i in sorted(ids):
        h.update(i.encode() + b"\x01")
    return "usagelens-void-" + h.hexdigest()


def voids_sql(db: str, team: str | None) -> tuple[str, dict[str, Any]]:
    """The statement reading the void records of ``team`` (None: all), oldest void first."""
    where, params = ("WHERE team_id = {t:String}", {"t": team}) if team is not None else ("", {})
    sql = f"SELECT {', '.join(VOID_COLUMNS)} FROM `{db}`.voids FINAL {where} ORDER BY voided_at, team_id, id"
    return sql, params


def void_table(rows: pa.Table) -> pa.Table:
    """Rows of ``voids`` as read back to ``VOID_SCHEMA``."""
    if rows.num_rows == 0:
        return VOID_SCHEMA.empty_table()
    events = stored_events(rows.select(_STORED))
    extra = rows.select(["voided_at", "voided_by", "reason"])
    return pa.table([*events.columns, *extra.columns], names=VOID_SCHEMA.names).cast(VOID_SCHEMA)


def stored_voids(rows: pa.Table) -> pa.Table:
    """``VOID_SCHEMA`` rows in the shape of the ``voids`` table (``nsfw`` never null)."""
    nsfw = rows["nsfw"]
    out = rows.set_column(rows.schema.get_field_index("nsfw"), "nsfw", pc.fill_null(nsfw, pa.scalar([], nsfw.type)))
    return out.append_column("nsfw_null", pc.is_null(nsfw)).select(VOID_COLUMNS)
