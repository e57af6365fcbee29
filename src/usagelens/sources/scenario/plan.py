"""How a window becomes ``GET /v1/usages`` requests, and how their points become days.

Scenario answers at most 120 days per request and picks the series granularity from the
window's length (the finest of ``1m`` … ``7d`` giving at most 150 points, ``ledger.series``; in
its own API and in ours). So:

- sums over a window come from consecutive requests of at most 120 days, added up exactly;
- daily buckets in UTC (or any zone whose days start at 00:00 UTC) come from the same requests;
- daily buckets in a zone whose days start on a whole UTC hour (Europe/Paris, America/New_York,
  …) and hourly buckets come from requests of at most 48 hours, answered in hours or finer;
- daily buckets in other zones (Asia/Kolkata, Asia/Kathmandu, …) come from one request per
  local day, cut exactly at local midnights;
- buckets finer than an hour (``30m`` … ``1m``) come from requests short enough to be answered at
  that granularity (149 points of it: 37 hours 15 minutes for ``15m``, 149 minutes for ``1m``).

Every point is checked to lie within one bucket (``label``) before it is counted: an upstream
answering at a coarser granularity raises ``Unavailable`` instead of a wrong day.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from zoneinfo import ZoneInfo

from usagelens.errors import Unavailable
from usagelens.ledger.series import GRANULARITIES, MAX_POINTS, MAX_WINDOW, SUB_HOUR, floor
from usagelens.ledger.series import granularity as series_granularity

__all__ = [
    "HOURLY_SPAN",
    "MAX_SPAN",
    "Chunk",
    "bucket_label",
    "day_chunks",
    "granularity_step",
    "local_midnights",
    "parse_instant",
    "point_label",
    "split",
]

#: Scenario's longest window for one request with startDate/endDate.
MAX_SPAN = MAX_WINDOW
#: Requests for hourly buckets are at most this long: answered in points of an hour or less
#: under Scenario's earlier rule (1h up to 48 hours) and under CONTRACT §3's (30m here).
HOURLY_SPAN = timedelta(hours=48)
_TICK = timedelta(microseconds=1)

Chunk = tuple[datetime, datetime]


def split(start: datetime, end: datetime, span: timedelta = MAX_SPAN) -> list[Chunk]:
    """``[start, end)`` as consecutive pieces of at most ``span``, oldest first."""
    out = []
    t = start
    while t < end:
        out.append((t, min(t + span, end)))
        t = out[-1][1]
    return out


def _local_midnight(t: datetime, zone: ZoneInfo) -> datetime:
    d = t.replace(tzinfo=UTC).astimezone(zone).date()
    return datetime(d.year, d.month, d.day, tzinfo=zone).astimezone(UTC).replace(tzinfo=None)


def local_midnights(start: datetime, end: datetime, zone: ZoneInfo) -> list[datetime]:
    """Starts of the local days of ``zone`` strictly inside ``(start, end)`` (naive UTC)."""
    out: list[datetime] = []
    day = _local_midnight(start, zone)
    while True:
        day = _local_midnight(day + timedelta(hours=26), zone)  # the next local day, DST or not
        if day >= end:
            return out
        if day > start:
            out.append(day)


def day_chunks(start: datetime, end: datetime, timezone: str, per: str = "day") -> list[Chunk]:
    """Requests whose points can be assigned to buckets exactly (see the module docstring)."""
    if per in SUB_HOUR:
        return split(start, end, (MAX_POINTS - 1) * GRANULARITIES[per])
    if per == "hour":
        return split(start, end, HOURLY_SPAN)
    mids = local_midnights(start, end, ZoneInfo(timezone))
    if all(m.hour == m.minute == m.second == m.microsecond == 0 for m in mids):
        return split(start, end, MAX_SPAN)
    if all(m.minute == m.second == m.microsecond == 0 for m in mids):
        return split(start, end, HOURLY_SPAN)
    cuts = [start, *mids, end]
    return list(pairwise(cuts))


def bucket_label(timezone: str, per: str = "day") -> Callable[[datetime], datetime]:
    """The bucket of an instant: its local day's first instant, its UTC hour or part of one."""
    if per in SUB_HOUR:
        return lambda t: floor(t, per)
    if per == "hour":
        return lambda t: t.replace(minute=0, second=0, microsecond=0)
    zone = ZoneInfo(timezone)
    return lambda t: _local_midnight(t, zone)


def granularity_step(granularity: object, chunk: Chunk) -> timedelta:
    """The length of a point: Scenario's ``granularity`` when given, else its documented rule."""
    if isinstance(granularity, str) and granularity in GRANULARITIES:
        return GRANULARITIES[granularity]
    return GRANULARITIES[series_granularity(*chunk)]


def point_label(t: datetime, step: timedelta, chunk: Chunk, label: Callable[[datetime], datetime]) -> datetime:
    """The bucket of the point starting at ``t`` (clipped to ``chunk``); it must not straddle two."""
    lo, hi = max(t, chunk[0]), min(t + step, chunk[1])
    first = label(lo)
    if hi > lo and label(hi - _TICK) != first:
        raise Unavailable(
            f"Scenario answered with points of {step} from {lo.isoformat()}Z, which straddle two buckets; "
            "days in this timezone, hours or parts of hours cannot be cut exactly from them (ask for UTC days, "
            "or a window Scenario answers more finely)"
        )
    return first


def parse_instant(text: object) -> datetime:
    """An ISO 8601 instant (``Z`` or an offset; naive means UTC) as a naive UTC datetime."""
    if not isinstance(text, str):
        raise ValueError(f"{text!r} is not a date-time")
    t = datetime.fromisoformat(text)
    return t.astimezone(UTC).replace(tzinfo=None) if t.tzinfo else t
