"""Threshold crossings (CONTRACT §5): after each write, which budgets of the written teams crossed
an alert threshold, each recorded once as an alert (``ControlStore.claim``).

``Watched(ledger, on_alert)`` is the ledger to write through: every write (events, voids with
replacements) is followed by a check of the budgets of the teams it touched, in every period its
events fall in (late events cross thresholds of their own period too, up to ``MAX_PERIODS`` back).
A threshold ``t`` of a budget is crossed in a period when the period's use reaches ``t`` % of the
budget's allowance (grants not counted). The alert id is ``<budget id>|<period's first day>|<t>``:
claimed once, so a crossing is never recorded twice, across restarts and servers.

Cost: a write that touches no budgeted scope costs one look at the (cached) budget documents; one
that does costs one exact ``facts`` query per budget and period, skipped once every threshold of
that period is known to be crossed.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pyarrow as pa
import pyarrow.compute as pc

from usagelens.budgets import series
from usagelens.budgets.model import Budget
from usagelens.budgets.periods import Period, midnight, period_at
from usagelens.budgets.series import BatchDays
from usagelens.budgets.status import period_use
from usagelens.jsonout import instant
from usagelens.ledger.base import Ledger
from usagelens.model import VoidResult, WriteResult

__all__ = ["MAX_PERIODS", "Watched", "alert_doc", "check"]

log = logging.getLogger("usagelens.budgets")
#: Periods before the current one that a late event can still cross thresholds in.
MAX_PERIODS = 12


def alert_doc(budget: Budget, period: Period, threshold: int, used: Decimal, now: datetime) -> dict[str, Any]:
    """The alert of ``budget`` crossing ``threshold`` % in ``period`` (what the webhook receives)."""
    return {
        "id": f"{budget.id}|{period.first.isoformat()}|{threshold}",
        "budgetId": budget.id,
        "teamId": budget.team_id,
        "scope": budget.scope,
        "target": budget.target,
        "threshold": threshold,
        "periodStart": period.first.isoformat(),
        "periodEnd": period.last.isoformat(),
        "timezone": budget.timezone,
        "usedCU": str(used),
        "allowanceCU": str(budget.cu),
        "crossedAt": instant(now.replace(microsecond=0)),
        "webhook": budget.webhook,
    }


def _touched(budget: Budget, days: dict[date, Decimal], now: datetime) -> list[Period]:
    """The periods (none after ``now``'s, at most ``MAX_PERIODS`` back) whose use the batch's
    ``days`` raised."""
    zone = ZoneInfo(budget.timezone)
    current = period_at(budget.rule, now)
    added: dict[date, Decimal] = {}
    periods: dict[date, Period] = {}
    for day, cu in days.items():
        if day > current.last:
            continue
        p = current if day >= current.first else period_at(budget.rule, midnight(day, zone))
        periods[p.first] = p
        added[p.first] = added.get(p.first, Decimal(0)) + cu
    ordered = sorted((p for p in periods.values() if added[p.first] > 0), key=lambda p: p.first, reverse=True)
    return ordered[: MAX_PERIODS + 1]


def check(
    ledger: Ledger, batch: BatchDays | pa.Table, now: datetime | None = None, known: set[str] | None = None
) -> list[str]:
    """Record the alerts that writing ``batch`` (its rows, ``EVENT_SCHEMA``) made happen; returns
    the docs of the alerts this call recorded. ``known`` (kept by the caller) holds alert ids
    already known to be recorded, so their periods are not read again."""
    docs = ledger.docs("budgets")
    days_of = batch if isinstance(batch, BatchDays) else BatchDays(batch)
    if not docs or days_of.rows.num_rows == 0:
        return []
    now = now or datetime.now(UTC).replace(tzinfo=None)
    known = known if known is not None else set()
    recorded: list[str] = []
    for doc in docs.values():
        budget = Budget.from_doc(doc)
        days = days_of.of(budget)
        if not days:
            continue
        for period in _touched(budget, days, now):
            ids = {t: f"{budget.id}|{period.first.isoformat()}|{t}" for t in budget.thresholds}
            if all(i in known for i in ids.values()):
                continue
            used = period_use(ledger, budget, period)
            for t, alert_id in ids.items():
                if alert_id in known or used * 100 < budget.cu * t:
                    continue
                doc_text = json.dumps(alert_doc(budget, period, t, used, now))
                if ledger.claim("alerts", alert_id, doc_text) == doc_text:
                    recorded.append(doc_text)
                known.add(alert_id)
    return recorded


#: The columns ``check`` and ``series.advance`` read of written rows (``BatchDays``, ``in_scope``).
_CHECKED = ["team_id", "project_id", "user_id", "time", "cu"]


def _teams(docs: dict[str, str]) -> set[str]:
    """The teams of the budget documents ``docs``."""
    return {Budget.from_doc(d).team_id for d in docs.values()}


class Watched:
    """``ledger`` as a ``UsageWriter`` whose writes are followed by ``check``; ``on_alert()`` is
    called when a write recorded alerts (e.g. to wake the webhook deliverer). A failing check is
    logged, never raised: the write itself succeeded and stays acknowledged; the next write's
    check sees the same periods again."""

    def __init__(self, ledger: Ledger, on_alert: Callable[[], None] | None = None) -> None:
        self.ledger = ledger
        self._on_alert = on_alert
        self._known: set[str] = set()
        self._lock = threading.Lock()

    def _check(self, batch: BatchDays) -> None:
        try:
            got = check(self.ledger, batch, known=self._known)
        except Exception:
            log.exception("budget threshold check failed; the write is stored, the next write checks again")
            return
        if got and self._on_alert is not None:
            self._on_alert()

    def write_events(self, batch: pa.Table) -> WriteResult:
        return self.write_events_many([batch])[0]

    def write_events_many(self, batches: list[pa.Table]) -> list[WriteResult]:
        if not self.ledger.docs("budgets"):
            return self.ledger.write_events_many(batches)
        with self._lock:  # the store's state just before and just after this write
            before = self.ledger.cache_token()
            results = self.ledger.write_events_many(batches)
            after = self.ledger.cache_token()
        if any(r.written for r in results):
            batch = BatchDays(pa.concat_tables(batches) if len(batches) > 1 else batches[0])
            if not any(r.duplicates for r in results):  # exactly these rows were stored
                series.advance(self.ledger, before, after, batch)
            self._check(batch)
        return results

    def write_events_stream(self, batches: Iterable[pa.Table]) -> WriteResult:
        """``UsageWriter.write_events_stream``, then ``check`` as after ``write_events``. Of each
        batch only what the check reads is kept (the rows of teams that had a budget when the
        write began, five columns): a file of any size stays a stream. A budget of another team set
        during the write is checked by the next write of that team (as after a failed check)."""
        docs = self.ledger.docs("budgets")
        if not docs:
            return self.ledger.write_events_stream(batches)
        teams = _teams(docs)
        wanted = pa.array(sorted(teams), pa.string())
        kept: list[pa.Table] = []

        def watched() -> Iterator[pa.Table]:
            for batch in batches:
                rows = batch.select(_CHECKED)
                kept.append(rows.filter(pc.is_in(rows["team_id"], wanted)))
                yield batch

        with self._lock:  # the store's state just before and just after this write
            before = self.ledger.cache_token()
            result = self.ledger.write_events_stream(watched())
            after = self.ledger.cache_token()
        if result.written:  # then a batch was read: ``kept`` is not empty
            batch = BatchDays(pa.concat_tables(kept))
            # exactly these rows were stored, and they hold every budgeted team's
            if not result.duplicates and _teams(self.ledger.docs("budgets")) <= teams:
                series.advance(self.ledger, before, after, batch)
            self._check(batch)
        return result

    def void_events(
        self, team_id: str, ids: list[str], *, reason: str, by: str, replacements: pa.Table | None = None
    ) -> VoidResult:
        result = self.ledger.void_events(team_id, ids, reason=reason, by=by, replacements=replacements)
        if replacements is not None and result.replacements.written and self.ledger.docs("budgets"):
            self._check(BatchDays(replacements))
        return result

    def upsert_entities(self, kind: str, batch: pa.Table, team: str | None = None) -> int:
        return self.ledger.upsert_entities(kind, batch, team)

    def put_voids(self, rows: pa.Table) -> int:
        return self.ledger.put_voids(rows)

    def warm(self) -> None:
        self.ledger.warm()

    def maintain(self) -> None:
        self.ledger.maintain()
