"""``team_activity``'s backend-neutral half: which events to read for first instants, and the answer.

Backends count each team's and project's identities and first bucket from their user rollup,
then read the events of those first buckets only (``first_ranges``) for the exact first instant;
``assemble`` turns both into ``UsageReader.team_activity``'s shape.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from usagelens.ledger.base import Activity

__all__ = ["assemble", "first_ranges"]


def first_ranges(firsts: Iterable[datetime], length: timedelta) -> list[tuple[datetime, datetime]]:
    """``[first, first + length)`` for each first bucket, overlapping ranges merged, in order."""
    out: list[tuple[datetime, datetime]] = []
    for t in sorted(set(firsts)):
        if out and t <= out[-1][1]:
            out[-1] = (out[-1][0], t + length)
        else:
            out.append((t, t + length))
    return out


def assemble(counted: list[dict[str, Any]], firsts: dict[tuple[str, str | None], datetime]) -> dict[str, Activity]:
    """Rows ``team_id, project_id (None for the team), users`` and first instants by
    ``(team_id, project_id)`` → per team, its activity and its projects'."""
    out: dict[str, Activity] = {}
    for r in sorted(counted, key=lambda r: (r["team_id"], r["project_id"] is not None, r["project_id"] or "")):
        first = firsts.get((r["team_id"], r["project_id"]))
        if r["project_id"] is None:
            out[r["team_id"]] = Activity(users_count=r["users"], created_at=first, projects={})
        else:
            out[r["team_id"]].setdefault("projects", {})[r["project_id"]] = Activity(
                users_count=r["users"], created_at=first
            )
    return out
