"""An independent, plain-Python computation of fact rows over input events (not the code under test)."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo


def local_day_start(t: datetime, tz: str) -> datetime:
    """The first instant (naive UTC) of the local calendar day containing ``t``."""
    zone = ZoneInfo(tz)
    d = t.replace(tzinfo=UTC).astimezone(zone).date()
    return datetime(d.year, d.month, d.day, tzinfo=zone).astimezone(UTC).replace(tzinfo=None)


def local_midnight(day: date, tz: str) -> datetime:
    """The first instant (naive UTC) of the local calendar ``day`` in ``tz``."""
    zone = ZoneInfo(tz)
    return datetime(day.year, day.month, day.day, tzinfo=zone).astimezone(UTC).replace(tzinfo=None)


#: Minutes per bucket of the ``per`` values finer than a day.
BUCKET_MINUTES = {"hour": 60, "30m": 30, "15m": 15, "5m": 5, "1m": 1}


def bucket_start(t: datetime, per: str, tz: str = "UTC") -> datetime:
    """The first instant (naive UTC) of the ``per`` bucket holding ``t``: a local day in ``tz``,
    else a UTC hour or part of one, counted from the hour."""
    if per == "day":
        return local_day_start(t, tz)
    minutes = BUCKET_MINUTES[per]
    return t.replace(minute=t.minute - t.minute % minutes, second=0, microsecond=0)


def facts(
    events: list[dict[str, Any]],
    team: str,
    start: datetime,
    end: datetime,
    by: tuple[str, ...],
    tz: str = "UTC",
    projects: tuple[str, ...] | None = None,
    users: tuple[str, ...] | None = None,
    models: tuple[str, ...] | None = None,
    per: str = "day",
) -> dict[tuple, dict[str, Any]]:
    """Group key -> measures, exactly as CONTRACT/ledger define them.

    The ``day`` dimension is the bucket ``per`` names: the local calendar day in ``tz``
    (``"day"``), else the UTC hour or part of an hour holding the event (``"hour"``, ``"30m"``,
    ``"15m"``, ``"5m"``, ``"1m"``), as its first instant (naive UTC)."""
    out: dict[tuple, dict[str, Any]] = defaultdict(
        lambda: {
            m: (Decimal(0) if m.endswith(("cu", "discount")) else 0)
            for m in (
                "events",
                "jobs",
                "assets",
                "cu",
                "discount",
                "api_events",
                "api_jobs",
                "api_assets",
                "api_cu",
                "api_discount",
            )
        }
    )
    for e in events:
        if e["team_id"] != team or not (start <= e["time"] < end):
            continue
        if projects is not None and e["project_id"] not in projects:
            continue
        if users is not None and e["user_id"] not in users:
            continue
        if models is not None and e["model_id"] not in models:
            continue
        labels = (e["nsfw"] or []) if "label" in by else [None]
        for label in labels:
            key = []
            for d in by:
                if d == "day":
                    key.append(bucket_start(e["time"], per, tz))
                elif d == "label":
                    key.append(label)
                else:
                    key.append(e[d])
            row = out[tuple(key)]
            jobs = int(e["job_id"] is not None and e["action"] != "refunds")
            vals = {
                "events": 1,
                "jobs": jobs,
                "assets": int(e["asset_kind"] is not None),
                "cu": e["cu"] or Decimal(0),
                "discount": e["discount"] or Decimal(0),
            }
            for m, v in vals.items():
                row[m] += v
                if e["is_api_key"]:
                    row["api_" + m] += v
    return dict(out)
