"""``StoreStats`` of a DuckDB store, read with one cursor."""

from __future__ import annotations

import duckdb

from usagelens.ledger.base import StoreStats
from usagelens.ledger.duckdb.sql import main_table
from usagelens.ledger.rollups import ROLLUPS
from usagelens.model import ENTITY_KINDS

__all__ = ["read_stats"]


def read_stats(cur: duckdb.DuckDBPyConnection, backend: str, location: str) -> StoreStats:
    """Counts of events, distinct ids, entities and rollup rows."""
    row = cur.execute(
        "SELECT count(*), min(time), max(time), count(DISTINCT team_id), "
        "count(DISTINCT (team_id, project_id)), count(DISTINCT user_id), "
        "count(DISTINCT model_id), count(DISTINCT action), count(*) FILTER (WHERE is_api_key), "
        "coalesce(sum(cu), 0) FROM events"
    ).fetchall()[0]
    entities = {k: cur.execute(f"SELECT count(*) FROM {k}").fetchall()[0][0] for k in ENTITY_KINDS}
    counts = dict(cur.execute("SELECT kind, count(*) FROM rollups_recent GROUP BY kind").fetchall())
    rollups = {
        r.name: counts.get(r.code, 0)
        + sum(cur.execute(f"SELECT count(*) FROM {main_table(r, g)}").fetchall()[0][0] for g in r.grains)
        for r in ROLLUPS
    }
    return StoreStats(
        backend=backend,
        location=location,
        events=row[0],
        first_event=row[1],
        last_event=row[2],
        teams=row[3],
        projects=row[4],
        users=row[5],
        models=row[6],
        actions=row[7],
        api_key_events=row[8],
        total_cu=row[9],
        entities=entities,
        rollup_rows=rollups,
    )
