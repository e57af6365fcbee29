"""A team's rollup rows held in memory: fact queries over whole UTC hours without a statement.

Why: a DuckDB statement costs ~2 ms here however few rows it reads (binding 0.3 ms, optimising
0.4 ms, scheduling and result conversion; ``docs/benchmarks.md`` has the profile), so the five
facts of one answer cost ~10 ms in statements alone. The common question — a whole team over
whole UTC hours, no filter — reads one rollup's team-level day rows, plus hour rows of the two
edge days. They are loaded once per (team, rollup[, day]) and compaction generation (the main
tables change only when rows are compacted into them), sorted by time: a fact is then a few
slices and one ``bincount`` per measure (~0.1 ms for a month of 421 models). Rows not compacted
yet are read once per store version for the team (one statement) and added the same way.

Callers can rely on: ``facts`` returns exactly the table the SQL path returns (same rows, types
and order, before voided-out groups are dropped) or None when it cannot answer — a key memory
has never seen, sums float64 could round (every measure is an integer, CU in millionths; the
absolute sums of the rows involved must stay below 2**52), a sum past BIGINT millionths.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from datetime import datetime, timedelta

import numpy as np
import pyarrow as pa

from usagelens.ledger.base import BASE_MEASURES
from usagelens.ledger.duckdb.hotrows import ALL_HOURS, SCALED, Rows, Unfit, rows_of
from usagelens.ledger.rollups import Rollup

__all__ = ["HOT_ROWS", "HotFacts"]

#: Rows kept in memory over every entry (~70 bytes each): least recently used entries go first.
HOT_ROWS = 3_000_000
_EXACT = float(2**52)
_CU = pa.decimal128(38, 6)
_DAY = timedelta(days=1)
_EPOCH = datetime(1970, 1, 1)
_MICRO = timedelta(microseconds=1)
Recent = dict[tuple[str, int], Rows]
_Part = tuple[np.ndarray, Rows, slice]


class HotFacts:
    """Entries per (team, rollup) and per (team, rollup, UTC day) for hours, ``HOT_ROWS`` rows in
    all at most (least recently used out). ``load(team, rollup, day)`` reads one entry's table
    (raising ``Unfit`` for rows memory does not hold)."""

    def __init__(self, load: Callable[[str, Rollup, datetime | None], pa.Table]) -> None:
        self._load = load
        #: (team, rollup name, day or None) -> (generation, entry; None: memory cannot add it)
        self._entries: OrderedDict[tuple[str, str, datetime | None], tuple[int, Rows | None]] = OrderedDict()
        self._loading: dict[tuple[str, str, datetime | None], threading.Lock] = {}
        self._lock = threading.Lock()

    def facts(
        self,
        team: str,
        rollup: Rollup,
        by: tuple[str, ...],
        window: tuple[datetime, datetime],
        generation: int,
        recent: Recent | None = None,
    ) -> pa.Table | None:
        """Rows per ``by`` and API-key split over ``window`` (whole UTC hours), from the main
        tables at ``generation`` plus ``recent`` (the team's rows not compacted), or None."""
        start, end = window
        days = self._entry(team, rollup, None, generation)
        if days is None:
            return None
        codes, keys = days.grouping(by)
        first, last = _ceil_day(start), _floor_day(end)
        parts: list[_Part] = []
        edges = [(_floor_day(start), start, min(first, end))]
        if first <= last:
            parts.append((codes, days, _slice(days, first, last)))
            edges.append((last, last, end))
            if recent is not None and not _add(parts, days, recent[(rollup.name, 0)], by, first, last):
                return None
        every = None
        for day, a, b in edges:
            if a >= b:
                continue
            every = every or self._entry(team, rollup, ALL_HOURS, generation)
            hours = every or self._entry(team, rollup, day, generation)
            if hours is None or not _add(parts, days, hours, by, a, b):
                return None
            if recent is not None and not _add(parts, days, recent[(rollup.name, 1)], by, a, b):
                return None
        if sum(p[1].size for p in parts) >= _EXACT:
            return None  # float64 could round a sum: the statement answers
        return _table(by, keys, parts)

    def _entry(self, team: str, rollup: Rollup, day: datetime | None, generation: int) -> Rows | None:
        key = (team, rollup.name, day)
        with self._lock:
            held = self._entries.get(key)
            if held is not None and held[0] == generation:
                self._entries.move_to_end(key)
                return held[1]
            loading = self._loading.setdefault(key, threading.Lock())
        with loading:  # one load per entry: concurrent askers wait for it instead of repeating it
            with self._lock:
                held = self._entries.get(key)
                if held is not None and held[0] == generation:
                    return held[1]
            try:
                entry: Rows | None = rows_of(self._load(team, rollup, day), rollup.dims)
            except Unfit:
                entry = None
            with self._lock:
                self._entries[key] = (generation, entry)
                self._entries.move_to_end(key)
                self._loading.pop(key, None)
                total = sum(e.rows for _, e in self._entries.values() if e is not None)
                while total > HOT_ROWS and len(self._entries) > 1:
                    _, (_, old) = self._entries.popitem(last=False)
                    total -= old.rows if old is not None else 0
        return entry


def _slice(rows: Rows, a: datetime, b: datetime) -> slice:
    lo, hi = np.searchsorted(rows.times, [_micros(a), _micros(b)])
    return slice(int(lo), int(hi))


def _add(parts: list[_Part], days: Rows, other: Rows, by: tuple[str, ...], a: datetime, b: datetime) -> bool:
    """Add ``other``'s rows in ``[a, b)`` under ``days``' groups; False when a key is unknown."""
    rows = _slice(other, a, b)
    if rows.start == rows.stop:
        return True
    mapped = days.codes_of(other, by)
    if mapped is None:
        return False
    parts.append((mapped, other, rows))
    return True


def _table(by: tuple[str, ...], keys: pa.Table, parts: list[_Part]) -> pa.Table:
    """One row per group present in ``parts`` (every group for totals), measures summed."""
    n = keys.num_rows if by else 1  # totals: one row, even over no events
    split = np.concatenate([codes[rows] * 2 + e.api[rows] for codes, e, rows in parts] or [np.zeros(0, np.int64)])
    present = np.bincount(split, minlength=2 * n).reshape(n, 2).sum(axis=1) > 0
    if not by:
        present[:] = True
    cols: dict[str, pa.Array] = {d: keys[d].combine_chunks().filter(present) for d in by}
    api_cols = {}
    for m in BASE_MEASURES:
        weights = np.concatenate([e.values[m][rows] for _, e, rows in parts] or [np.zeros(0)])
        sums = np.bincount(split, weights=weights, minlength=2 * n).reshape(n, 2)
        cols[m] = _column(m, sums.sum(axis=1)[present])
        api_cols[f"api_{m}"] = _column(m, sums[:, 1][present])
    return pa.table(cols | api_cols)


def _floor_day(t: datetime) -> datetime:
    return t.replace(hour=0, minute=0, second=0, microsecond=0)


def _ceil_day(t: datetime) -> datetime:
    f = _floor_day(t)
    return f if f == t else f + _DAY


def _micros(t: datetime) -> int:
    return (t - _EPOCH) // _MICRO


def _column(measure: str, sums: np.ndarray) -> pa.Array:
    ints = sums.astype(np.int64)
    if measure not in SCALED:
        return pa.array(ints)
    # millionths are the unscaled value of decimal128(38, 6): 128-bit little-endian two's
    # complement, the low word the integer and the high word its sign
    words = np.empty((len(ints), 2), dtype=np.int64)
    words[:, 0] = ints
    words[:, 1] = ints >> 63
    return pa.Array.from_buffers(_CU, len(ints), [None, pa.py_buffer(words.tobytes())])
