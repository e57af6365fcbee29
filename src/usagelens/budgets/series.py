"""Budgets' daily use, kept current by writes instead of asked again after each one.

A budget's status needs the CU per local day of its scope over its period (and the week before).
``daily`` reads it once per store state (``UsageReader.cache_token``) and keeps it; ``advance``
adds a write's events to every kept series that was current just before that write, so the next
answer or threshold check costs no query. A series kept for another store state is never used:
it is read again. Exact: the additions are the same decimals the ledger sums.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable
from datetime import date
from decimal import Decimal
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from usagelens.budgets.model import Budget

__all__ = ["BatchDays", "advance", "daily", "in_scope"]

_Key = tuple[Budget, date, date]  # the budget, first day, day after the last
_KEPT: weakref.WeakKeyDictionary[Any, dict[_Key, tuple[object, dict[date, Decimal]]]] = weakref.WeakKeyDictionary()
_LOCK = threading.Lock()
#: Series kept per store at most (budgets × periods asked).
MAX_KEPT = 4096


def in_scope(budget: Budget, rows: pa.Table) -> pa.Table:
    """The rows (``EVENT_SCHEMA``) of the budget's scope."""
    mask = pc.equal(rows["team_id"], budget.team_id)
    if budget.scope == "project":
        mask = pc.and_(mask, pc.equal(rows["project_id"], budget.target))
    elif budget.scope in ("user", "key"):
        mask = pc.and_(mask, pc.equal(rows["user_id"], budget.target))
    return rows.filter(mask)


_TARGET = {"team": None, "project": "project_id", "user": "user_id", "key": "user_id"}


class BatchDays:
    """A written batch's CU per (team, target, local day), grouped once per time zone and kind of
    target however many budgets ask."""

    def __init__(self, rows: pa.Table) -> None:
        self.rows = rows
        self._grouped: dict[tuple[str, str], dict[tuple[str, str | None], dict[date, Decimal]]] = {}

    def of(self, budget: Budget) -> dict[date, Decimal]:
        """CU per local day (the budget's zone) of the batch's rows in the budget's scope."""
        column = _TARGET[budget.scope]
        key = (budget.timezone, column or "")
        if key not in self._grouped:
            self._grouped[key] = self._group(budget.timezone, column)
        return self._grouped[key].get((budget.team_id, budget.target if column else None), {})

    def _group(self, zone: str, column: str | None) -> dict[tuple[str, str | None], dict[date, Decimal]]:
        rows = self.rows
        aware = rows["time"].cast(pa.timestamp("us", tz="UTC")).cast(pa.timestamp("us", tz=zone))
        cols = {"t": rows["team_id"], "d": pc.local_timestamp(aware).cast(pa.date32()), "cu": rows["cu"]}
        if column:
            cols["x"] = rows[column]
        keys = ["t", "x", "d"] if column else ["t", "d"]
        sums = pa.table(cols).group_by(keys, use_threads=False).aggregate([("cu", "sum")])
        out: dict[tuple[str, str | None], dict[date, Decimal]] = {}
        targets = sums["x"].to_pylist() if column else [None] * sums.num_rows
        for t, x, d, cu in zip(
            sums["t"].to_pylist(), targets, sums["d"].to_pylist(), sums["cu_sum"].to_pylist(), strict=True
        ):
            out.setdefault((t, x), {})[d] = cu
        return out


def daily(
    reader: Any, budget: Budget, first: date, after: date, read: Callable[[], dict[date, Decimal]]
) -> dict[date, Decimal]:
    """The budget's CU per local day from ``first`` to the day before ``after``: kept, or ``read()``
    and kept for the reader's current state. Callers must not change the result."""
    token = reader.cache_token()
    key = (budget, first, after)
    with _LOCK:
        kept = _KEPT.get(reader, {}).get(key)
    if token is not None and kept is not None and kept[0] == token:
        return kept[1]
    got = read()
    if token is not None:
        with _LOCK:
            store = _KEPT.setdefault(reader, {})
            if len(store) >= MAX_KEPT:
                store.clear()
            store[key] = (token, got)
    return got


def advance(reader: Any, before: object, after: object, batch: BatchDays) -> None:
    """After a write that took ``reader`` from state ``before`` to ``after`` by storing exactly
    the rows of ``batch``: bring the series current at ``before`` to ``after``; drop the others."""
    with _LOCK:
        store = _KEPT.get(reader)
        if not store:
            return
        for key, (token, kept) in list(store.items()):
            if token != before or before is None or after is None:
                del store[key]
                continue
            budget, first, after_day = key
            grown = dict(kept)
            for day, cu in batch.of(budget).items():
                if first <= day < after_day:
                    grown[day] = grown.get(day, Decimal(0)) + cu
            store[key] = (after, grown)
