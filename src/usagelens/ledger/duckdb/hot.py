"""A team's day rollup rows held in memory: fact queries over whole UTC days without a statement.

Why: a DuckDB statement costs ~2 ms here however few rows it reads (binding 0.3 ms, optimising
0.4 ms, scheduling and result conversion; ``docs/benchmarks.md`` has the profile), so the five
facts of one answer cost ~10 ms in statements alone. The common question — a whole team over
whole UTC days, no filter — reads one rollup's team-level day rows. They are loaded once per
(team, rollup) and store version, sorted by day: a fact is then a slice and one ``bincount``
per measure (~0.1 ms for a month of 421 models).

Callers can rely on: ``facts`` returns exactly the table the SQL path returns (same rows, types
and order, before the API-key-free groups are dropped) or None when it cannot answer; an entry
answers only at the store version it was loaded at. Sums are exact: every measure is an integer
(CU in millionths) and an entry is only used when the sum of the absolute values of all its
rows stays below 2**52, where float64 adds integers exactly; else None.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import numpy as np
import pyarrow as pa

from usagelens.ledger.base import BASE_MEASURES
from usagelens.ledger.rollups import Rollup

__all__ = ["HOT_ROWS", "HotFacts", "load_sql"]

#: Rows kept in memory over every entry (~70 bytes each): least recently used entries go first.
HOT_ROWS = 3_000_000
_EXACT = float(2**52)
_CU = pa.decimal128(38, 6)
_DAY = timedelta(days=1)
_SCALED = ("cu", "discount")


def load_sql(rollup: Rollup, team: str, quote: Callable[[str], str], day: datetime | None = None) -> str:
    """The statement that loads one entry, oldest first, CU as millionths (a BIGINT cast that
    fails when a sum does not fit: no entry then): ``team``'s day rows of ``rollup``, or with
    ``day`` its hour rows of that UTC day (projects summed)."""
    dims = ", ".join(f"d{i} AS {d}" for i, d in enumerate(rollup.dims, start=1))
    if day is None:
        measures = ", ".join(f"({m} * 1000000)::BIGINT AS {m}" if m in _SCALED else m for m in BASE_MEASURES)
        return (
            f"SELECT epoch_us(bucket) AS bucket, {dims}, is_api_key, {measures} FROM rollup_{rollup.name}_day_team "
            f"WHERE team_id = {quote(team)} ORDER BY bucket"
        )
    measures = ", ".join(
        f"(sum({m}) * 1000000)::BIGINT AS {m}" if m in _SCALED else f"sum({m})::BIGINT AS {m}" for m in BASE_MEASURES
    )
    return (
        f"SELECT epoch_us(bucket) AS bucket, {dims}, is_api_key, {measures} FROM rollup_{rollup.name}_hour "
        f"WHERE team_id = {quote(team)} AND bucket >= TIMESTAMP '{day.isoformat(sep=' ')}' "
        f"AND bucket < TIMESTAMP '{(day + _DAY).isoformat(sep=' ')}' GROUP BY ALL ORDER BY bucket"
    )


@dataclass
class _Entry:
    """Rows of one load, oldest first: a team's day rows of a rollup, or its hour rows of a day."""

    times: np.ndarray  # bucket start, microseconds since the epoch, ascending
    keys: pa.Table  # the rollup's dimensions of every row
    api: np.ndarray  # 0 or 1
    values: dict[str, np.ndarray]  # float64 integers (CU in millionths)
    size: float  # the largest sum of absolute values of one measure: what float64 must hold
    groups: dict[tuple[str, ...], tuple[np.ndarray, pa.Table]] = field(default_factory=dict)
    index: dict[tuple, int] | None = None  # full key -> its number in ``grouping(dims)``
    mapped: dict[tuple[str, ...], np.ndarray | None] = field(default_factory=dict)  # ``codes_of`` of hours

    @property
    def rows(self) -> int:
        return len(self.times)

    def grouping(self, by: tuple[str, ...]) -> tuple[np.ndarray, pa.Table]:
        """Each row's group number under ``by`` and the groups' keys, sorted like ``split_api``
        sorts (ascending, nulls last)."""
        got = self.groups.get(by)
        if got is None:
            if not by:
                got = (np.zeros(self.rows, dtype=np.int64), pa.table({}))
            else:
                index = pa.array(np.arange(self.rows, dtype=np.int64))
                grouped = (
                    self.keys.select(list(by))
                    .append_column("_i", index)
                    .group_by(list(by), use_threads=False)
                    .aggregate([("_i", "list")])
                    .sort_by([(d, "ascending") for d in by])
                )
                lists = grouped["_i_list"].combine_chunks()
                codes = np.empty(self.rows, dtype=np.int64)
                lengths = np.asarray(lists.value_lengths())
                codes[np.asarray(lists.flatten())] = np.repeat(np.arange(len(lengths)), lengths)
                got = (codes, grouped.select(list(by)))
            self.groups[by] = got
        return got

    def codes_of(self, other: _Entry, by: tuple[str, ...]) -> np.ndarray | None:
        """The group numbers under ``by`` (this entry's) of ``other``'s rows, or None when one
        of its keys is not among this entry's (kept in ``other``: both are of one version)."""
        if by not in other.mapped:
            other.mapped[by] = self._codes_of(other, by)
        return other.mapped[by]

    def _codes_of(self, other: _Entry, by: tuple[str, ...]) -> np.ndarray | None:
        dims = tuple(self.keys.column_names)
        full, distinct = self.grouping(dims)
        if self.index is None:
            self.index = {k: i for i, k in enumerate(zip(*distinct.to_pydict().values(), strict=True))}
        index = self.index
        found = [index.get(k, -1) for k in zip(*other.keys.to_pydict().values(), strict=True)]
        at = np.array(found, dtype=np.int64)
        if len(at) and at.min() < 0:
            return None
        codes, _ = self.grouping(by)
        to_by = np.zeros(max(len(distinct), 1), dtype=np.int64)
        to_by[full] = codes
        return to_by[at]


class HotFacts:
    """Entries per (team, rollup) and per (team, rollup, UTC day) for hours, ``HOT_ROWS`` rows in
    all at most (least recently used out)."""

    def __init__(self, load: Callable[[str, Rollup, datetime | None], pa.Table]) -> None:
        self._load = load
        #: (team, rollup name, day or None) -> (store version, entry; None: memory cannot add it)
        self._entries: OrderedDict[tuple[str, str, datetime | None], tuple[int, _Entry | None]] = OrderedDict()
        self._lock = threading.Lock()

    def facts(
        self, team: str, rollup: Rollup, by: tuple[str, ...], start: datetime, end: datetime, version: int
    ) -> pa.Table | None:
        """Rows per ``by`` and API-key split over ``[start, end)`` (whole UTC hours), or None."""
        days = self._entry(team, rollup, None, version)
        if days is None:
            return None
        codes, keys = days.grouping(by)
        first, last = _ceil_day(start), _floor_day(end)
        parts: list[tuple[np.ndarray, _Entry, slice]] = []
        edges = [(_floor_day(start), start, min(first, end))]
        if first <= last:
            lo, hi = np.searchsorted(days.times, [_micros(first), _micros(last)])
            parts.append((codes[lo:hi], days, slice(lo, hi)))
            edges.append((last, last, end))
        size = days.size
        for day, a, b in edges:
            if a >= b:
                continue
            hours = self._entry(team, rollup, day, version)
            mapped = None if hours is None else days.codes_of(hours, by)
            if hours is None or mapped is None:
                return None
            lo, hi = np.searchsorted(hours.times, [_micros(a), _micros(b)])
            parts.append((mapped[lo:hi], hours, slice(lo, hi)))
            size += hours.size
        if size >= _EXACT:
            return None  # float64 could round a sum: the statement answers
        return _table(by, keys, parts)

    def _entry(self, team: str, rollup: Rollup, day: datetime | None, version: int) -> _Entry | None:
        key = (team, rollup.name, day)
        with self._lock:
            held = self._entries.get(key)
            if held is not None and held[0] == version:
                self._entries.move_to_end(key)
                return held[1]
        entry = self._build(team, rollup, day)
        with self._lock:
            self._entries[key] = (version, entry)
            self._entries.move_to_end(key)
            total = sum(e.rows for _, e in self._entries.values() if e is not None)
            while total > HOT_ROWS and len(self._entries) > 1:
                _, (_, old) = self._entries.popitem(last=False)
                total -= old.rows if old is not None else 0
        return entry

    def _build(self, team: str, rollup: Rollup, day: datetime | None) -> _Entry | None:
        try:
            table = self._load(team, rollup, day)
        except OverflowError:
            return None
        values = {m: np.asarray(table[m].to_numpy(zero_copy_only=False), dtype=np.float64) for m in BASE_MEASURES}
        return _Entry(
            times=np.asarray(table["bucket"].to_numpy(zero_copy_only=False), dtype=np.int64),
            keys=table.select(list(rollup.dims)),
            api=np.asarray(table["is_api_key"].to_numpy(zero_copy_only=False), dtype=np.int64),
            values=values,
            size=max((float(np.abs(v).sum()) for v in values.values()), default=0.0),
        )

    def clear(self) -> None:
        """Forget every entry."""
        with self._lock:
            self._entries.clear()


def _table(by: tuple[str, ...], keys: pa.Table, parts: list[tuple[np.ndarray, _Entry, slice]]) -> pa.Table:
    """One row per group present in ``parts`` (every group for totals), measures summed."""
    n = keys.num_rows if by else 1  # totals: one row, even over no events
    split = np.concatenate([codes * 2 + e.api[rows] for codes, e, rows in parts] or [np.zeros(0, np.int64)])
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
    return int(np.datetime64(t, "us").astype(np.int64))


def _column(measure: str, sums: np.ndarray) -> pa.Array:
    ints = pa.array(sums.astype(np.int64))
    if measure not in _SCALED:
        return ints
    # millionths as decimal128(38, 0), then the same 128-bit integers read at scale 6
    return ints.cast(pa.decimal128(38, 0)).view(_CU)
