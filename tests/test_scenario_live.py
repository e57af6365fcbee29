"""Live mode: ``usage`` over a Scenario account gives the local ledger's answer over the same data.

The upstream is our own server (CONTRACT §3) on 127.0.0.1 over a demo store, read through the
official SDK in strict mode; the local answer comes from the same store directly.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from datetime import datetime, timedelta
from decimal import Decimal

import pytest

from scenario_upstream import Account, account, without_documented_gaps
from scenario_upstream import long_store as make_long_store
from usagelens.auth import Caller
from usagelens.ledger.base import ActivityQuery, FactQuery
from usagelens.ledger.duckdb import DuckDBLedger
from usagelens.query import INCLUDES, UsageArgs
from usagelens.service import usage
from usagelens.sources import ScenarioLedger

TEAM = "team_b_0"
NOW = datetime(2026, 5, 1)
EVERYTHING = list(INCLUDES)


@pytest.fixture(scope="module")
def upstream(demo_ledger) -> Iterator[Account]:
    with account(demo_ledger, TEAM) as acc:
        yield acc


@pytest.fixture(scope="module")
def live(upstream) -> Iterator[ScenarioLedger]:
    led = upstream.open()
    yield led
    led.close()


def answers(local, live, team: str = TEAM, **kw):
    args = UsageArgs(team_id=team, **kw)
    return usage(local, Caller.local(), args, now=NOW).data, usage(live, Caller.local(), args, now=NOW).data


def assert_same(local_answer, live_answer):
    assert without_documented_gaps(live_answer) == without_documented_gaps(local_answer)


@pytest.mark.parametrize("timezone", ["UTC", "Europe/Paris", "Asia/Kolkata"])
def test_the_default_summary_matches_the_local_ledger(demo_ledger, live, timezone):
    local, remote = answers(demo_ledger, live, start_date="2026-04-01", end_date="2026-04-30", timezone=timezone)
    assert_same(local, remote)
    assert remote["totals"]["totalCU"] > 0 and remote["totals"]["window"]["timezone"] == timezone


def test_jobs_count_the_jobs_run_on_models_as_documented(demo_ledger, live):
    local, remote = answers(demo_ledger, live, start_date="2026-04-01", end_date="2026-04-30", include=["modelUsages"])
    on_models = sum(m["totalJobs"] for m in local["modelUsages"])
    assert remote["totals"]["jobs"] == on_models < local["totals"]["jobs"]


@pytest.mark.parametrize("timezone", ["UTC", "Europe/Paris", "Asia/Kolkata"])
def test_daily_expansions_match_in_every_kind_of_timezone(demo_ledger, live, timezone):
    daily = ["usages", "usages.daily", "modelUsages.daily", "nsfwUsages"]
    local, remote = answers(
        demo_ledger, live, start_date="2026-04-06", end_date="2026-04-19", timezone=timezone, include=daily
    )
    assert_same(local, remote)
    assert max(len(s["points"]) for s in remote["usages.daily"]) == 14 and remote["modelUsages.daily"][0]["points"]


def test_every_expansion_matches(demo_ledger, live):
    local, remote = answers(demo_ledger, live, start_date="2026-03-23", end_date="2026-04-19", include=EVERYTHING)
    assert_same(local, remote)
    assert len(remote["activity"]) == 100 and remote["entities"]["users"] and remote["entities"]["models"]


def test_filters_by_projects_and_users_match(demo_ledger, live):
    projects = [p["id"] for p in demo_ledger.teams()[0]["projects"]][1:3]
    local, remote = answers(
        demo_ledger, live, start_date="2026-03-10", end_date="2026-04-20", project_ids=projects, include=EVERYTHING
    )
    assert_same(local, remote)
    users = [c["userId"] for c in local["consumption"][:3]]
    local, remote = answers(
        demo_ledger,
        live,
        start_date="2026-03-10",
        end_date="2026-04-20",
        user_ids=users,
        include=["usages", "activity"],
    )
    assert_same(local, remote)
    assert {c["userId"] for c in remote["consumption"]} == set(users)


def test_short_windows_with_date_times_and_activity_pages_match(demo_ledger, live):
    window = {"start_date": "2026-04-14T09:30:00Z", "end_date": "2026-04-15T17:45:00+02:00"}
    local, remote = answers(demo_ledger, live, include=EVERYTHING, timezone="Asia/Kolkata", **window)
    assert_same(local, remote)
    local, remote = answers(
        demo_ledger, live, start_date="2026-04-01", end_date="2026-04-30", include=["activity"], activity_offset=300
    )
    assert_same(local, remote)
    assert remote["activityPagination"] == {"offset": 300, "count": 100, "nextOffset": 400}


def test_only_the_needed_sections_are_requested_and_activity_only_when_asked(demo_ledger, upstream):
    led = upstream.open()
    try:
        upstream.upstream.reset()
        answers(demo_ledger, led, start_date="2026-04-01", end_date="2026-04-30")
        asked = upstream.upstream.usages()
        assert asked and all("activity" not in r.types for r in asked)
        assert set().union(*(r.types for r in asked)) == {
            "usages",
            "model-usages",
            "asset-usages",
            "nsfw-usages",
            "consumption",
        }
        assert all(r.query["teamId"] == TEAM and r.query["dropZeroPoints"] for r in asked)
        upstream.upstream.reset()
        answers(
            demo_ledger, led, start_date="2026-04-01", end_date="2026-04-30", include=["activity"], activity_offset=200
        )
        pages = [r for r in upstream.upstream.usages() if "activity" in r.types]
        assert [(r.types, r.query.get("activityOffset")) for r in pages] == [({"activity"}, "200")]
    finally:
        led.close()


# -- windows longer than Scenario's 120 days -----------------------------------------------


@pytest.fixture(scope="module")
def long_store() -> Iterator[DuckDBLedger]:
    led = make_long_store()
    yield led
    led.close()


@pytest.fixture(scope="module")
def long_account(long_store) -> Iterator[Account]:
    with account(long_store, "team_c_0") as acc:
        yield acc


@pytest.fixture(scope="module")
def long_live(long_account) -> Iterator[ScenarioLedger]:
    led = long_account.open()
    yield led
    led.close()


def test_long_windows_are_split_into_requests_of_at_most_120_days(long_store, long_account, long_live):
    long_account.upstream.reset()
    local, remote = answers(long_store, long_live, team="team_c_0", start_date="2025-10-13", end_date="2026-04-30")
    assert_same(local, remote)
    spans = [r.window() for r in long_account.upstream.usages()]
    assert all(end - start <= timedelta(days=120) for start, end in spans)
    current = sorted({s for s in spans if s[1] > datetime(2025, 10, 13)})
    assert current[0][0] == datetime(2025, 10, 13) and current[-1][1] == datetime(2026, 5, 1)
    assert all(a[1] == b[0] for a, b in itertools.pairwise(current))  # consecutive, no gap


def test_sums_over_long_windows_add_up_to_the_cent(long_store, long_live):
    q = FactQuery("team_c_0", datetime(2025, 10, 13, 7, 15), datetime(2026, 4, 30, 21, 5), by=("action",))
    local = {r["action"]: r for r in long_store.facts(q).to_pylist()}
    remote = {r["action"]: r for r in long_live.facts(q).to_pylist()}
    assert local.keys() == remote.keys()
    for action, r in local.items():
        for m in ("events", "cu", "discount", "api_events", "api_cu", "api_discount"):
            assert remote[action][m] == r[m], (action, m)
    total = sum((r["cu"] for r in remote.values()), Decimal(0))
    assert total == sum((r["cu"] for r in local.values()), Decimal(0)) and total.as_tuple().exponent == -6


@pytest.mark.parametrize(
    ("timezone", "include"),
    [
        ("UTC", ["usages", "usages.daily", "modelUsages.daily", "nsfwUsages", "consumption"]),
        ("Europe/Paris", ["usages", "usages.daily", "modelUsages.daily", "nsfwUsages", "consumption"]),
        ("Asia/Kolkata", ["usages.daily"]),  # one request per local day: the slowest path
    ],
)
def test_long_windows_match_with_expansions(long_store, long_live, timezone, include):
    local, remote = answers(
        long_store,
        long_live,
        team="team_c_0",
        start_date="2025-10-20",
        end_date="2026-04-30",
        timezone=timezone,
        include=include,
    )
    assert_same(local, remote)


def test_activity_pages_cross_the_120_day_boundary_exactly(long_store, long_live):
    start, end = datetime(2025, 10, 13), datetime(2026, 5, 1)
    total = long_store.facts(FactQuery("team_c_0", start, end)).to_pylist()[0]["events"]
    for offset in (0, 4321, total - 150, total - 1, total):
        q = ActivityQuery("team_c_0", start, end, offset=offset, limit=100)
        assert [e["id"] for e in long_live.activity(q)] == [e["id"] for e in long_store.activity(q)], offset
