"""Budget threshold crossings on every backend (CONTRACT §5): each crossing recorded once, for late
events in their own period too, never again after a restart or by a second writer."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from conftest import event, table
from usagelens.auth import Caller
from usagelens.budgets.registry import set_budget
from usagelens.budgets.watch import Watched

NOW = datetime.now(UTC).replace(tzinfo=None, microsecond=0)
MONTH = datetime(NOW.year, NOW.month, 1)


def _rows(start: int, cus: list[str], when: datetime = MONTH, **kw) -> list[dict]:
    return [event(start + i, when + timedelta(minutes=i), cu=Decimal(c), **kw) for i, c in enumerate(cus)]


def _alerts(led) -> dict[str, dict]:
    return {k: json.loads(v) for k, v in led.claims("alerts").items()}


def test_each_threshold_is_recorded_once_when_use_reaches_it(ledger):
    set_budget(ledger, Caller.local(), "team_a", cu="100", webhook="http://127.0.0.1:9/h", now=MONTH)
    calls: list[int] = []
    w = Watched(ledger, lambda: calls.append(1))
    w.write_events(table(_rows(0, ["40"])))
    assert _alerts(ledger) == {} and calls == []
    w.write_events(table(_rows(10, ["10", "5.5"])))  # 55.5
    first = f"team_a|{MONTH.date().isoformat()}|50"
    assert list(_alerts(ledger)) == [first] and len(calls) == 1
    alert = _alerts(ledger)[first]
    assert (alert["threshold"], alert["usedCU"], alert["allowanceCU"], alert["webhook"]) == (
        50, "55.500000", "100", "http://127.0.0.1:9/h"
    )  # fmt: skip
    w.write_events(table(_rows(10, ["10", "5.5"])))  # duplicates: nothing new
    w.write_events(table(_rows(20, ["-20"])))  # a refund adds no use
    w.write_events(table(_rows(30, ["60"])))  # 95.5: crosses 80 only
    assert sorted(_alerts(ledger)) == sorted([first, first[:-2] + "80"]) and len(calls) == 2


def test_late_events_cross_the_threshold_of_their_own_period(ledger):
    previous = (MONTH - timedelta(days=1)).replace(day=1)
    set_budget(ledger, Caller.local(), "team_a", cu="10", now=previous - timedelta(days=40))
    Watched(ledger).write_events(table(_rows(0, ["6"], previous + timedelta(days=3))))
    assert list(_alerts(ledger)) == [f"team_a|{previous.date().isoformat()}|50"]


def test_scoped_budgets_count_their_scope_and_a_restart_does_not_alert_again(durable_stores):
    led = durable_stores.new()
    set_budget(led, Caller.local(), "team_a", target={"projectId": "p2"}, cu="10", thresholds="100", now=MONTH)
    Watched(led).write_events(table(_rows(0, ["30"], project_id="p1")))
    assert _alerts(led) == {}
    Watched(led).write_events(table(_rows(10, ["10"], project_id="p2")))
    assert list(_alerts(led)) == [f"team_a/project/p2|{MONTH.date().isoformat()}|100"]
    led = durable_stores.reopen(led)
    fresh = Watched(led)  # knows nothing in memory: the store's claim holds
    fresh.write_events(table(_rows(20, ["1"], project_id="p2")))
    assert len(_alerts(led)) == 1
