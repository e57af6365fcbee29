"""Every error of CONTRACT §2, each with its exact sentence."""

from __future__ import annotations

from datetime import datetime

import pytest

from usagelens.auth import Caller
from usagelens.errors import InvalidArgument, NotFound
from usagelens.query import UsageArgs
from usagelens.service import list_projects, usage

NOW = datetime(2026, 5, 1, 12)
TEAMS = "team_b_0 (Aurora Studios), team_b_1 (Blue Fox Games), team_b_2 (Cinder Labs), team_b_3 (Dune Interactive)"
T = {"team_id": "team_b_0"}


@pytest.mark.parametrize(
    ("args", "error", "message"),
    [
        (
            {**T, "start_date": "2026-13-01"},
            InvalidArgument,
            "start_date: '2026-13-01' is not a date; use YYYY-MM-DD or an ISO 8601 date-time such as "
            "2026-04-01T00:00:00Z.",
        ),
        (
            {**T, "end_date": "last tuesday"},
            InvalidArgument,
            "end_date: 'last tuesday' is not a date; use YYYY-MM-DD or an ISO 8601 date-time such as "
            "2026-04-01T00:00:00Z.",
        ),
        (
            {**T, "start_date": "2026-04-10", "end_date": "2026-04-01"},
            InvalidArgument,
            "end_date (2026-04-01) is before start_date (2026-04-10); swap them or pick a later end_date.",
        ),
        (
            {**T, "start_date": "2024-01-01", "end_date": "2026-04-30"},
            InvalidArgument,
            "the window from 2024-01-01 to 2026-04-30 spans 851 days; the maximum is 400 days, so narrow "
            "start_date or end_date.",
        ),
        (
            {**T, "include": ["usages", "daily"]},
            InvalidArgument,
            "include: 'daily' is not a section; use any of usages, usages.daily, modelUsages.daily, nsfwUsages, "
            "activity, entities.",
        ),
        (
            {**T, "timezone": "Mars/Olympus"},
            InvalidArgument,
            "timezone: 'Mars/Olympus' is not an IANA timezone; use a name such as UTC, Europe/Paris or "
            "America/New_York.",
        ),
        (
            {**T, "activity_offset": 100},
            InvalidArgument,
            "activity_offset: 100 only applies to the activity log; add 'activity' to include or drop activity_offset.",
        ),
        (
            {**T, "include": ["activity"], "activity_offset": -5},
            InvalidArgument,
            "activity_offset: -5 must be a whole number ≥ 0 (pages hold 100 events: 0, 100, 200, …).",
        ),
        (
            {},
            InvalidArgument,
            f"context_missing: team_id is required because you can see 4 teams: {TEAMS}; pass one of them.",
        ),
        (
            {"team_id": "team_zz"},
            NotFound,
            f"team_id: 'team_zz' is not a team you can see; use one of: {TEAMS}.",
        ),
        (
            {**T, "project_id": "proj_b_99"},
            NotFound,
            "project_id: 'proj_b_99' is not a project of team team_b_0 that you can see; use one of: ",
        ),
        (
            {**T, "project_ids": ["proj_b_1"], "scope": "team"},
            InvalidArgument,
            "context_ambiguous: project_ids cannot be used with scope: team (team scope covers every project); "
            "use scope: "
            "project or drop project_ids.",
        ),
        ({**T, "scope": "org"}, InvalidArgument, "scope: 'org' is not accepted; use project or team."),
        (
            {**T, "scope": "project"},
            InvalidArgument,
            "context_missing: scope: project needs project_id or project_ids; pass one, or use scope: team.",
        ),
        (
            {**T, "response_format": "html"},
            InvalidArgument,
            "response_format: 'html' is not accepted; use json or markdown.",
        ),
    ],
)
def test_each_bad_argument_gets_its_sentence(demo_ledger, args, error, message):
    with pytest.raises(error) as e:
        usage(demo_ledger, Caller.local(), UsageArgs(**args), now=NOW)
    assert str(e.value).startswith(message)
    assert "\n" not in str(e.value) and "Traceback" not in str(e.value)


def test_a_key_of_one_team_never_learns_of_another(demo_ledger):
    caller = Caller(kind="analytics", team_id="team_b_1")
    with pytest.raises(NotFound) as e:
        usage(demo_ledger, caller, UsageArgs(team_id="team_b_0"), now=NOW)
    assert str(e.value) == "team_id: 'team_b_0' is not a team you can see; use one of: team_b_1 (Blue Fox Games)."
    assert "team_b_0 (" not in str(e.value) and "Aurora" not in str(e.value)
    d = usage(demo_ledger, caller, UsageArgs(start_date="2026-04-01", end_date="2026-04-30"), now=NOW).data
    assert d["scope"]["teamId"] == "team_b_1"


def test_a_project_key_sees_its_project_only(demo_ledger, demo_rows):
    caller = Caller(kind="project", team_id="team_b_0", project_id="proj_b_1")
    d = usage(demo_ledger, caller, UsageArgs(start_date="2026-04-01", end_date="2026-04-30"), now=NOW).data
    want = sum(
        r["cu"]
        for r in demo_rows
        if r["project_id"] == "proj_b_1" and datetime(2026, 4, 1) <= r["time"] < datetime(2026, 5, 1)
    )
    assert d["totals"]["totalCU"] == want
    with pytest.raises(NotFound):
        usage(demo_ledger, caller, UsageArgs(project_id="proj_b_2"), now=NOW)


def test_an_ingest_key_reads_nothing(demo_ledger):
    with pytest.raises(NotFound):
        usage(demo_ledger, Caller(kind="ingest", team_id="team_b_0"), UsageArgs(), now=NOW)


def test_list_projects_of_an_unknown_team_names_only_visible_teams(demo_ledger):
    with pytest.raises(NotFound) as e:
        list_projects(demo_ledger, Caller(kind="analytics", team_id="team_b_1"), "team_b_0")
    assert str(e.value) == "team_id: 'team_b_0' is not a team you can see; use one of: team_b_1."
