"""Expansions: each one's shape, its reconciliation with the summary, paging and the answer ceiling."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from decimal import Decimal

from usagelens.auth import Caller
from usagelens.jsonout import dumps
from usagelens.query import UsageArgs
from usagelens.service import usage

TEAM = "team_b_0"
NOW = datetime(2026, 5, 1, 12)
APRIL = dict(team_id=TEAM, start_date="2026-04-01", end_date="2026-04-30")
A0, A1 = datetime(2026, 4, 1), datetime(2026, 5, 1)


def _answer(led, **kw):
    return usage(led, Caller.local(), UsageArgs(**(APRIL | kw)), now=NOW).data


def _ev(rows, start=A0, end=A1):
    return [r for r in rows if r["team_id"] == TEAM and start <= r["time"] < end]


def test_usages_split_the_total_by_usage_type(demo_ledger, demo_rows):
    d = _answer(demo_ledger, include=["usages"])
    per = defaultdict(lambda: [0, Decimal(0)])
    for r in _ev(demo_rows):
        per[r["action"]][0] += 1
        per[r["action"]][1] += r["cu"]
    assert {u["usageName"]: (u["count"], u["cu"]) for u in d["usages"]} == {k: tuple(v) for k, v in per.items()}
    assert [u["cu"] for u in d["usages"]] == sorted((u["cu"] for u in d["usages"]), reverse=True)
    assert sum(u["cu"] for u in d["usages"]) == d["totals"]["totalCU"]
    assert "usages" not in d["sections"]


def test_daily_usage_points_add_up_and_leave_out_zero_days(demo_ledger, demo_rows):
    d = _answer(demo_ledger, include=["usages", "usages.daily"], timezone="Europe/Paris")
    by_name = {u["usageName"]: u for u in d["usages"]}
    for series in d["usages.daily"]:
        points = series["points"]
        assert all(p["count"] > 0 for p in points)
        assert sum(p["cost"] for p in points) == by_name[series["usageName"]]["cu"]
        assert sum(p["count"] for p in points) == by_name[series["usageName"]]["count"]
        assert [p["time"] for p in points] == sorted(p["time"] for p in points)
    # days are Paris days: 2026-04-02 starts at 2026-04-01T22:00Z (CEST)
    assert any(p["time"] == "2026-04-01T22:00:00Z" for s in d["usages.daily"] for p in s["points"])


def test_model_daily_covers_exactly_the_listed_models_and_adds_up(demo_ledger):
    d = _answer(demo_ledger, include=["modelUsages.daily"])
    assert [s["modelId"] for s in d["modelUsages.daily"]] == [m["modelId"] for m in d["modelUsages"]]
    for s, m in zip(d["modelUsages.daily"], d["modelUsages"], strict=True):
        assert sum(p["cost"] for p in s["points"]) == m["totalCU"]
        assert sum(p["jobs"] for p in s["points"]) == m["totalJobs"]
        assert sum(p["apiKeyCost"] for p in s["points"]) == m["totalApiKeyCU"]
    everything = _answer(demo_ledger, include=["modelUsages", "modelUsages.daily"], start_date="2026-04-29")
    n = everything["totals"]["models"]
    assert len(everything["modelUsages.daily"]) == n == len(everything["modelUsages"])


def test_an_answer_over_its_ceiling_drops_whole_rows_and_says_so(demo_ledger, monkeypatch):
    whole = _answer(demo_ledger, include=["modelUsages.daily"])
    assert "truncated" not in whole and len(dumps(whole).encode()) > 64 * 1024
    monkeypatch.setenv("USAGELENS_MAX_ANSWER_BYTES", str(64 * 1024))
    d = _answer(demo_ledger, include=["modelUsages.daily"])
    assert len(dumps(d).encode()) <= 64 * 1024 and d["truncated"] is True
    cut = d["sections"]["modelUsages.daily"]
    assert cut["shown"] == len(d["modelUsages.daily"]) < cut["total"] == d["totals"]["models"]
    assert cut["dropped"] == cut["total"] - cut["shown"]
    kept = [m["modelId"] for m in d["modelUsages"]]
    assert [s["modelId"] for s in d["modelUsages.daily"]] == kept[: cut["shown"]]
    # the dropped series' points are summed in the remainder, so the days still add up
    dropped = whole["modelUsages.daily"][cut["shown"] :]
    for key in ("cost", "jobs", "discount", "apiKeyCost"):
        assert cut["remainder"][key] == sum(p[key] for s in dropped for p in s["points"])
    assert "USAGELENS_MAX_ANSWER_BYTES" in d["_hint"] and "a window of at most" in d["_hint"]
    # the summary ceiling does not apply to an answer with expansions, and the default answer is whole
    assert "truncated" not in _answer(demo_ledger)


def test_nsfw_usages_list_nonzero_labels(demo_ledger, demo_rows):
    d = _answer(demo_ledger, include=["nsfwUsages"])
    counts = defaultdict(int)
    for r in _ev(demo_rows):
        for label in r["nsfw"] or []:
            counts[label] += 1
    assert {n["label"]: n["count"] for n in d["nsfwUsages"]} == dict(counts)
    assert all(n["count"] > 0 for n in d["nsfwUsages"])


def test_activity_pages_to_the_end_newest_first_without_gaps(demo_ledger, demo_rows):
    want = sorted(_ev(demo_rows), key=lambda r: (r["time"], r["id"]), reverse=True)
    seen, offset = [], 0
    while offset is not None:
        d = _answer(demo_ledger, include=["activity"], activity_offset=offset)
        page = d["activity"]
        assert d["activityPagination"]["offset"] == offset
        assert d["activityPagination"]["count"] == len(page) <= 100
        seen += page
        offset = d["activityPagination"]["nextOffset"]
        assert "truncated" not in d
    assert [(e["userId"], e["creativeUnitsCost"]) for e in seen] == [(r["user_id"], r["cu"]) for r in want]
    assert seen[0]["time"] >= seen[-1]["time"]
    assert d["_hint"] and "activity_offset" not in d["_hint"]


def test_the_hint_points_at_the_next_activity_page(demo_ledger):
    d = _answer(demo_ledger, include=["activity"])
    assert d["activityPagination"]["nextOffset"] == 100
    assert "activity_offset=100" in d["_hint"]


def test_entities_cover_only_referenced_ids_without_urls(demo_ledger):
    d = _answer(demo_ledger, include=["activity", "entities"], project_id="proj_b_1")
    ents = d["entities"]
    users = {c["userId"] for c in d["consumption"]} | {e["userId"] for e in d["activity"]}
    models = {m["modelId"] for m in d["modelUsages"]} | {e["modelId"] for e in d["activity"] if e["modelId"]}
    assert {u["id"] for u in ents["users"]} == users
    assert {m["id"] for m in ents["models"]} == models
    assert {p["id"] for p in ents["projects"]} == {"proj_b_1"}
    assert set(ents["users"][0]) == {"id", "fullName", "email", "isApiKey"}
    assert "http" not in dumps(ents)


def test_sections_stubs_carry_real_counts(demo_ledger, demo_rows):
    d = _answer(demo_ledger)
    ev = _ev(demo_rows)
    s = d["sections"]
    assert s["activity"] == {"events": len(ev), "pages": -(-len(ev) // 100), "include": "activity"}
    assert s["usages"] == {"rows": len({r["action"] for r in ev}), "include": "usages"}
    assert s["usages.daily"] == {
        "series": len({r["action"] for r in ev}),
        "days": 30,
        "include": "usages.daily",
    }
    assert s["modelUsages.daily"] == {
        "series": len(d["modelUsages"]),
        "days": 30,
        "include": "modelUsages.daily",
    }
    assert s["nsfwUsages"]["events"] == sum(len(r["nsfw"] or []) for r in ev)
    assert d["_hint"].startswith(f"{d['totals']['models']:,} models were used; include=['modelUsages.daily']")


def test_complete_lists_replace_the_cut_ones(demo_ledger):
    d = _answer(demo_ledger, include=["consumption"])
    assert len(d["consumption"]) == d["totals"]["users"]
    assert sum(c["value"] for c in d["consumption"]) == d["totals"]["totalCU"]
    assert "consumption" not in d["sections"]
