"""The MCP tools through the SDK's in-memory client: definitions, the seed examples, formats, paging."""

from __future__ import annotations

import json
import os
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from mcp import Client

from conftest import event, table
from mcp_support import NOW, TEAM, call, compact_size, exact, server, text
from usagelens.auth import Caller
from usagelens.query import UsageArgs
from usagelens.service import list_projects, list_teams, usage

pytestmark = pytest.mark.anyio
SNAPSHOT = Path(__file__).parent / "snapshots" / "mcp_tools.json"
MONTH = {"team_id": TEAM, "start_date": "2026-04-01", "end_date": "2026-04-30"}


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def _args(**kw) -> UsageArgs:
    return UsageArgs(**{**kw, "include": kw.get("include", [])})


async def test_tools_list_matches_the_snapshot(demo_ledger):
    async with Client(server(demo_ledger)) as c:
        tools = (await c.list_tools()).tools
    listed = [t.model_dump(mode="json", by_alias=True, exclude_none=True) for t in tools]
    got = [
        {k: t[k] for k in ("name", "title", "description", "inputSchema", "annotations", "outputSchema")}
        for t in listed
    ]
    if os.environ.get("UPDATE_SNAPSHOTS"):
        SNAPSHOT.write_text(json.dumps(got, indent=1, ensure_ascii=False) + "\n")
    assert got == json.loads(SNAPSHOT.read_text())


async def test_tool_definitions_are_read_only_described_and_small(demo_ledger):
    async with Client(server(demo_ledger)) as c:
        tools = {t.name: t for t in (await c.list_tools()).tools}
    assert list(tools) == ["usage", "teams_list", "projects_list", "team_members_list"]
    for t in tools.values():
        a = t.annotations
        assert (a.read_only_hint, a.idempotent_hint, a.open_world_hint, a.destructive_hint) == (True, True, True, False)
        assert t.title and t.output_schema and t.output_schema["type"] == "object"
        props = t.input_schema["properties"]
        assert all(p.get("description") for p in props.values()), t.name
        assert "title" not in json.dumps(t.input_schema)
    assert list(tools["usage"].input_schema["properties"]) == [
        "team_id",
        "project_id",
        "scope",
        "project_ids",
        "user_ids",
        "start_date",
        "end_date",
        "timezone",
        "include",
        "activity_offset",
        "response_format",
    ]
    assert tools["projects_list"].input_schema["required"] == ["team_id"]
    for part in ("Args:", "Returns:", "Examples:", "Don't use when:"):
        assert part in tools["usage"].description
    definitions = [t.model_dump(mode="json", by_alias=True, exclude_none=True) for t in tools.values()]
    without_output = [{k: v for k, v in d.items() if k != "outputSchema"} for d in definitions]
    assert compact_size(without_output) <= 4_900  # four tools; they cost tokens on every turn


async def test_show_usage_for_this_month(demo_ledger):
    r = await call(
        server(demo_ledger), "usage", {"start_date": "2026-04-01", "end_date": "2026-04-30", "team_id": TEAM}
    )
    want = usage(demo_ledger, Caller.local(), _args(**MONTH), now=NOW)
    assert not r.is_error
    assert exact(r.structured_content) == want.data
    assert text(r) == want.text  # the compact JSON
    assert r.structured_content["totals"]["startDate"] == "2026-04-01"
    assert r.structured_content["totals"]["window"] == {
        "from": "2026-04-01T00:00:00Z",
        "until": "2026-05-01T00:00:00Z",
        "timezone": "UTC",
    }


async def test_what_models_cost_me_the_most_is_the_default_call(demo_ledger):
    r = await call(server(demo_ledger), "usage", {"team_id": TEAM})
    d = r.structured_content
    assert not r.is_error and d["totals"]["endDate"] == "2026-05-01"  # the 31 days ending today
    cu = [m["totalCU"] for m in d["modelUsages"]]
    assert len(cu) >= 3 and cu == sorted(cu, reverse=True)
    assert all(m["modelName"] for m in d["modelUsages"])
    assert len(cu) == d["totals"]["models"] and "truncated" not in d  # the complete model list
    assert sum(c["value"] for c in exact(d)["consumption"]) == exact(d)["totals"]["totalCU"]
    assert exact(d) == usage(demo_ledger, Caller.local(), _args(team_id=TEAM), now=NOW).data


async def test_break_down_model_cu_by_day(demo_ledger):
    r = await call(server(demo_ledger), "usage", {**MONTH, "include": ["modelUsages.daily"]})
    d = exact(r.structured_content)
    daily = d["modelUsages.daily"]
    assert [s["modelId"] for s in daily] == [m["modelId"] for m in d["modelUsages"]]
    for series, row in zip(daily, d["modelUsages"], strict=True):
        assert sum((p["cost"] for p in series["points"]), Decimal(0)) == row["totalCU"]
    assert "modelUsages.daily" not in d["sections"]


async def test_give_me_the_raw_event_log_then_the_next_page(demo_ledger):
    srv = server(demo_ledger)
    async with Client(srv) as c:
        first = (await c.call_tool("usage", {**MONTH, "include": ["activity"]})).structured_content
        second = (
            await c.call_tool("usage", {**MONTH, "include": ["activity"], "activity_offset": 100})
        ).structured_content
    assert len(first["activity"]) == 100
    assert first["activityPagination"] == {"offset": 0, "count": 100, "nextOffset": 100}
    assert "activity_offset=100" in first["_hint"]
    assert second["activityPagination"]["offset"] == 100
    assert first["activity"][-1]["time"] >= second["activity"][0]["time"]  # newest first across pages


async def test_activity_pages_run_to_the_end(demo_ledger):
    window = {"team_id": TEAM, "start_date": "2026-04-28", "end_date": "2026-04-29"}
    srv = server(demo_ledger)
    events, offset, pages = [], 0, 0
    async with Client(srv) as c:
        expected = (await c.call_tool("usage", window)).structured_content["sections"]["activity"]["events"]
        while offset is not None:
            r = await c.call_tool("usage", {**window, "include": ["activity"], "activity_offset": offset})
            assert not r.is_error, text(r)
            page = r.structured_content
            events += page["activity"]
            offset = page["activityPagination"]["nextOffset"]
            pages += 1
    assert expected == len(events) > 300 and pages == expected // 100 + 1
    assert [e["time"] for e in events] == sorted((e["time"] for e in events), reverse=True)
    assert len({json.dumps(e, sort_keys=True) for e in events}) == len(events)


async def test_markdown_answers_in_the_text_and_keeps_the_structured_json(demo_ledger):
    r = await call(server(demo_ledger), "usage", {**MONTH, "response_format": "markdown"})
    want = usage(demo_ledger, Caller.local(), _args(**MONTH, response_format="markdown"), now=NOW)
    assert not r.is_error and text(r) == want.text and text(r).startswith("# Usage ")
    assert exact(r.structured_content) == want.data


async def test_every_expansion_comes_back_structured(demo_ledger):
    include = ["usages", "usages.daily", "nsfwUsages", "entities", "consumption", "modelUsages"]
    r = await call(server(demo_ledger), "usage", {**MONTH, "include": include})
    want = usage(demo_ledger, Caller.local(), _args(**MONTH, include=include), now=NOW)
    assert not r.is_error and exact(r.structured_content) == want.data
    # 'consumption' and 'modelUsages' are accepted and ignored: those lists are always complete
    plain = usage(demo_ledger, Caller.local(), _args(**MONTH, include=include[:4]), now=NOW)
    assert want.data == plain.data and "truncated" not in want.data


@pytest.mark.parametrize(
    ("cus", "total"),
    [(["0.1", "0.2"], "0.3"), (["0.1", "0.2", "1234567.891011", "-0.000001"], "1234568.19101")],
)
async def test_cu_reach_the_client_as_exact_decimals(ledger, cus, total):
    t = datetime(2026, 4, 10, 12)
    ledger.write_events(table([event(i, t + timedelta(minutes=i), cu=Decimal(v)) for i, v in enumerate(cus)]))
    r = await call(server(ledger), "usage", {"start_date": "2026-04-01", "end_date": "2026-04-30"})
    got = r.structured_content["totals"]["totalCU"]
    assert json.dumps(got) == total  # never 0.30000000000000004
    assert exact(r.structured_content)["totals"]["totalCU"] == sum(Decimal(v) for v in cus)
    assert f'"totalCU":{total},' in text(r)


async def test_teams_list_and_projects_list(demo_ledger):
    srv = server(demo_ledger)
    async with Client(srv) as c:
        teams = await c.call_tool("teams_list", {})
        md = await c.call_tool("teams_list", {"response_format": "markdown"})
        projects = await c.call_tool("projects_list", {"team_id": "team_b_1"})
    assert exact(teams.structured_content) == list_teams(demo_ledger, Caller.local()).data
    assert [t["id"] for t in teams.structured_content["teams"]] == ["team_b_0", "team_b_1", "team_b_2", "team_b_3"]
    assert text(md) == list_teams(demo_ledger, Caller.local(), "markdown").text
    assert projects.structured_content == list_projects(demo_ledger, Caller.local(), "team_b_1").data
    assert text(projects) == list_projects(demo_ledger, Caller.local(), "team_b_1").text


async def test_a_key_sees_its_own_team_only(demo_ledger):
    srv = server(demo_ledger, Caller(kind="analytics", team_id="team_b_1"))
    async with Client(srv) as c:
        teams = (await c.call_tool("teams_list", {})).structured_content
        mine = (await c.call_tool("usage", {"start_date": "2026-04-01", "end_date": "2026-04-30"})).structured_content
    assert [t["id"] for t in teams["teams"]] == ["team_b_1"]
    assert mine["scope"]["teamId"] == "team_b_1"
