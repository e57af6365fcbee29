"""Budget status against an independent sum over the events: period bounds in the budget's zone,
project/user scopes, grants consumed beyond the budget, forecast and run-out day."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import event, table
from usagelens.auth import Caller
from usagelens.budgets.registry import add_grant, set_budget
from usagelens.budgets.status import budget_status
from usagelens.ledger.duckdb import DuckDBLedger

LOCAL = Caller.local()


def _in_period(rows, status, **match) -> Decimal:
    """The independent sum: events whose instant is within the period's UTC bounds."""
    return sum(
        (r["cu"] for r in rows if status.period.start <= r["time"] < status.period.end
         and all(r[k] == v for k, v in match.items())),
        Decimal(0),
    )  # fmt: skip


@given(
    minutes=st.lists(st.integers(0, 90 * 24 * 60), min_size=1, max_size=60),
    tz=st.sampled_from(["UTC", "Europe/Paris", "America/New_York", "Asia/Kathmandu"]),
    anchor=st.sampled_from([1, 15, 29, 31]),
    now_minute=st.integers(30 * 24 * 60, 80 * 24 * 60),
)
@settings(max_examples=40, deadline=None)
def test_use_in_the_period_equals_the_events_in_its_local_bounds(minutes, tz, anchor, now_minute):
    base = datetime(2026, 1, 1)  # spans February (anchor 29/31) and the March DST changes
    rows = [
        event(i, base + timedelta(minutes=m), cu=Decimal(i % 7) + Decimal("0.125"), project_id=f"p{i % 2}")
        for i, m in enumerate(minutes)
    ]
    with DuckDBLedger(":memory:") as led:
        led.write_events(table(rows))
        now = base + timedelta(minutes=now_minute)
        team = set_budget(led, LOCAL, "team_a", cu="100", anchor=anchor, timezone=tz, now=base)
        project = set_budget(
            led, LOCAL, "team_a", target={"projectId": "p1"}, cu="10", anchor=anchor, timezone=tz, now=base
        )
        for budget, match in ((team, {}), (project, {"project_id": "p1"})):
            s = budget_status(led, budget, [], now)
            assert s.period.start <= now < s.period.end
            local_first = s.period.start.replace(tzinfo=UTC).astimezone(ZoneInfo(tz))
            assert (local_first.hour, local_first.minute) == (0, 0)
            assert s.used == _in_period(rows, s, **match)
            assert s.remaining == budget.cu - s.used


def test_user_and_key_budgets_count_that_identity_only():
    t0 = datetime(2026, 5, 3, 12)
    rows = [event(1, t0, user_id="u1", cu=Decimal(5)), event(2, t0, user_id="k1", is_api_key=True, cu=Decimal(7))]
    with DuckDBLedger(":memory:") as led:
        led.write_events(table(rows))
        user = set_budget(led, LOCAL, "team_a", target={"userId": "u1"}, cu="50", now=t0)
        key = set_budget(led, LOCAL, "team_a", target={"keyId": "k1"}, cu="50", now=t0)
        assert budget_status(led, user, [], t0).used == 5
        assert budget_status(led, key, [], t0).used == 7
        assert (user.id, key.id) == ("team_a/user/u1", "team_a/key/k1")


def test_grants_are_consumed_beyond_the_budget_earliest_expiry_first():
    may = datetime(2026, 5, 1)
    rows = [event(d, may + timedelta(days=d, hours=10), cu=Decimal(30)) for d in range(10)]  # 30 a day
    with DuckDBLedger(":memory:") as led:
        led.write_events(table(rows))
        budget = set_budget(led, LOCAL, "team_a", cu="100", now=may)
        late = add_grant(led, LOCAL, "team_a", cu="500", starts="2026-05-01", expires="2026-12-31", now=may)
        soon = add_grant(led, LOCAL, "team_a", cu="50", starts="2026-05-01", expires="2026-06-01", now=may)
        now = datetime(2026, 5, 10, 12)
        s = budget_status(led, budget, [late, soon], now)
        assert s.used == 300
        left = {g.grant.id: g.remaining for g in s.grants}
        # 200 beyond the budget: the grant expiring first gives its 50, the other 150
        assert left == {soon.id: 0, late.id: 350}
        assert s.remaining == 100 + 200 + 350 - 300
        # the 10th already used its 30 by noon: half a day more at 30 a day, then 21 days to May 31
        assert s.forecast.at_end == 300 + 15 + 30 * 21
        # the 650 of budget and grants: 315 on the 10th, 675 ≥ 650 twelve days later
        assert s.forecast.runs_out == date(2026, 5, 22)


def test_an_overdrawn_budget_says_when_it_ran_out():
    t0 = datetime(2026, 5, 1)
    rows = [event(d, t0 + timedelta(days=d, hours=1), cu=Decimal(40)) for d in range(5)]
    with DuckDBLedger(":memory:") as led:
        led.write_events(table(rows))
        budget = set_budget(led, LOCAL, "team_a", cu="100", now=t0)
        s = budget_status(led, budget, [], datetime(2026, 5, 5, 12))
        assert (s.used, s.remaining, s.forecast.runs_out, s.percent) == (200, -100, date(2026, 5, 3), Decimal("200.00"))


@pytest.mark.parametrize("tz", ["UTC", "Pacific/Kiritimati"])
def test_a_budget_replaced_keeps_its_creation_day(tz):
    with DuckDBLedger(":memory:") as led:
        first = set_budget(led, LOCAL, "team_a", cu="10", period="30d", timezone=tz, now=datetime(2026, 1, 1))
        again = set_budget(led, LOCAL, "team_a", cu="20", period="30d", timezone=tz, now=datetime(2026, 3, 1))
        assert again.created_at == first.created_at and again.cu == 20
        assert list(led.docs("budgets")) == ["team_a"]


@given(
    batches=st.lists(
        st.lists(st.tuples(st.integers(0, 40 * 24 * 60), st.integers(-300, 900), st.sampled_from(["p0", "p1"])),
                 min_size=1, max_size=20),
        min_size=1, max_size=6,
    ),
    tz=st.sampled_from(["UTC", "Asia/Kathmandu", "America/New_York"]),
    dup=st.booleans(),
)  # fmt: skip
@settings(max_examples=25, deadline=None)
def test_series_kept_current_by_writes_equal_a_fresh_read(batches, tz, dup):
    from usagelens.budgets import series
    from usagelens.budgets.watch import Watched

    base = datetime(2026, 3, 1)
    now = base + timedelta(days=41)
    with DuckDBLedger(":memory:") as led:
        team = set_budget(led, LOCAL, "team_a", cu="100", timezone=tz, thresholds="1000", now=base)
        project = set_budget(led, LOCAL, "team_a", target={"projectId": "p1"}, cu="9", timezone=tz, now=base)
        w = Watched(led)
        rows: list[dict] = []
        n = 0
        for batch in batches:
            new = [
                event(n + i, base + timedelta(minutes=m), cu=Decimal(c) / 100, project_id=p)
                for i, (m, c, p) in enumerate(batch)
            ]
            n += len(new)
            w.write_events(table(new + (rows[:1] if dup else [])))  # a duplicate: the kept series are read again
            rows += new
            for budget in (team, project):
                advanced = dict(series._KEPT.get(led, {}))
                kept = budget_status(led, budget, [], now)
                series._KEPT[led] = {}  # a fresh read, then the advanced series back
                fresh = budget_status(led, budget, [], now)
                series._KEPT[led] = advanced | series._KEPT[led]
                assert (kept.used, kept.forecast) == (fresh.used, fresh.forecast)
                match = {"project_id": "p1"} if budget is project else {}
                assert kept.used == _in_period(rows, kept, **match)
