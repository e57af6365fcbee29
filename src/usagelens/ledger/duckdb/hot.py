"""A team's rollup rows held in memory: fact queries over whole UTC hours without a statement.

Why: a DuckDB statement costs ~2 ms here however few rows it reads (binding 0.3 ms, optimising
0.4 ms, scheduling and result conversion; ``docs/benchmarks.md`` has the profile), so the five
facts of one answer cost ~10 ms in statements alone. The common question — a whole team over
whole UTC hours, no filter — reads one rollup's team-level day rows, plus hour rows of the two
edge days. They are loaded once per (team, rollup[, day]) and compaction generation (the main
tables change only when rows are compacted into them), sorted by time: a fact is then the
whole days' running sums (``Rows.running``: one subtraction per group) plus one ``bincount``
per measure of the edge hours' rows. Rows not compacted
yet are read once per store version for the team (one statement) and added the same way; a
key they have that the main tables lack (a new user) becomes a group of its own.

Callers can rely on: ``facts`` returns exactly the table the SQL path returns (same rows, types
and order, before voided-out groups are dropped) or None when it cannot answer — an entry memory
does not hold, sums float64 could round (every measure is an integer, CU in millionths; the
absolute sums of the rows involved must stay below 2**52), a sum past BIGINT millionths.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from datetime import datetime, timedelta

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from usagelens.ledger.base import BASE_MEASURES
from usagelens.ledger.duckdb.hotrows import ALL_HOURS, SCALED, Rows, Unfit, group_keys, rows_of
from usagelens.ledger.rollups import Rollup

__all__ = ["HOT_ROWS", "HotFacts"]

#: Rows kept in memory over every entry (~70 bytes each): least recently used entries go first.
HOT_ROWS = 3_000_000
_EXACT = float(2**52)
_CU = pa.decimal128(38, 6)
_INT = pa.int64()
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
        base, size = None, 0.0  # the whole days' sums (``Rows.running``), what they add up
        edges = [(_floor_day(start), start, min(first, end))]
        if first <= last:
            running = days.running(by)
            if running is None:
                parts.append((codes, days, _slice(days, first, last)))
            else:
                starts, sums = running
                i, j = np.searchsorted(starts, [_micros(first), _micros(last)])
                base, size = sums[j] - sums[i], days.size
            edges.append((last, last, end))
            if recent is not None:
                _add(parts, days, recent[(rollup.name, 0)], by, first, last)
        every = None
        for day, a, b in edges:
            if a >= b:
                continue
            every = every or self._entry(team, rollup, ALL_HOURS, generation)
            hours = every or self._entry(team, rollup, day, generation)
            if hours is None:
                return None
            _add(parts, days, hours, by, a, b)
            if recent is not None:
                _add(parts, days, recent[(rollup.name, 1)], by, a, b)
        if size + sum(p[1].size for p in parts) >= _EXACT:
            return None  # float64 could round a sum: the statement answers
        return _table(by, keys, parts, base)

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
                # an entry's running sums, made after it was counted, count from the next load on
                total = sum(e.held for _, e in self._entries.values() if e is not None)
                while total > HOT_ROWS and len(self._entries) > 1:
                    _, (_, old) = self._entries.popitem(last=False)
                    total -= old.held if old is not None else 0
        return entry


def _slice(rows: Rows, a: datetime, b: datetime) -> slice:
    lo, hi = np.searchsorted(rows.times, [_micros(a), _micros(b)])
    return slice(int(lo), int(hi))


def _add(parts: list[_Part], days: Rows, other: Rows, by: tuple[str, ...], a: datetime, b: datetime) -> None:
    """Add ``other``'s rows in ``[a, b)`` under ``days``' groups (code -1: a key ``days`` lacks)."""
    rows = _slice(other, a, b)
    if rows.start != rows.stop:
        parts.append((days.codes_of(other, by), other, rows))


def _table(by: tuple[str, ...], keys: pa.Table, parts: list[_Part], base: np.ndarray | None) -> pa.Table:
    """One row per group present in ``parts`` or ``base`` (every group for totals), measures
    summed, in the order of the groups' keys (ascending, nulls last). ``base``: sums already made
    per group × API split (``Rows.running``'s layout) of ``keys``' groups."""
    keys, parts, added = _new_groups(by, keys, parts)
    n = keys.num_rows if by else 1  # totals: one row, even over no events
    sums = np.zeros((2 * n, 1 + len(BASE_MEASURES)))
    if base is not None:
        sums[: len(base)] = base
    if parts:
        split = _joined([codes[rows] * 2 + e.api[rows] for codes, e, rows in parts], np.int64)
        sums[:, 0] += np.bincount(split, minlength=2 * n)
        for k, m in enumerate(BASE_MEASURES, start=1):
            weights = _joined([e.values[m][rows] for _, e, rows in parts], np.float64)
            sums[:, k] += np.bincount(split, weights=weights, minlength=2 * n)
    grouped = sums.reshape(n, 2, 1 + len(BASE_MEASURES))
    present: np.ndarray | None = None  # None: every group
    if by:
        seen = np.asarray((grouped[:, :, 0] > 0).any(axis=1))
        if not seen.all():
            present, grouped = seen, grouped[seen]
    cols: dict[str, pa.Array] = {}
    for d in by:
        column = keys.column(d).chunk(0) if keys.column(d).num_chunks == 1 else keys.column(d).combine_chunks()
        cols[d] = column if present is None else column.filter(present)
    api_cols = {}
    for k, m in enumerate(BASE_MEASURES, start=1):
        cols[m] = _column(m, grouped[:, 0, k] + grouped[:, 1, k])
        api_cols[f"api_{m}"] = _column(m, grouped[:, 1, k])
    table = pa.table(cols | api_cols)
    if not added:
        return table
    order = pc.sort_indices(table, sort_keys=[(d, "ascending", "at_end") for d in by])
    return table.take(order)


def _new_groups(by: tuple[str, ...], keys: pa.Table, parts: list[_Part]) -> tuple[pa.Table, list[_Part], bool]:
    """``keys`` and ``parts`` with a group past the end of ``keys`` for each key that rows of
    ``parts`` have and ``keys`` lacks (code -1: rows written since the main tables were loaded,
    e.g. a new user), and whether there were any."""
    missing = [(i, np.flatnonzero(codes[rows] < 0)) for i, (codes, _, rows) in enumerate(parts)]
    missing = [(i, at) for i, at in missing if len(at)]
    if not missing:
        return keys, parts, False
    new = pa.concat_tables(
        [parts[i][1].keys.select(list(by)).slice(parts[i][2].start).take(pa.array(at)) for i, at in missing]
    )
    codes_new, distinct, _ = group_keys(new, by, new.num_rows)
    out, done = list(parts), 0
    for i, at in missing:
        codes, e, rows = parts[i]
        patched = codes.copy()
        patched[rows.start + at] = keys.num_rows + codes_new[done : done + len(at)]
        done += len(at)
        out[i] = (patched, e, rows)
    return pa.concat_tables([keys, distinct.cast(keys.schema)]), out, True


def _joined(arrays: list[np.ndarray], dtype: type) -> np.ndarray:
    """``arrays`` end to end (the one array itself when there is one: no copy)."""
    if len(arrays) == 1:
        return arrays[0]
    return np.concatenate(arrays) if arrays else np.zeros(0, dtype)


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
        return pa.Array.from_buffers(_INT, len(ints), [None, pa.py_buffer(ints)])
    # millionths are the unscaled value of decimal128(38, 6): 128-bit little-endian two's
    # complement, the low word the integer and the high word its sign
    words = np.empty((len(ints), 2), dtype=np.int64)
    words[:, 0] = ints
    np.right_shift(ints, 63, out=words[:, 1])
    return pa.Array.from_buffers(_CU, len(ints), [None, pa.py_buffer(words)])
