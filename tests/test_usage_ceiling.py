"""The ceilings of CONTRACT §2: complete answers by default, honest cuts beyond the ceiling.

A team with 20,000 identities and 5,000 models passes the default answer's ceiling: whole rows go
from the end, ``sections`` keeps exact remainders (the numbers still add up), the answer says
``truncated: true`` and the hint names the narrowing. A normal team never sees ``truncated``,
and the size of a small team's answer does not grow with its number of events.
"""

from __future__ import annotations

import os
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import event, table
from usagelens import service
from usagelens.auth import Caller
from usagelens.errors import InvalidArgument
from usagelens.jsonout import dumps, num, size_of
from usagelens.ledger.duckdb import DuckDBLedger
from usagelens.query import UsageArgs
from usagelens.report import ceiling
from usagelens.report.ceiling import ANSWER_DEFAULT, SUMMARY_DEFAULT
from usagelens.service import usage

NOW = datetime(2026, 5, 1, 12)
T0 = datetime(2026, 4, 1)
USERS, MODELS, EVENTS = 20_000, 5_000, 40_000
APRIL = {"start_date": "2026-04-01", "end_date": "2026-04-30"}


def _size(d: dict[str, Any]) -> int:
    return len(dumps(d).encode())


def _cu(i: int) -> Decimal:
    return Decimal(i % 997) / 100 + Decimal("0.125")


@pytest.fixture(scope="module")
def huge() -> Any:
    """Team ``big``: 20,000 identities and 5,000 models (named, with e-mails) over April."""
    led = DuckDBLedger(":memory:")
    rows = [
        event(
            i,
            T0 + timedelta(seconds=60 * i),
            team_id="big",
            project_id=f"p{i % 3}",
            user_id=f"user_{i % USERS:05d}",
            model_id=f"model_{i % MODELS:04d}",
            cu=_cu(i),
            discount=Decimal("0.5") if i % 4 == 0 else Decimal(0),
            is_api_key=i % 10 == 0,
        )
        for i in range(EVENTS)
    ]
    led.write_events(table(rows))
    led.upsert_entities(
        "users",
        pa.table(
            {
                "id": [f"user_{i:05d}" for i in range(USERS)],
                "full_name": [f"Person number {i}" for i in range(USERS)],
                "email": [f"person{i}@example.com" for i in range(USERS)],
                "is_api_key": [False] * USERS,
            }
        ),
    )
    led.upsert_entities(
        "models",
        pa.table(
            {
                "id": [f"model_{i:04d}" for i in range(MODELS)],
                "name": [f"Model {i}" for i in range(MODELS)],
                "short_description": [None] * MODELS,
            }
        ),
    )
    yield led, rows
    led.close()


def _answer(led: DuckDBLedger, **kw: Any) -> dict[str, Any]:
    return usage(led, Caller.local(), UsageArgs(team_id="big", **(APRIL | kw)), now=NOW).data


def test_the_defaults_are_the_contracts():
    assert (SUMMARY_DEFAULT, ANSWER_DEFAULT) == (98_304, 4 * 1024 * 1024)


def test_a_huge_team_gets_a_truncated_answer_under_the_ceiling_with_exact_remainders(huge):
    led, rows = huge
    d = _answer(led)
    assert d["truncated"] is True and _size(d) <= SUMMARY_DEFAULT
    assert _size(d) > SUMMARY_DEFAULT - 4096  # the cut keeps as much as fits
    t = d["totals"]
    assert (t["users"], t["models"]) == (USERS, MODELS)
    total_cu = sum((r["cu"] for r in rows), Decimal(0))
    total_discount = sum((r["discount"] for r in rows), Decimal(0))
    assert t["totalCU"] == total_cu and t["totalDiscountCU"] == total_discount
    cut = d["sections"]["consumption"]
    assert cut["shown"] == len(d["consumption"]) > 0 and cut["total"] == USERS
    assert cut["dropped"] == USERS - cut["shown"]
    assert sum(c["value"] for c in d["consumption"]) + cut["remainder"]["value"] == total_cu
    assert sum(c["discount"] for c in d["consumption"]) + cut["remainder"]["discount"] == total_discount
    assert sum(c["total"] for c in d["consumption"]) + cut["remainder"]["total"] == total_cu + total_discount
    models = d["sections"]["modelUsages"]
    assert models["shown"] == len(d["modelUsages"]) > 0 and models["total"] == MODELS
    model_cu = sum((r["cu"] for r in rows), Decimal(0))  # every event has a model here
    assert sum(m["totalCU"] for m in d["modelUsages"]) + models["remainder"]["totalCU"] == model_cu
    jobs = sum(m["totalJobs"] for m in d["modelUsages"]) + models["remainder"]["totalJobs"]
    assert jobs == EVENTS
    # rows went from the end: what is shown is the head of the complete ranking
    ranked = sorted(
        {r["user_id"] for r in rows}, key=lambda u: (-sum(_cu(i) for i in range(int(u[5:]), EVENTS, USERS)), u)
    )
    assert [c["userId"] for c in d["consumption"]] == ranked[: cut["shown"]]
    assert "USAGELENS_MAX_SUMMARY_BYTES" in d["_hint"] and "user_ids" in d["_hint"]
    assert list(d)[-3:] == ["truncated", "sections", "_hint"]


@pytest.mark.parametrize("limit", [ANSWER_DEFAULT, 200_000])
def test_every_count_in_sections_and_entities_describes_the_final_answer(huge, monkeypatch, limit):
    led, _ = huge
    monkeypatch.setenv("USAGELENS_MAX_ANSWER_BYTES", str(limit))
    d = _answer(led, include=["entities", "modelUsages.daily", "activity"], end_date="2026-04-10")
    assert _size(d) <= limit and d["truncated"] is True
    shown_users = {c["userId"] for c in d["consumption"]} | {e["userId"] for e in d["activity"]}
    shown_models = {m["modelId"] for m in d["modelUsages"]} | {e["modelId"] for e in d["activity"]}
    assert {u["id"] for u in d["entities"]["users"]} == shown_users
    assert {m["id"] for m in d["entities"]["models"]} == shown_models
    for key, note in d["sections"].items():
        if "shown" in note:
            assert note["shown"] == len(d[key]) and note["shown"] + note["dropped"] == note["total"], key
    daily = [s["modelId"] for s in d["modelUsages.daily"]]
    assert daily == [m["modelId"] for m in d["modelUsages"]][: len(daily)]
    page = d["activityPagination"]
    assert page["count"] == len(d["activity"]) and page["nextOffset"] == page["count"]


def test_without_entities_the_stub_counts_the_ids_left(huge):
    led, _ = huge
    d = _answer(led)
    ids = len(d["consumption"]) + len(d["modelUsages"])
    assert d["sections"]["entities"]["ids"] == ids


def test_one_users_follow_up_is_complete(huge):
    led, rows = huge
    d = _answer(led, user_ids=["user_00007"])
    assert "truncated" not in d
    mine = [r for r in rows if r["user_id"] == "user_00007"]
    assert d["totals"]["totalCU"] == sum(r["cu"] for r in mine) == d["consumption"][0]["value"]
    assert len(d["modelUsages"]) == len({r["model_id"] for r in mine})


def test_the_ceiling_follows_its_setting_and_refuses_nonsense(huge, monkeypatch):
    led, _ = huge
    monkeypatch.setenv("USAGELENS_MAX_SUMMARY_BYTES", "20000")
    d = _answer(led)
    assert d["truncated"] is True and 16_000 < _size(d) <= 20_000 and "20,000-byte" in d["_hint"]
    monkeypatch.setenv("USAGELENS_MAX_SUMMARY_BYTES", "10MB")
    with pytest.raises(InvalidArgument, match="USAGELENS_MAX_SUMMARY_BYTES: '10MB' is not a byte count"):
        _answer(led)


def test_markdown_stays_compact_and_carries_the_rest_in_an_others_row(huge):
    led, _ = huge
    md = usage(led, Caller.local(), UsageArgs(team_id="big", response_format="markdown", **APRIL), now=NOW).text
    assert len(md.encode()) < 6_000
    assert f"| {USERS - 10:,} others |" in md and f"| {MODELS - 10:,} others |" in md
    assert "The answer was cut to fit its ceiling" in md


@pytest.mark.parametrize("events", [50, 5_000, 50_000])
def test_a_small_teams_answer_does_not_grow_with_its_events(ledger, events):
    rows = [
        event(
            i,
            T0 + timedelta(seconds=(30 * 86400 // events) * i),
            user_id=f"u{i % 5}",
            model_id=f"m{i % 5}",
            cu=Decimal("1.25"),
        )
        for i in range(events)
    ]
    ledger.write_events(table(rows))
    d = usage(ledger, Caller.local(), UsageArgs(**APRIL), now=NOW).data
    assert len(d["consumption"]) == 5 and len(d["modelUsages"]) == 5 and "truncated" not in d
    # a constant plus one row per identity and per model: only the digits of the sums change
    assert 1_800 < _size(d) <= 3_072


def test_long_names_are_shortened(ledger):
    rows = [event(i, datetime(2026, 4, 10, i), user_id=f"u{i}", model_id=f"m{i}") for i in range(10)]
    ledger.write_events(table(rows))
    ledger.upsert_entities(
        "models",
        pa.table({"id": [f"m{i}" for i in range(10)], "name": ["Ω" * 300] * 10, "short_description": [None] * 10}),
    )
    ledger.upsert_entities(
        "users",
        pa.table(
            {
                "id": [f"u{i}" for i in range(10)],
                "full_name": ["é" * 500] * 10,
                "email": [None] * 10,
                "is_api_key": [False] * 10,
            }
        ),
    )
    d = usage(ledger, Caller.local(), UsageArgs(), now=NOW).data
    assert d["modelUsages"][0]["modelName"] == "Ω" * 39 + "…"
    assert d["consumption"][0]["name"] == "é" * 39 + "…"
    assert _size(d) <= 6_000 and "truncated" not in d


EXAMPLES = int(os.environ.get("USAGELENS_FUZZ_EXAMPLES", "30"))
EXPANSIONS = ["usages", "usages.daily", "modelUsages.daily", "nsfwUsages", "activity", "entities"]


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    limit=st.integers(min_value=1024, max_value=400_000),
    include=st.lists(st.sampled_from(EXPANSIONS), unique=True, max_size=6),
    project=st.sampled_from([None, "proj_b_1"]),
)
def test_any_ceiling_keeps_every_promise(demo_ledger, monkeypatch, limit, include, project):
    monkeypatch.setenv("USAGELENS_MAX_SUMMARY_BYTES", str(limit))
    monkeypatch.setenv("USAGELENS_MAX_ANSWER_BYTES", str(limit))
    args = UsageArgs(
        team_id="team_b_0", project_id=project, include=include, start_date="2026-03-01", end_date="2026-04-30"
    )
    d = usage(demo_ledger, Caller.local(), args, now=NOW).data
    lists = [k for k in ("consumption", "modelUsages", "assetUsages", *EXPANSIONS[:-1]) if isinstance(d.get(k), list)]
    if "truncated" not in d:
        assert _size(d) <= limit and not any("shown" in v for v in d["sections"].values())
        assert sum(c["value"] for c in d["consumption"]) == d["totals"]["totalCU"]
        return
    assert d["truncated"] is True
    assert _size(d) <= limit or not any(d[k] for k in lists)  # only the fixed part can pass it
    t = d["totals"]
    for key, note in d["sections"].items():
        if "shown" in note:
            assert note["shown"] == len(d[key]) and note["dropped"] == note["total"] - note["shown"], key
    cut = d["sections"].get("consumption", {"remainder": {"value": 0, "discount": 0}})
    assert sum(c["value"] for c in d["consumption"]) + cut["remainder"]["value"] == t["totalCU"]
    assert sum(c["discount"] for c in d["consumption"]) + cut["remainder"]["discount"] == t["totalDiscountCU"]
    if "modelUsages.daily" in d:
        daily = [s["modelId"] for s in d["modelUsages.daily"]]
        assert daily == [m["modelId"] for m in d["modelUsages"]][: len(daily)]
    if "entities" in d:
        users = {c["userId"] for c in d["consumption"]} | {e["userId"] for e in d.get("activity", [])}
        assert {u["id"] for u in d["entities"]["users"]} == users


_json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**20), max_value=10**20)
    | st.decimals(min_value=-(10**12), max_value=10**12, places=6).map(num)
    | st.text(),
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=8), inner, max_size=5),
    max_leaves=20,
)


@settings(max_examples=EXAMPLES * 10, deadline=None)
@given(_json_values)
def test_size_of_counts_exactly_the_bytes_dumps_writes(value):
    assert size_of(value) == len(dumps(value).encode())


@pytest.mark.parametrize("limit", [1024, 20_000, 90_000, 4_000_000])
def test_measuring_rows_first_gives_the_same_answer_as_writing_it_first(demo_ledger, monkeypatch, limit):
    monkeypatch.setenv("USAGELENS_MAX_ANSWER_BYTES", str(limit))
    args = UsageArgs(team_id="team_b_0", include=EXPANSIONS, start_date="2026-03-01", end_date="2026-04-30")
    texts = []
    for first in (0, 10**9):  # rows measured first (big lists), or the whole answer written first
        monkeypatch.setattr(ceiling, "MEASURE_FIRST", first)
        service._CACHE.clear()
        texts.append(usage(demo_ledger, Caller.local(), args, now=NOW).text)
    assert texts[0] == texts[1]
    assert len(texts[0].encode()) <= limit or '"truncated":true' in texts[0]
