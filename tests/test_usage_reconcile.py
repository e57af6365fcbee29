"""Scenario's clients accept our answers: the reconciliation rules they apply, checked on a store
with 100+ identities and 400+ models per team, against an independent sum over the events.

The rules (CONTRACT §2, written from what Scenario's admin-analytics skill validates, not from
our code): ``totalCU == Σ consumption.value`` (and the discount and before-discount sums),
``modelUsages`` is the complete model list, every model's ``modelUsages.daily`` points add up to
its row, per-user follow-up answers add up to the parent's models, only the seed's six
``include`` values exist, and a complete answer carries no ``truncated`` key.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pyarrow as pa
import pytest

from usagelens.auth import Caller
from usagelens.demo import DemoSpec, demo_entities, demo_events
from usagelens.ledger.duckdb import DuckDBLedger
from usagelens.query import INCLUDES, UsageArgs
from usagelens.service import usage

SPEC = DemoSpec(seed=7, events=150_000, days=120, end=date(2026, 4, 30))
NOW = datetime(2026, 5, 1, 12)
TEAM = "team_7_0"
SEED_INCLUDES = ("usages", "usages.daily", "modelUsages.daily", "nsfwUsages", "activity", "entities")
WINDOWS = {  # name -> (start_date, end_date)
    "one day": ("2026-04-30", "2026-04-30"),
    "a week": ("2026-04-24", "2026-04-30"),
    "a month": ("2026-03-31", "2026-04-30"),
    "120 days": ("2026-01-01", "2026-04-30"),
}


@pytest.fixture(scope="module")
def store() -> Any:
    led = DuckDBLedger(":memory:")
    for kind, t in demo_entities(SPEC).items():
        led.upsert_entities(kind, t)
    batches = list(demo_events(SPEC))
    for b in batches:
        led.write_events(b)
    rows = [r for r in pa.concat_tables(batches).to_pylist() if r["team_id"] == TEAM]
    yield led, rows
    led.close()


def _answer(led: DuckDBLedger, **kw: Any) -> dict[str, Any]:
    return usage(led, Caller.local(), UsageArgs(team_id=TEAM, **kw), now=NOW).data


def _events(rows, start: str, end: str, projects=None, users=None) -> list[dict[str, Any]]:
    lo = datetime.fromisoformat(start)
    hi = datetime.fromisoformat(end) + timedelta(days=1)
    return [
        r
        for r in rows
        if lo <= r["time"] < hi
        and (projects is None or r["project_id"] in projects)
        and (users is None or r["user_id"] in users)
    ]


def _per_model(events) -> dict[str, tuple]:
    """Model id -> (CU, jobs, API-key CU, discount, API-key discount), summed independently."""
    acc: dict[str, list] = defaultdict(lambda: [Decimal(0), 0, Decimal(0), Decimal(0), Decimal(0)])
    for r in events:
        if r["model_id"] is None:
            continue
        m = acc[r["model_id"]]
        m[0] += r["cu"]
        m[1] += int(r["job_id"] is not None and r["action"] != "refunds")
        m[2] += r["cu"] if r["is_api_key"] else 0
        m[3] += r["discount"]
        m[4] += r["discount"] if r["is_api_key"] else 0
    return {k: tuple(v) for k, v in acc.items()}


def _model_rows(d) -> dict[str, tuple]:
    return {
        m["modelId"]: (
            m["totalCU"],
            m["totalJobs"],
            m["totalApiKeyCU"],
            m["totalDiscountCU"],
            m["totalApiKeyDiscountCU"],
        )
        for m in d["modelUsages"]
    }


def scenario_client_accepts(d: dict[str, Any]) -> None:
    """What a reconciling client checks before it reports an answer."""
    t = d["totals"]
    assert "truncated" not in d, "an incomplete answer"
    assert t["totalCU"] == sum((c["value"] for c in d["consumption"]), Decimal(0)), "Metrics do not reconcile: totalCU"
    assert t["totalDiscountCU"] == sum((c["discount"] for c in d["consumption"]), Decimal(0))
    assert t["totalBeforeDiscountCU"] == sum((c["total"] for c in d["consumption"]), Decimal(0))
    assert all(c["total"] == c["value"] + c["discount"] for c in d["consumption"])
    assert len(d["consumption"]) == t["users"] and len(d["modelUsages"]) == t["models"]
    assert len({c["userId"] for c in d["consumption"]}) == t["users"]
    values = [c["value"] for c in d["consumption"]]
    assert values == sorted(values, reverse=True)
    cus = [m["totalCU"] for m in d["modelUsages"]]
    assert cus == sorted(cus, reverse=True)
    assert not ({"consumption", "modelUsages"} & set(d["sections"]))
    if "modelUsages.daily" in d:
        rows = _model_rows(d)
        assert [s["modelId"] for s in d["modelUsages.daily"]] == [m["modelId"] for m in d["modelUsages"]]
        for s in d["modelUsages.daily"]:
            p = s["points"]
            sums = tuple(sum((x[k] for x in p), Decimal(0)) for k in ("cost", "jobs", "apiKeyCost", "discount"))
            assert sums + (sum((x["apiKeyDiscount"] for x in p), Decimal(0)),) == rows[s["modelId"]], s["modelId"]
    if "activity" in d:
        page = d["activityPagination"]
        assert set(page) == {"offset", "count", "nextOffset"} and page["count"] == len(d["activity"])
        assert page["nextOffset"] == (page["offset"] + 100 if page["count"] == 100 else None)


def test_the_store_is_realistically_large(store):
    led, _ = store
    d = _answer(led, start_date="2026-01-01", end_date="2026-04-30")
    assert d["totals"]["users"] >= 100 and d["totals"]["models"] >= 400


def test_include_offers_exactly_the_seeds_six_values():
    assert INCLUDES == SEED_INCLUDES


@pytest.mark.parametrize("window", WINDOWS, ids=str)
@pytest.mark.parametrize("scope", ["team", "project"])
@pytest.mark.parametrize("filtered", [False, True], ids=["all users", "user_ids"])
def test_default_answers_reconcile_with_the_events(store, window, scope, filtered):
    led, rows = store
    start, end = WINDOWS[window]
    projects = ("proj_7_0",) if scope == "project" else None
    users = ("user_7_32", "key_7_205", "user_7_9") if filtered else None
    kw: dict[str, Any] = {"start_date": start, "end_date": end}
    if projects:
        kw |= {"scope": "project", "project_ids": list(projects)}
    if users:
        kw["user_ids"] = list(users)
    d = _answer(led, **kw)
    scenario_client_accepts(d)
    ev = _events(rows, start, end, projects, users)
    assert ev, "the case must hold events"
    assert d["totals"]["totalCU"] == sum((r["cu"] for r in ev), Decimal(0))
    assert _model_rows(d) == _per_model(ev)
    per_user: dict[str, Decimal] = defaultdict(Decimal)
    for r in ev:
        per_user[r["user_id"]] += r["cu"]
    assert {c["userId"]: c["value"] for c in d["consumption"]} == per_user


@pytest.mark.parametrize("scope", ["team", "project"])
def test_a_three_month_model_daily_reconciles_per_model(store, scope):
    led, rows = store
    kw: dict[str, Any] = {"start_date": "2026-02-01", "end_date": "2026-04-30", "include": ["modelUsages.daily"]}
    if scope == "project":
        kw |= {"project_id": "proj_7_1"}
    d = _answer(led, **kw)
    scenario_client_accepts(d)
    assert len(d["modelUsages.daily"]) >= (400 if scope == "team" else 100)
    ev = _events(rows, "2026-02-01", "2026-04-30", ("proj_7_1",) if scope == "project" else None)
    daily: dict[tuple[str, str], Decimal] = defaultdict(Decimal)
    for r in ev:
        if r["model_id"]:
            daily[(r["model_id"], r["time"].date().isoformat())] += r["cu"]
    got = {(s["modelId"], p["time"][:10]): p["cost"] for s in d["modelUsages.daily"] for p in s["points"]}
    assert got == {k: v for k, v in daily.items() if k in got} and set(got) <= set(daily)
    # zero points are left out, and only those: every day with an event of the model is there
    active = {(r["model_id"], r["time"].date().isoformat()) for r in ev if r["model_id"]}
    assert set(got) == active


def test_per_user_follow_ups_add_up_to_the_parent_answer(store):
    led, _ = store
    window = {"start_date": "2026-03-31", "end_date": "2026-04-30"}
    parent = _answer(led, **window)
    models: dict[str, list] = defaultdict(lambda: [Decimal(0), 0, Decimal(0), Decimal(0), Decimal(0)])
    total = Decimal(0)
    for c in parent["consumption"]:
        child = _answer(led, **window, user_ids=[c["userId"]])
        scenario_client_accepts(child)
        assert [x["value"] for x in child["consumption"]] == [c["value"]]
        total += child["totals"]["totalCU"]
        for model, figures in _model_rows(child).items():
            models[model] = [a + b for a, b in zip(models[model], figures, strict=True)]
    assert total == parent["totals"]["totalCU"]
    assert {k: tuple(v) for k, v in models.items()} == _model_rows(parent)


def test_every_expansion_together_still_reconciles(store):
    led, _ = store
    d = _answer(led, start_date="2026-03-31", end_date="2026-04-30", include=list(SEED_INCLUDES))
    scenario_client_accepts(d)
    assert {u["id"] for u in d["entities"]["users"]} >= {c["userId"] for c in d["consumption"]}
    assert {m["id"] for m in d["entities"]["models"]} >= {m["modelId"] for m in d["modelUsages"]}
    assert sum((u["cu"] for u in d["usages"]), Decimal(0)) == d["totals"]["totalCU"]
