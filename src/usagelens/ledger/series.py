"""Time buckets of a series, as Scenario's ``GET /v1/usages`` draws them (CONTRACT §3).

A series over ``[start, end)`` gets the finest of Scenario's granularities (``GRANULARITIES``)
that gives at most ``MAX_POINTS`` buckets. Buckets are aligned in UTC: minutes and hours on the
hour, days at midnight, weeks on Monday 00:00 (ISO weeks); the first bucket is the one holding
``start``, so a window that does not start on a boundary gets a first bucket that begins before
it. ``MAX_WINDOW`` is Scenario's longest window for one request with ``startDate``/``endDate``.

This module is pure: the report draws series with it, the DuckDB ledger names its sub-hour
buckets after it and the live Scenario source plans its requests with it.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta

__all__ = ["GRANULARITIES", "MAX_POINTS", "MAX_WINDOW", "SUB_HOUR", "buckets", "floor", "granularity", "points"]

#: Scenario's granularities, finest first, with their lengths.
GRANULARITIES: dict[str, timedelta] = {
    "1m": timedelta(minutes=1),
    "5m": timedelta(minutes=5),
    "15m": timedelta(minutes=15),
    "30m": timedelta(minutes=30),
    "1h": timedelta(hours=1),
    "1d": timedelta(days=1),
    "7d": timedelta(days=7),
}
#: The granularities finer than an hour (``FactQuery.per`` takes them by these names).
SUB_HOUR: tuple[str, ...] = ("1m", "5m", "15m", "30m")
#: The most points a series gets (the coarsest granularity may exceed it on very long windows).
MAX_POINTS = 150
#: Scenario's longest window with a custom ``startDate``/``endDate``.
MAX_WINDOW = timedelta(days=120)
_EPOCH = datetime(1970, 1, 1)
_MONDAY = datetime(1970, 1, 5)  # the first Monday after the epoch: weeks are ISO weeks


def floor(t: datetime, granularity: str) -> datetime:
    """The start of the bucket of ``granularity`` holding ``t`` (naive UTC)."""
    step = GRANULARITIES[granularity]
    origin = _MONDAY if granularity == "7d" else _EPOCH
    return t - (t - origin) % step


def points(start: datetime, end: datetime, granularity: str) -> int:
    """How many buckets of ``granularity`` hold a part of ``[start, end)``."""
    if end <= start:
        return 0
    return math.ceil((end - floor(start, granularity)) / GRANULARITIES[granularity])


def granularity(start: datetime, end: datetime) -> str:
    """The finest granularity giving at most ``MAX_POINTS`` buckets over ``[start, end)``
    (``7d`` when none does)."""
    return next((g for g in GRANULARITIES if points(start, end, g) <= MAX_POINTS), "7d")


def buckets(start: datetime, end: datetime, granularity: str) -> list[datetime]:
    """The starts of the buckets of ``granularity`` holding a part of ``[start, end)``, oldest first."""
    step = GRANULARITIES[granularity]
    t, out = floor(start, granularity), []
    while t < end:
        out.append(t)
        t += step
    return out
