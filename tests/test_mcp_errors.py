"""Every problem with a call comes back as ``isError: true`` with one sentence (CONTRACT §2 errors)."""

from __future__ import annotations

import pytest
from mcp import Client

from mcp_support import TEAM, assert_one_sentence, call, server, text
from usagelens.auth import Caller

pytestmark = pytest.mark.anyio
TEAMS = "team_b_0 (Aurora Studios), team_b_1 (Blue Fox Games), team_b_2 (Cinder Labs), team_b_3 (Dune Interactive)"
T = {"team_id": TEAM}
DATE_FIX = "use YYYY-MM-DD or an ISO 8601 date-time such as 2026-04-01T00:00:00Z."
INCLUDES = "usages, usages.daily, modelUsages.daily, nsfwUsages, activity, entities"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ({**T, "start_date": "2026-13-01"}, f"start_date: '2026-13-01' is not a date; {DATE_FIX}"),
        ({**T, "end_date": "last tuesday"}, f"end_date: 'last tuesday' is not a date; {DATE_FIX}"),
        (
            {**T, "start_date": "2026-04-10", "end_date": "2026-04-01"},
            "end_date (2026-04-01) is before start_date (2026-04-10); swap them or pick a later end_date.",
        ),
        (
            {**T, "start_date": "2024-01-01", "end_date": "2026-04-30"},
            "the window from 2024-01-01 to 2026-04-30 spans 851 days; the maximum is 400 days, so narrow "
            "start_date or end_date.",
        ),
        ({**T, "include": ["usages", "daily"]}, f"include: 'daily' is not a section; use any of {INCLUDES}."),
        (
            {**T, "timezone": "Mars/Olympus"},
            "timezone: 'Mars/Olympus' is not an IANA timezone; use a name such as UTC, Europe/Paris or "
            "America/New_York.",
        ),
        (
            {**T, "activity_offset": 100},
            "activity_offset: 100 only applies to the activity log; add 'activity' to include or drop activity_offset.",
        ),
        (
            {**T, "include": ["activity"], "activity_offset": -5},
            "activity_offset: -5 must be a whole number ≥ 0 (pages hold 100 events: 0, 100, 200, …).",
        ),
        ({}, f"context_missing: team_id is required because you can see 4 teams: {TEAMS}; pass one of them."),
        ({"team_id": "team_zz"}, f"team_id: 'team_zz' is not a team you can see; use one of: {TEAMS}."),
        (
            {**T, "project_ids": ["proj_b_1"], "scope": "team"},
            "context_ambiguous: project_ids cannot be used with scope: team (team scope covers every project); "
            "use scope: "
            "project or drop project_ids.",
        ),
        ({**T, "scope": "org"}, "scope: 'org' is not accepted; use project or team."),
        (
            {**T, "scope": "project"},
            "context_missing: scope: project needs project_id or project_ids; pass one, or use scope: team.",
        ),
        ({**T, "response_format": "html"}, "response_format: 'html' is not accepted; use json or markdown."),
    ],
)
async def test_each_contract_error_is_an_error_result_with_its_sentence(demo_ledger, args, message):
    r = await call(server(demo_ledger), "usage", args)
    assert r.is_error and r.structured_content is None
    assert text(r) == message


async def test_an_unknown_project_lists_the_teams_projects(demo_ledger):
    r = await call(server(demo_ledger), "usage", {**T, "project_id": "proj_b_99"})
    assert r.is_error
    assert text(r).startswith(
        "project_id: 'proj_b_99' is not a project of team team_b_0 that you can see; use one of: proj_b_0 ("
    )
    assert_one_sentence(text(r))


@pytest.mark.parametrize(
    ("tool", "args", "message"),
    [
        (
            "usage",
            {**T, "include": "usages"},
            f"include: 'usages' is not a list; pass a list such as ['usages', 'activity'] (accepted: {INCLUDES}).",
        ),
        (
            "usage",
            {**T, "include": ["activity"], "activity_offset": "ten"},
            "activity_offset: 'ten' must be a whole number ≥ 0 (pages hold 100 events: 0, 100, 200, …).",
        ),
        (
            "usage",
            {**T, "include": ["activity"], "activity_offset": 10.5},
            "activity_offset: 10.5 must be a whole number ≥ 0 (pages hold 100 events: 0, 100, 200, …).",
        ),
        ("usage", {"team_id": 5}, "team_id: 5 is not text; pass a string such as 'team_abc' (see teams_list)."),
        (
            "usage",
            {**T, "include": ["usages", 7]},
            "include: item 2 (7) is not text; pass a list of strings such as ['usages', 'activity'].",
        ),
        (
            "usage",
            {**T, "project_ids": "proj_b_1"},
            "project_ids: 'proj_b_1' is not a list; pass a list such as ['proj_xyz'].",
        ),
        (
            "usage",
            {"teamId": TEAM},
            "teamId is not an argument of usage; use one of: team_id, project_id, scope, project_ids, "
            "user_ids, start_date, end_date, timezone, include, activity_offset, response_format.",
        ),
        ("projects_list", {}, "team_id is required; pass it, e.g. team_id='team_abc' (see teams_list)."),
        ("teams_list", {"response_format": "html"}, "response_format: 'html' is not accepted; use json or markdown."),
        (
            "projects_list",
            {"team_id": "team_b_0", "response_format": ["json"]},
            "response_format: [\"json\"] is not text; pass a string such as 'markdown'.",
        ),
    ],
)
async def test_bad_argument_types_get_one_friendly_sentence(demo_ledger, tool, args, message):
    r = await call(server(demo_ledger), tool, args)
    assert r.is_error and r.structured_content is None
    assert text(r) == message
    assert_one_sentence(text(r))


async def test_a_key_of_one_team_never_learns_of_another(demo_ledger):
    srv = server(demo_ledger, Caller(kind="analytics", team_id="team_b_1"))
    async with Client(srv) as c:
        other = await c.call_tool("usage", {"team_id": "team_b_0"})
        projects = await c.call_tool("projects_list", {"team_id": "team_b_0"})
        missing = await c.call_tool("usage", {"team_id": "team_nope"})
    assert other.is_error and projects.is_error
    assert text(other) == "team_id: 'team_b_0' is not a team you can see; use one of: team_b_1 (Blue Fox Games)."
    assert text(projects) == "team_id: 'team_b_0' is not a team you can see; use one of: team_b_1."
    # an existing team of someone else reads exactly like a team that does not exist
    assert text(missing) == text(other).replace("team_b_0", "team_nope")
    assert "Aurora" not in text(other) + text(projects)


async def test_an_ingest_key_reads_nothing(demo_ledger):
    r = await call(server(demo_ledger, Caller(kind="ingest", team_id=TEAM)), "usage", {})
    assert r.is_error
    assert_one_sentence(text(r))


async def test_a_failing_caller_provider_is_an_error_result(demo_ledger):
    from usagelens.errors import Unauthorized
    from usagelens.surfaces.mcp import build_server

    def nobody() -> Caller:
        raise Unauthorized("the API key or secret is wrong, or the key was revoked")

    r = await call(build_server(demo_ledger, nobody), "teams_list", {})
    assert r.is_error and text(r) == "the API key or secret is wrong, or the key was revoked"


async def test_an_unknown_tool_is_left_to_the_sdk(demo_ledger):
    r = await call(server(demo_ledger), "delete_everything", {})
    assert r.is_error and "delete_everything" in text(r)
