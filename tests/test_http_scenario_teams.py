"""Scenario's team endpoints as the official SDK (strict) sees our server: ``teams.retrieve`` and
``teams.list`` with real ``usersCount`` and ``createdAt`` (computed here from the events of
``scenario_wire``), no existence leak, ``retrieve_limits`` the team budget (a 404 without one); and a live
Scenario account (our server as the upstream) serving sub-hour buckets and its teams' figures.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
import scenario_sdk

from scenario_upstream import account
from scenario_wire import MARCH, OTHER, TEAM, Wire, exact_json, instant, serve
from usagelens.auth import Caller
from usagelens.budgets.registry import add_grant, delete, set_budget
from usagelens.ledger.base import FactQuery
from usagelens.query import UsageArgs
from usagelens.service import usage


@pytest.fixture(scope="module")
def wire() -> Iterator[Wire]:
    with serve() as w:
        yield w


def _users(rows, team: str, project: str | None = None) -> int:
    return len({r["user_id"] for r in rows if r["team_id"] == team and project in (None, r["project_id"])})


def _created(wire: Wire, team: str, project: str | None = None) -> datetime:
    """The first event, or the first key made for the team (project) when that is earlier."""
    first = min(r["time"] for r in wire.rows if r["team_id"] == team and project in (None, r["project_id"]))
    keys = [
        k["created_at"] for k in wire.ledger.api_keys() if k["team_id"] == team and project in (None, k["project_id"])
    ]
    return min([first, *keys])


def _live_keys(wire: Wire, team: str, project: str | None = None) -> set[str]:
    records = wire.ledger.api_keys()
    return {
        k["key_id"]
        for k in records
        if k["team_id"] == team and not k["revoked_at"] and project in (None, k["project_id"])
    }


def test_teams_retrieve_parses_strictly_with_real_users_and_creation(wire):
    raw = wire.sdk().teams.with_raw_response.retrieve(TEAM)
    team = raw.parse().team
    assert team.id == TEAM and instant(team.created_at) == _created(wire, TEAM) == MARCH + timedelta(minutes=7)
    assert json.loads(raw.text())["team"]["context"]["usersCount"] == _users(wire.rows, TEAM) == 7
    assert [p.id for p in team.projects] == ["p1", "p2"]
    assert [instant(p.created_at) for p in team.projects] == [_created(wire, TEAM, "p1"), _created(wire, TEAM, "p2")]
    assert {k.api_key_id for k in team.keys} == _live_keys(wire, TEAM) and len(team.keys) == 2
    assert team.users == [] and team.invitations == [] and team.plan == "enterprise"


def test_teams_list_carries_the_same_real_figures(wire):
    (team,) = wire.sdk().teams.list().teams
    assert team.context.users_count == _users(wire.rows, TEAM) and instant(team.created_at) == _created(wire, TEAM)
    assert team.context.keys_count == len(_live_keys(wire, TEAM))


def test_a_project_key_counts_its_project_only(wire):
    raw = wire.sdk("project").teams.with_raw_response.retrieve(TEAM)
    team = raw.parse().team
    assert [p.id for p in team.projects] == ["p2"]
    assert json.loads(raw.text())["team"]["context"]["usersCount"] == _users(wire.rows, TEAM, "p2") == 2
    assert [k.api_key_id for k in team.keys] == [wire.creds["project"][0]]
    (listed,) = wire.sdk("project").teams.list().teams
    assert listed.context.users_count == 2 and listed.context.keys_count == 1


def test_another_teams_id_reads_exactly_like_an_unknown_one(wire):
    messages = []
    for team_id in (OTHER, "team_nowhere"):
        with pytest.raises(scenario_sdk.NotFoundError) as e:
            wire.sdk().teams.retrieve(team_id)
        assert e.value.body["error"]["code"] == "not_found"
        messages.append(e.value.body["error"]["message"].replace(team_id, "ID"))
    assert messages[0] == messages[1] and "ID" in messages[0]
    assert wire.sdk("other").teams.retrieve(OTHER).team.id == OTHER  # it exists, for its own key


def test_team_limits_are_the_team_budget_parsed_strictly_by_the_sdk(wire):
    with pytest.raises(scenario_sdk.NotFoundError) as e:
        wire.sdk().teams.retrieve_limits(TEAM)
    error = e.value.body["error"]
    assert error["code"] == "not_found" and f"team {TEAM} has no budget" in error["message"]
    set_budget(wire.ledger, Caller.local(), TEAM, cu="5000.5")
    grant = add_grant(wire.ledger, Caller.local(), TEAM, cu="250", starts="2026-01-01", expires="2099-01-01")
    try:
        raw = wire.sdk().teams.with_raw_response.retrieve_limits(TEAM)
        limits = raw.parse()  # strict: every field of TeamRetrieveLimitsResponse, typed
        body = exact_json(raw)
        now = datetime.now(UTC).replace(tzinfo=None)
        month = datetime(now.year, now.month, 1)
        assert (instant(limits.period.start), instant(limits.period.end)) == (
            month,
            datetime(now.year + now.month // 12, now.month % 12 + 1, 1),
        )
        used = sum(
            (r["cu"] for r in wire.rows if r["team_id"] == TEAM and month <= r["time"] < instant(limits.period.end)),
            Decimal(0),
        )
        assert body["limits"]["creativeUnits"] == Decimal("5000.5") and body["values"]["creativeUnits"] == used
        assert limits.values.projects == 2 and limits.values.api_keys == len(_live_keys(wire, TEAM))
        assert limits.limits.seats == 0 and limits.plan == "enterprise"
        (one,) = limits.one_shot_creative_units
        assert (one.amount, one.remaining, instant(one.expiration)) == (250, 250, datetime(2099, 1, 1))
        with pytest.raises(scenario_sdk.PermissionDeniedError):  # wider than a project key's view
            wire.sdk("project").teams.retrieve_limits(TEAM)
        with pytest.raises(scenario_sdk.NotFoundError) as hidden:  # another team's: the team is unknown
            wire.sdk().teams.retrieve_limits(OTHER)
        assert "budget" not in hidden.value.body["error"]["message"]
    finally:
        delete(wire.ledger, Caller.local(), TEAM)
        delete(wire.ledger, Caller.local(), grant.id)


# -- a live Scenario account (our server as the upstream) -----------------------------------


def _key(row: dict[str, Any]) -> tuple:
    return row["day"], row["action"]


def test_a_live_account_serves_sub_hour_buckets_and_its_teams_figures(wire):
    with account(wire.ledger, TEAM) as acc:
        live = acc.open()
        try:
            seen = live.team_activity()[TEAM]
            assert seen["users_count"] == 7 and seen["created_at"] == _created(wire, TEAM)
            for per in ("1m", "15m", "30m"):
                q = FactQuery(
                    TEAM, MARCH + timedelta(hours=5, minutes=3), MARCH + timedelta(days=3), ("day", "action"), per=per
                )
                cols = ["day", "action", "events", "api_events", "cu", "discount", "api_cu", "api_discount"]
                remote = sorted((r for r in live.facts(q).select(cols).to_pylist() if r["events"]), key=_key)
                assert remote == sorted(wire.ledger.facts(q).select(cols).to_pylist(), key=_key) != []
        finally:
            live.close()


def test_a_live_account_shows_its_plan_as_the_team_budget(wire):
    """``usage --source scenario``: the plan's CU (``teams.retrieve_limits``) with the exact use."""
    set_budget(wire.ledger, Caller.local(), TEAM, cu="4000")
    try:
        with account(wire.ledger, TEAM) as acc:
            live = acc.open()
            try:
                answer = usage(live, Caller.local(), UsageArgs(team_id=TEAM)).data
            finally:
                live.close()
        (item,) = answer["budgets"]["items"]
        now = datetime.now(UTC).replace(tzinfo=None)
        month = datetime(now.year, now.month, 1)
        after = datetime(now.year + now.month // 12, now.month % 12 + 1, 1)
        used = sum((r["cu"] for r in wire.rows if r["team_id"] == TEAM and month <= r["time"] < after), Decimal(0))
        assert (item["allowanceCU"], item["usedCU"]) == (4000, used)
        assert item["period"] == {
            "start": month.date().isoformat(),
            "end": (after - timedelta(days=1)).date().isoformat(),
            "timezone": "UTC",
        }
    finally:
        delete(wire.ledger, Caller.local(), TEAM)
