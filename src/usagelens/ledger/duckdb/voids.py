"""Corrections on the DuckDB backend (CONTRACT §1): voiding stored events by id.

A void moves the event from ``events`` to ``voids`` (with who, when and why) and appends rollup
rows that subtract exactly what the event added, at every grain, in the writer's transaction.
So every read (raw slices, activity, exports, rollups) leaves it out with no filter of its own,
and its id stays taken: the duplicate check reads ``voids`` too.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import cast

import duckdb
import numpy as np
import pyarrow as pa

from usagelens.ledger.duckdb import sql as q
from usagelens.ledger.void_rules import sort_ids
from usagelens.model import VOID_SCHEMA

__all__ = ["Void", "VoidPlan", "apply_void", "plan_void", "put_voids", "read_voids"]

_VOID_COLUMNS = ", ".join(VOID_SCHEMA.names)


@dataclass(frozen=True)
class Void:
    """What a void records beside the event, and the events that replace it."""

    reason: str
    by: str
    at: datetime
    replacements: pa.Table | None = None


@dataclass
class VoidPlan:
    """Which of the requested ids are voided now and which were voided before; ``kept``: which
    replacement rows were new (written)."""

    voided: list[str]
    already: list[str]
    kept: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=bool))


def plan_void(cur: duckdb.DuckDBPyConnection, team: str, ids: list[str]) -> VoidPlan:
    """Sort ``ids`` (distinct, in order) into stored and already voided; ``NotFound`` naming the
    first ids the team never stored (another team's ids are unknown ids: nothing leaks)."""
    wanted = list(dict.fromkeys(ids))
    stored = {r[0] for r in cur.execute(_IN.format(table="events"), {"t": team, "ids": wanted}).fetchall()}
    voided = {r[0] for r in cur.execute(_IN.format(table="voids"), {"t": team, "ids": wanted}).fetchall()}
    return VoidPlan(*sort_ids(team, wanted, stored, voided))


_IN = "SELECT id FROM {table} WHERE team_id = $t AND id IN (SELECT unnest($ids::VARCHAR[]))"


def apply_void(cur: duckdb.DuckDBPyConnection, team: str, ids: list[str], record: Void) -> int:
    """Inside the caller's transaction: record, subtract and remove the events ``ids`` of
    ``team`` (all stored); returns the rollup rows appended."""
    if not ids:
        return 0
    cols = ", ".join(q.EVENT_COLUMNS)
    params = {"t": team, "ids": ids}
    cur.execute(
        f"CREATE OR REPLACE TEMP TABLE _voided AS SELECT {cols} FROM events WHERE team_id = $t "
        "AND id IN (SELECT unnest($ids::VARCHAR[]))",
        params,
    )
    try:
        cur.execute(
            f"INSERT INTO voids ({_VOID_COLUMNS}) SELECT {cols}, $at, $by, $reason FROM _voided",
            {"at": record.at, "by": record.by, "reason": record.reason},
        )
        (labels,) = cur.execute("SELECT count(*) FILTER (WHERE nsfw IS NOT NULL) > 0 FROM _voided").fetchall()[0]
        (added,) = cur.execute(q.rollup_append_sql("_voided", with_labels=labels, sign="-")).fetchall()[0]
        cur.execute("DELETE FROM events WHERE team_id = $t AND id IN (SELECT unnest($ids::VARCHAR[]))", params)
    finally:
        cur.execute("DROP TABLE IF EXISTS _voided")
    return int(added)


def read_voids(cur: duckdb.DuckDBPyConnection, team: str | None) -> pa.Table:
    """The void records of ``team`` (None: all), oldest void first; see ``StoreContents.voids``."""
    where = "" if team is None else "WHERE team_id = $t"
    params = {} if team is None else {"t": team}
    got = cur.execute(f"SELECT {_VOID_COLUMNS} FROM voids {where} ORDER BY voided_at, team_id, id", params)
    return cast(pa.Table, got.to_arrow_table()).cast(VOID_SCHEMA)


def put_voids(cur: duckdb.DuckDBPyConnection, rows: pa.Table) -> int:
    """Insert void records not held yet (one statement); returns those inserted."""
    if rows.num_rows == 0:
        return 0
    cur.register("_put", rows.select(VOID_SCHEMA.names).cast(VOID_SCHEMA))
    try:
        (n,) = cur.execute(
            f"INSERT INTO voids ({_VOID_COLUMNS}) SELECT {_VOID_COLUMNS} FROM _put ON CONFLICT DO NOTHING"
        ).fetchall()[0]
    finally:
        cur.unregister("_put")
    return int(n)
