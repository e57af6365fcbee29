"""Rollup rows held in memory for ``hot.py``: how they are loaded and grouped.

A ``Rows`` is one load, oldest first: a team's day rows of a rollup, its hour rows of one UTC
day, or its rows of one rollup and grain not yet compacted. Every measure is a float64 holding
an integer (CU in millionths), exact while sums stay below 2**52 (``size`` says how far).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from usagelens.ledger.base import BASE_MEASURES
from usagelens.ledger.rollups import ROLLUPS, Rollup

__all__ = [
    "ALL_HOURS",
    "MAX_ENTRY_ROWS",
    "RUNNING_CELLS",
    "SCALED",
    "Rows",
    "Unfit",
    "count_sql",
    "group_keys",
    "load_sql",
    "recent_rows",
    "recent_sql",
    "rows_of",
]

#: An entry of more rows is not held (its facts come from the statement): a day entry of a
#: 10,000-identity team's identities is 2.3M rows, and loading it peaked at ~700 MB.
MAX_ENTRY_ROWS = 500_000


#: Day boundaries × groups × API split of a day entry's running sums (``Rows.running``), at most
#: (48 bytes each: ~19 MB); past it a fact adds the entry's rows of its window instead.
RUNNING_CELLS = 400_000
#: What one running-sums cell weighs against one held row (~70 bytes), for ``Rows.held``.
_CELL_ROWS = 48 / 70


class Unfit(Exception):
    """Rows memory does not hold: too many, or a sum past BIGINT millionths."""


#: Measures held as integer millionths (CU).
SCALED = ("cu", "discount")
_DAY = timedelta(days=1)


#: The ``day`` of an entry holding every hour row of the team (a small team's: one load serves
#: the edges of every window in any whole-hour zone, instead of one load per edge day).
ALL_HOURS = datetime.min


def count_sql(rollup: Rollup, team: str, quote: Callable[[str], str], day: datetime | None = None) -> str:
    """The number of rows of an entry once merged (checked before loading it): ``team``'s day
    rows of ``rollup``, or with ``ALL_HOURS`` its hour rows."""
    source = f"rollup_{rollup.name}_day_team" if day is None else f"rollup_{rollup.name}_hour"
    return (
        f"SELECT count(*) FROM (SELECT DISTINCT bucket, d1, d2, is_api_key FROM {source} WHERE team_id = {quote(team)})"
    )


def load_sql(rollup: Rollup, team: str, quote: Callable[[str], str], day: datetime | None = None) -> str:
    """The statement that loads one entry, oldest first, CU as millionths (a BIGINT cast that
    fails when a sum does not fit: no entry then): ``team``'s day rows of ``rollup``, or with
    ``day`` its hour rows of that UTC day (``ALL_HOURS``: of every day; projects summed). Rows
    of one key and bucket are
    merged: main tables hold one per compaction that touched the bucket (100 at 100M events
    written in 1M batches)."""
    dims = ", ".join(f"d{i} AS {d}" for i, d in enumerate(rollup.dims, start=1))
    if day is None:
        source, where = f"rollup_{rollup.name}_day_team", ""
    elif day == ALL_HOURS:
        source, where = f"rollup_{rollup.name}_hour", ""
    else:
        source = f"rollup_{rollup.name}_hour"
        where = (
            f" AND bucket >= TIMESTAMP '{day.isoformat(sep=' ')}' "
            f"AND bucket < TIMESTAMP '{(day + _DAY).isoformat(sep=' ')}'"
        )
    return (
        f"SELECT epoch_us(bucket) AS bucket, {dims}, is_api_key, {_sums()} FROM {source} "
        f"WHERE team_id = {quote(team)}{where} GROUP BY ALL ORDER BY bucket"
    )


@dataclass
class Rows:
    """Rows of one load, oldest first: a team's day rows of a rollup, or its hour rows of a day."""

    times: np.ndarray  # bucket start, microseconds since the epoch, ascending
    keys: pa.Table  # the rollup's dimensions of every row
    api: np.ndarray  # 0 or 1
    values: dict[str, np.ndarray]  # float64 integers (CU in millionths)
    size: float  # the largest sum of absolute values of one measure: what float64 must hold
    groups: dict[tuple[str, ...], tuple[np.ndarray, pa.Table]] = field(default_factory=dict)
    codings: dict[tuple[str, ...], _Coding] = field(default_factory=dict)  # how ``grouping`` numbers keys
    mapped: dict[tuple[str, ...], np.ndarray] = field(default_factory=dict)  # ``codes_of`` of hours, recent rows
    sums: dict[tuple[str, ...], tuple[np.ndarray, np.ndarray] | None] = field(default_factory=dict)  # ``running``

    @property
    def rows(self) -> int:
        return len(self.times)

    @property
    def held(self) -> int:
        """What this entry weighs in memory, in rows (``running``'s sums included)."""
        held = tuple(self.sums.values())  # one step under the GIL: another thread may add sums
        cells = sum(s[1].shape[0] * s[1].shape[1] for s in held if s is not None)
        return self.rows + int(cells * _CELL_ROWS)

    def running(self, by: tuple[str, ...]) -> tuple[np.ndarray, np.ndarray] | None:
        """For a day entry: its days (bucket starts, ascending) and, at each day boundary (before
        the first day, then after each), every group × API split's running sums under ``by`` —
        ``sums[j] - sums[i]`` is then the days ``i`` to ``j`` in O(groups), where adding their rows
        was O(rows): 48,000 rows for 420 models over 120 days. Axis 2 holds the row count, then
        ``BASE_MEASURES``; each sum is exact (the entry's ``size`` bounds them). None past
        ``RUNNING_CELLS``."""
        if by in self.sums:
            return self.sums[by]
        codes, keys = self.grouping(by)
        split = 2 * (keys.num_rows if by else 1)
        days, day = np.unique(self.times, return_inverse=True)
        got = None
        if (len(days) + 1) * split <= RUNNING_CELLS:
            cell = day.reshape(-1).astype(np.int64) * split + codes * 2 + self.api
            cells = len(days) * split
            sums = np.zeros((len(days) + 1, split, 1 + len(BASE_MEASURES)))
            sums[1:, :, 0] = np.bincount(cell, minlength=cells).reshape(len(days), split)
            for k, m in enumerate(BASE_MEASURES, start=1):
                sums[1:, :, k] = np.bincount(cell, weights=self.values[m], minlength=cells).reshape(len(days), split)
            np.cumsum(sums, axis=0, out=sums)
            got = (days, sums)
        self.sums[by] = got
        return got

    def grouping(self, by: tuple[str, ...]) -> tuple[np.ndarray, pa.Table]:
        """Each row's group number under ``by`` and the groups' keys, sorted like ``split_api``
        sorts (ascending, nulls last)."""
        got = self.groups.get(by)
        if got is None:
            codes, distinct, self.codings[by] = group_keys(self.keys, by, self.rows)
            got = self.groups[by] = (codes, distinct)
        return got

    def codes_of(self, other: Rows, by: tuple[str, ...]) -> np.ndarray:
        """The group numbers under ``by`` (this entry's) of ``other``'s rows; -1 for a row whose
        key is not among this entry's groups (kept in ``other``: both are of one version)."""
        got = other.mapped.get(by)
        if got is None:
            self.grouping(by)
            # vectorised: after every write the rows not compacted (up to ``COMPACT_AT``) are
            # mapped anew, and a per-row dictionary lookup took most of a reader's time
            got = other.mapped[by] = self.codings[by].find(other.keys.select(list(by)), other.rows)
        return got


@dataclass
class _Coding:
    """How ``group_keys`` numbers keys: per dimension its dictionary and each entry's rank, and the
    groups' numbers (``Σ rank × place``), ascending."""

    dictionaries: list[pa.Array]
    ranks: list[np.ndarray]
    numbers: np.ndarray

    def find(self, keys: pa.Table, rows: int) -> np.ndarray:
        """The group of each of ``rows`` rows of ``keys`` (the same columns, maybe none), -1
        where the key is unknown."""
        combined = np.zeros(rows, dtype=np.int64)
        if not self.dictionaries:
            return combined  # no dimension (totals): one group
        unknown = np.zeros(rows, dtype=bool)
        for column, dictionary, rank in zip(keys.columns, self.dictionaries, self.ranks, strict=True):
            found = pc.fill_null(pc.index_in(column, value_set=dictionary, skip_nulls=False), -1)
            at = np.asarray(found.to_numpy(zero_copy_only=False), dtype=np.int64)
            unknown |= at < 0
            combined = combined * max(len(rank), 1) + rank[np.maximum(at, 0)] if len(rank) else combined
        if not len(self.numbers):
            return np.full(rows, -1, dtype=np.int64)
        at = np.minimum(np.searchsorted(self.numbers, combined), len(self.numbers) - 1)
        unknown |= self.numbers[at] != combined
        at[unknown] = -1
        return at.astype(np.int64)


def group_keys(keys: pa.Table, by: tuple[str, ...], rows: int) -> tuple[np.ndarray, pa.Table, _Coding]:
    """Group numbers of ``rows`` rows under ``by``, the groups' keys (ascending, nulls last) and
    how the numbers were made.

    Each column is dictionary-encoded and its values ranked; a row's group is its ranks read
    as one number, so sorting the numbers sorts the groups like ``split_api`` does. (A
    ``group_by`` with list aggregation held ~4x the entry's size at its peak: 10,000 identities.)
    """
    combined = np.zeros(rows, dtype=np.int64)
    dictionaries, ranks = [], []
    for d in by:
        encoded = keys[d].combine_chunks().dictionary_encode(null_encoding="encode")
        order = np.asarray(pc.array_sort_indices(encoded.dictionary, null_placement="at_end"))
        rank = np.empty(len(order), dtype=np.int64)
        rank[order] = np.arange(len(order))
        combined = combined * max(len(order), 1) + rank[np.asarray(encoded.indices)]
        dictionaries.append(encoded.dictionary)
        ranks.append(rank)
    distinct, first, codes = np.unique(combined, return_index=True, return_inverse=True)
    coding = _Coding(dictionaries, ranks, distinct)
    return codes.astype(np.int64).reshape(-1), keys.select(list(by)).take(pa.array(first)), coding


def rows_of(table: pa.Table, dims: tuple[str, ...]) -> Rows:
    """``Rows`` of a loaded table (``bucket`` in microseconds, ``dims``, ``is_api_key``, measures)."""
    values = {m: np.asarray(table[m].to_numpy(zero_copy_only=False), dtype=np.float64) for m in BASE_MEASURES}
    return Rows(
        times=np.asarray(table["bucket"].to_numpy(zero_copy_only=False), dtype=np.int64),
        keys=table.select(list(dims)),
        api=np.asarray(table["is_api_key"].to_numpy(zero_copy_only=False), dtype=np.int64),
        values=values,
        size=max((float(np.abs(v).sum()) for v in values.values()), default=0.0),
    )


def _sums() -> str:
    return ", ".join(
        f"(sum({m}) * 1000000)::BIGINT AS {m}" if m in SCALED else f"sum({m})::BIGINT AS {m}" for m in BASE_MEASURES
    )


def recent_sql(team: str, quote: Callable[[str], str]) -> str:
    """``team``'s rows not yet compacted, day and hour grains, projects summed, oldest first."""
    return (
        f"SELECT kind, grain, epoch_us(bucket) AS bucket, d1, d2, is_api_key, {_sums()} FROM rollups_recent "
        f"WHERE team_id = {quote(team)} AND grain IN (0, 1) GROUP BY ALL ORDER BY bucket"
    )


def recent_rows(table: pa.Table) -> dict[tuple[str, int], Rows]:
    """A ``recent_sql`` table as ``Rows`` per (rollup name, grain code: 0 day, 1 hour)."""
    out = {}
    for r in ROLLUPS:
        for grain in (0, 1):
            mask = pc.and_(pc.equal(table["kind"], r.code), pc.equal(table["grain"], grain))
            part = table.filter(mask)
            names = {f"d{i}": d for i, d in enumerate(r.dims, start=1)}
            part = part.rename_columns([names.get(c, c) for c in part.column_names])
            out[(r.name, grain)] = rows_of(part, r.dims)
    return out
