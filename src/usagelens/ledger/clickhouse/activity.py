"""Raw-event reads of the ClickHouse ledger: activity pages and each team's first event and users.

``team_activity`` reads the user rollup's week rows (distinct users and the first week holding an
event, per team and project), then only the events of those first weeks for the exact first
instant: two small reads instead of a scan of every event, as on DuckDB.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

from usagelens.ledger.base import Activity, ActivityQuery
from usagelens.ledger.clickhouse.facts import ts
from usagelens.ledger.rollups import GRAIN_CODES, ROLLUPS
from usagelens.ledger.team_activity import assemble, first_ranges

__all__ = ["ACTIVITY_COLUMNS", "activity_sql", "team_activity"]

ACTIVITY_COLUMNS = (
    "time, id, user_id, project_id, action, cu, discount, model_id, job_id, asset_id, collection_id, asset_kind, "
    "nsfw, is_api_key, nsfw_null"
)
Rows = Callable[[str, dict[str, Any]], list[dict[str, Any]]]
_USER = next(r for r in ROLLUPS if r.dims == ("user_id",))
_WEEK = timedelta(days=7)


def activity_sql(db: str, q: ActivityQuery) -> tuple[str, dict[str, Any]]:
    """One page of events of ``q``, newest first (ties by id, descending), and its parameters."""
    params: dict[str, Any] = {"team": q.team_id, "start": q.start, "end": q.end}
    where = ["team_id = {team:String}", "time >= {start:DateTime64(6, 'UTC')}", "time < {end:DateTime64(6, 'UTC')}"]
    for name, values in (("project_id", q.project_ids), ("user_id", q.user_ids)):
        if values is not None:
            params[name] = list(values)
            where.append(f"{name} IN {{{name}:Array(String)}}" if values else "0")
    sql = (
        f"SELECT {ACTIVITY_COLUMNS} FROM `{db}`.events WHERE {' AND '.join(where)} "
        f"ORDER BY time DESC, id DESC LIMIT {int(q.limit)} OFFSET {int(q.offset)}"
    )
    return sql, params


def team_activity(db: str, rows: Rows) -> dict[str, Activity]:
    """See ``UsageReader.team_activity``."""
    counted = rows(
        "SELECT team_id, project_id, uniqExact(d1) AS users, min(bucket) AS first "
        f"FROM `{db}`.rollups WHERE kind = {_USER.code} AND grain = {GRAIN_CODES['week']} "
        "GROUP BY GROUPING SETS ((team_id), (team_id, project_id)) SETTINGS group_by_use_nulls = 1",
        {},
    )
    if not counted:
        return {}
    ranges = first_ranges((r["first"] for r in counted), _WEEK)
    where = " OR ".join(f"(time >= {ts(a)} AND time < {ts(b)})" for a, b in ranges)
    firsts = {
        (r["team_id"], r["project_id"]): r["first"]
        for r in rows(
            f"SELECT team_id, project_id, min(time) AS first FROM `{db}`.events WHERE {where} "
            "GROUP BY GROUPING SETS ((team_id), (team_id, project_id)) SETTINGS group_by_use_nulls = 1",
            {},
        )
    }
    return assemble(counted, firsts)
