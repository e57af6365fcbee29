"""Which rollup answers a fact query, and how its window is tiled into rollup buckets.

Rollups are narrow: each is keyed by (grain, bucket, team, project, API-key flag) plus the one
or two dimensions a figure needs, and kept at three UTC grains: week, day and hour. A window is
tiled with the coarsest grain that fits: a 120-day window in any whole-hour zone costs ~17 week
buckets, at most 12 day buckets and 46 hour buckets at its edges. What no bucket fits exactly (the half hour
at each end of an India-time day, a window starting at 10:07) is read from the raw events,
which are clustered by time, so only those minutes are scanned. Answers are always exact.

Measured at 10M demo events, a quarter-hour grain keyed by model held 9.3M rows (as many as
the raw table), so the finest rollup grain is the hour.

This module is pure: backends turn the ``Piece`` list into their own SQL.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from usagelens.ledger.series import SUB_HOUR, floor

__all__ = [
    "GRAIN_CODES",
    "ROLLUPS",
    "Piece",
    "Rollup",
    "buckets",
    "choose_rollup",
    "day_starts",
    "tile",
]

#: Grain name -> (code stored in the rollup tables, bucket length).
GRAIN_CODES: dict[str, int] = {"day": 0, "hour": 1, "week": 2}
_STEP: dict[str, timedelta] = {
    "week": timedelta(days=7),  # aligned on 1970-01-01, like every grain
    "day": timedelta(days=1),
    "hour": timedelta(hours=1),
}
_EPOCH = datetime(1970, 1, 1)


@dataclass(frozen=True)
class Rollup:
    """A narrow rollup: its name and code (rows of one kind share a table), its extra key
    columns (stored as ``d1``, ``d2``) and the grains it is kept at."""

    name: str
    code: int
    dims: tuple[str, ...]
    grains: tuple[str, ...] = ("week", "day", "hour")


#: In order of preference (smallest first) for queries they can answer.
ROLLUPS: tuple[Rollup, ...] = (
    Rollup("action", 0, ("action", "asset_kind")),
    Rollup("model", 1, ("model_id",)),
    Rollup("nsfw", 3, ("label",)),
    Rollup("user", 2, ("user_id",)),
)
_ALWAYS = {"project_id", "day"}


def choose_rollup(dims: set[str]) -> Rollup | None:
    """The first rollup holding every dimension in ``dims``, or None (use raw events).

    ``label`` needs the ``nsfw`` rollup even for plain totals: its counts are per label.
    """
    needed = dims - _ALWAYS
    for rollup in ROLLUPS:
        if needed <= set(rollup.dims) and ("label" in rollup.dims) == ("label" in needed):
            return rollup
    return None


@dataclass(frozen=True)
class Piece:
    """A slice ``[start, end)`` read at ``grain`` (None = raw events), labelled with its day."""

    grain: str | None
    start: datetime
    end: datetime
    label: datetime | None = None


def _floor(t: datetime, grain: str) -> datetime:
    step = _STEP[grain]
    return t - (t - _EPOCH) % step


def _ceil(t: datetime, grain: str) -> datetime:
    f = _floor(t, grain)
    return f if f == t else f + _STEP[grain]


def _tile_segment(a: datetime, b: datetime, grains: tuple[str, ...], label: datetime | None) -> list[Piece]:
    if a >= b:
        return []
    if not grains:
        return [Piece(None, a, b, label)]
    g, finer = grains[0], grains[1:]
    lo, hi = _ceil(a, g), _floor(b, g)
    if lo >= hi:
        return _tile_segment(a, b, finer, label)
    return [*_tile_segment(a, lo, finer, label), Piece(g, lo, hi, label), *_tile_segment(hi, b, finer, label)]


def day_starts(start: datetime, end: datetime, tz: str) -> list[datetime]:
    """Naive-UTC instants of local midnights (day starts in ``tz``) within ``(start, end)``.

    A day whose midnight does not exist (DST jump at 00:00) starts at the jump.
    """
    zone = ZoneInfo(tz)
    first = start.replace(tzinfo=UTC).astimezone(zone).date()
    out: list[datetime] = []
    d: date = first + timedelta(days=1)
    while True:
        t = datetime(d.year, d.month, d.day, tzinfo=zone).astimezone(UTC).replace(tzinfo=None)
        if t >= end:
            return out
        if t > start:
            out.append(t)
        d += timedelta(days=1)


def tile(
    start: datetime, end: datetime, grains: tuple[str, ...], day_tz: str | None = None, per: str = "day"
) -> list[Piece]:
    """Cover ``[start, end)`` with pieces at the coarsest available grains.

    With ``day_tz``, the window is first cut at each local midnight (``per="hour"``: at each
    hour) and every piece carries its bucket's first instant (for the first, partial bucket
    the bucket's real start) as ``label``. Buckets finer than an hour (``per`` in ``SUB_HOUR``)
    fit no rollup: the window is one raw piece, bucketed by the backend.
    """
    if day_tz is None:
        return _tile_segment(start, end, grains, None)
    if per in SUB_HOUR:
        return [Piece(None, start, end, floor(start, per))] if start < end else []
    if per == "hour":  # hours start on the UTC hour in every whole-hour zone, and we say so
        cuts = [start, *_hour_starts(start, end), end]
        first_label = _floor(start, "hour")
    else:
        cuts = [start, *day_starts(start, end, day_tz), end]
        first_label = _day_start(start, day_tz)
    pieces: list[Piece] = []
    for i, (a, b) in enumerate(itertools.pairwise(cuts)):
        pieces += _tile_segment(a, b, grains, first_label if i == 0 else a)
    return pieces


def _hour_starts(start: datetime, end: datetime) -> list[datetime]:
    out, t = [], _ceil(start, "hour")
    t = t if t > start else t + _STEP["hour"]
    while t < end:
        out.append(t)
        t += _STEP["hour"]
    return out


def _day_start(t: datetime, tz: str) -> datetime:
    zone = ZoneInfo(tz)
    local = t.replace(tzinfo=UTC).astimezone(zone).date()
    start = datetime(local.year, local.month, local.day, tzinfo=zone)
    return start.astimezone(UTC).replace(tzinfo=None)


def buckets(pieces: list[Piece]) -> list[tuple[int, datetime, datetime | None]]:
    """Every rollup bucket the pieces cover, as ``(grain code, bucket start, label)``.

    Backends join rollups to this list on equality, which is cheaper than range joins.
    """
    out: list[tuple[int, datetime, datetime | None]] = []
    for p in pieces:
        if p.grain is None:
            continue
        t, step, code = p.start, _STEP[p.grain], GRAIN_CODES[p.grain]
        while t < p.end:
            out.append((code, t, p.label))
            t += step
    return out
