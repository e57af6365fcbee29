"""The usage answer against an independent computation over the demo events (CONTRACT §2)."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from decimal import Decimal

import pytest

from reference import local_day_start
from usagelens.auth import Caller
from usagelens.query import UsageArgs
from usagelens.service import usage

TEAM = "team_b_0"  # SMALL_DEMO is seed 11
NOW = datetime(2026, 5, 1, 12)


def _answer(led, **kw):
    kw.setdefault("team_id", TEAM)
    return usage(led, Caller.local(), UsageArgs(**kw), now=NOW).data


def _window(rows, start, end, team=TEAM, projects=None, users=None):
    return [
        r
        for r in rows
        if r["team_id"] == team
        and start <= r["time"] < end
        and (projects is None or r["project_id"] in projects)
        and (users is None or r["user_id"] in users)
    ]


def _sum(rows, key="cu"):
    return sum((r[key] for r in rows), Decimal(0))


APRIL = dict(start_date="2026-04-01", end_date="2026-04-30")
A0, A1 = datetime(2026, 4, 1), datetime(2026, 5, 1)


def test_totals_equal_the_events_summed_independently(demo_ledger, demo_rows):
    d = _answer(demo_ledger, **APRIL)
    ev = _window(demo_rows, A0, A1)
    t = d["totals"]
    assert t["totalCU"] == _sum(ev) and t["totalDiscountCU"] == _sum(ev, "discount")
    assert t["totalBeforeDiscountCU"] == _sum(ev) + _sum(ev, "discount")
    assert t["jobs"] == sum(1 for r in ev if r["job_id"] and r["action"] != "refunds")
    assert t["assets"] == sum(1 for r in ev if r["asset_kind"])
    assert t["users"] == len({r["user_id"] for r in ev})
    assert t["models"] == len({r["model_id"] for r in ev if r["model_id"]})
    assert (t["startDate"], t["endDate"]) == ("2026-04-01", "2026-04-30")
    assert t["window"] == {"from": "2026-04-01T00:00:00Z", "until": "2026-05-01T00:00:00Z", "timezone": "UTC"}


def test_previous_period_is_the_equal_window_just_before(demo_ledger, demo_rows):
    d = _answer(demo_ledger, **APRIL)
    prev = _sum(_window(demo_rows, A0 - (A1 - A0), A0))
    cur = d["totals"]["totalCU"]
    assert d["totals"]["previousPeriod"]["totalCU"] == prev
    assert d["totals"]["previousPeriod"]["changePct"] == ((cur - prev) / abs(prev) * 100).quantize(Decimal("0.1"))


def test_consumption_is_complete_and_reconciles_with_the_totals(demo_ledger, demo_rows):
    d = _answer(demo_ledger, **APRIL)
    ev = _window(demo_rows, A0, A1)
    per_user = defaultdict(lambda: [Decimal(0), Decimal(0)])
    for r in ev:
        per_user[r["user_id"]][0] += r["cu"]
        per_user[r["user_id"]][1] += r["discount"]
    ranked = sorted(per_user.items(), key=lambda kv: (-kv[1][0], kv[0]))
    shown = d["consumption"]
    assert [(c["userId"], c["value"], c["discount"], c["total"]) for c in shown] == [
        (u, v, dsc, v + dsc) for u, (v, dsc) in ranked
    ]
    assert "consumption" not in d["sections"] and "truncated" not in d
    assert sum(c["value"] for c in shown) == d["totals"]["totalCU"]
    assert sum(c["discount"] for c in shown) == d["totals"]["totalDiscountCU"]
    assert sum(c["total"] for c in shown) == d["totals"]["totalBeforeDiscountCU"]


def test_model_usages_are_per_model_sorted_and_named(demo_ledger, demo_rows):
    d = _answer(demo_ledger, **APRIL)
    ev = [r for r in _window(demo_rows, A0, A1) if r["model_id"]]
    per = defaultdict(lambda: {"cu": Decimal(0), "jobs": 0, "api": Decimal(0), "disc": Decimal(0)})
    for r in ev:
        m = per[r["model_id"]]
        m["cu"] += r["cu"]
        m["jobs"] += int(r["job_id"] is not None and r["action"] != "refunds")
        m["disc"] += r["discount"]
        m["api"] += r["cu"] if r["is_api_key"] else 0
    want = sorted(per.items(), key=lambda kv: (-kv[1]["cu"], kv[0]))
    got = d["modelUsages"]
    assert [(m["modelId"], m["totalCU"], m["totalJobs"], m["totalApiKeyCU"], m["totalDiscountCU"]) for m in got] == [
        (k, v["cu"], v["jobs"], v["api"], v["disc"]) for k, v in want
    ]
    assert all(m["modelName"] for m in got)
    assert "modelUsages" not in d["sections"]
    # refunds and actions without a model are not allocated to models
    assert sum(m["totalCU"] for m in got) != d["totals"]["totalCU"]


def test_asset_usages_count_created_assets_per_kind(demo_ledger, demo_rows):
    d = _answer(demo_ledger, **APRIL)
    ev = _window(demo_rows, A0, A1)
    kinds = defaultdict(lambda: [0, 0])
    for r in ev:
        if r["asset_kind"]:
            kinds[r["asset_kind"]][0] += 1
            kinds[r["asset_kind"]][1] += int(r["is_api_key"])
    want = sorted(kinds.items(), key=lambda kv: (-kv[1][0], kv[0]))
    assert [(a["kind"], a["count"], a["countApiKey"]) for a in d["assetUsages"]] == [
        (k, c, api) for k, (c, api) in want
    ]


def test_scope_echoes_what_was_applied(demo_ledger):
    d = _answer(demo_ledger, **APRIL, project_id="proj_b_1", user_ids=["user_b_2", "key_b_1"])
    assert d["scope"] == {
        "mode": "project",
        "teamId": TEAM,
        "contextProjectId": "proj_b_1",
        "projectIds": ["proj_b_1"],
        "userIds": ["key_b_1", "user_b_2"],
    }
    d = _answer(demo_ledger, **APRIL, project_id="proj_b_1", scope="team")
    assert d["scope"]["mode"] == "team" and d["scope"]["projectIds"] is None


def test_a_project_filters_to_that_project(demo_ledger, demo_rows):
    d = _answer(demo_ledger, **APRIL, project_ids=["proj_b_1", "proj_b_3"])
    assert d["totals"]["totalCU"] == _sum(_window(demo_rows, A0, A1, projects={"proj_b_1", "proj_b_3"}))


def test_user_filters_include_api_key_subsets(demo_ledger, demo_rows):
    users = sorted({r["user_id"] for r in demo_rows if r["team_id"] == TEAM and r["is_api_key"]})[:3]
    d = _answer(demo_ledger, **APRIL, user_ids=users, include=["modelUsages"])
    ev = _window(demo_rows, A0, A1, users=set(users))
    assert d["totals"]["totalCU"] == _sum(ev)
    assert all(c["isApiKey"] for c in d["consumption"])
    assert sum(m["totalApiKeyCU"] for m in d["modelUsages"]) == sum(m["totalCU"] for m in d["modelUsages"])


@pytest.mark.parametrize("tz", ["UTC", "America/New_York", "Asia/Kolkata", "Australia/Eucla"])
def test_date_only_bounds_cut_whole_local_days(demo_ledger, demo_rows, tz):
    d = _answer(demo_ledger, **APRIL, timezone=tz)
    start = local_day_start(datetime(2026, 4, 1, 12), tz)
    end = local_day_start(datetime(2026, 5, 1, 12), tz)
    assert d["totals"]["totalCU"] == _sum(_window(demo_rows, start, end))
    assert d["totals"]["window"]["from"] == start.isoformat() + "Z"


def test_default_window_is_the_31_days_ending_today(demo_ledger):
    d = _answer(demo_ledger)
    assert (d["totals"]["startDate"], d["totals"]["endDate"]) == ("2026-04-01", "2026-05-01")
    assert d["totals"]["window"]["until"] == "2026-05-02T00:00:00Z"


def test_the_only_team_is_the_default(ledger):
    from conftest import event, table

    ledger.write_events(table([event(1, datetime(2026, 4, 20))]))
    d = usage(ledger, Caller.local(), UsageArgs(), now=NOW).data
    assert d["scope"]["teamId"] == "team_a" and d["totals"]["totalCU"] == 1


def test_a_datetime_end_is_the_instant_the_window_stops(demo_ledger, demo_rows):
    start, end = datetime(2026, 4, 3, 10, 7), datetime(2026, 4, 9, 17, 45, 30)
    d = _answer(demo_ledger, start_date="2026-04-03T10:07:00Z", end_date="2026-04-09T19:45:30+02:00")
    assert d["totals"]["totalCU"] == _sum(_window(demo_rows, start, end))
    assert d["totals"]["window"] == {
        "from": "2026-04-03T10:07:00Z",
        "until": "2026-04-09T17:45:30Z",
        "timezone": "UTC",
    }
    assert d["totals"]["endDate"] == "2026-04-09T19:45:30+02:00"


def test_a_write_is_seen_by_the_next_answer(ledger):
    from conftest import event, table

    args = UsageArgs(start_date="2026-04-01", end_date="2026-04-30")
    ledger.write_events(table([event(1, datetime(2026, 4, 20), cu=Decimal("2"))]))
    first = usage(ledger, Caller.local(), args, now=NOW)
    assert usage(ledger, Caller.local(), args, now=NOW) is first  # cached
    ledger.write_events(table([event(2, datetime(2026, 4, 21), cu=Decimal("3"))]))
    assert usage(ledger, Caller.local(), args, now=NOW).data["totals"]["totalCU"] == 5
