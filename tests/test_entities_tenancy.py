"""Entities are per-team views (CONTRACT §4), through the real server and the MCP tools.

A name written with a team's ingest key is that team's view of the id; a name written locally
(no key) is the shared default every team falls back to; no key reads or changes another
team's names. Two servers share one store: one requires keys (teams), one is keyless (local).
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import anyio
import httpx
import pytest

from conftest import event, table
from http_server import serving
from mcp_support import call, server
from usagelens.auth import Caller, KeyStore
from usagelens.ledger.duckdb import DuckDBLedger
from usagelens.surfaces.http import create_app

TEAMS = ("team_a", "team_b")
KINDS = ("users", "models", "jobs", "assets")
MONTH = {"start_date": "2026-04-01", "end_date": "2026-04-30"}
T0 = datetime(2026, 4, 10, 12)


def _ids(kind: str) -> dict[str, str]:
    """The id of ``kind`` only team A cites, only team B cites, and the one both cite."""
    p = kind[0]
    return {"a": f"{p}_a", "b": f"{p}_b", "shared": f"{p}_shared"}


def _cited(kind: str, team: str) -> list[str]:
    ids = _ids(kind)
    return sorted([ids[team[-1]], ids["shared"]])


def _record(kind: str, id_: str, label: str) -> dict[str, Any]:
    """A record of ``kind`` whose visible fields say ``label``."""
    return {
        "users": {"id": id_, "fullName": f"{label} {id_}", "email": f"{id_}@{label}.example", "isApiKey": False},
        "models": {"id": id_, "name": f"{label} {id_}"},
        "jobs": {"id": id_, "jobType": "image-generation", "status": "success" if label == "default" else "failure"},
        "assets": {"id": id_, "kind": "image", "source": f"{label} {id_}"},
    }[kind]


def _seen_shape(kind: str, id_: str, label: str) -> Any:
    """What ``usage``'s ``entities`` shows of a record made by ``_record``."""
    r = _record(kind, id_, label)
    return {
        "users": (r.get("fullName"), r.get("email")),
        "models": r.get("name"),
        "jobs": r.get("status"),
        "assets": r.get("source"),
    }[kind]


@dataclass
class World:
    ledger: DuckDBLedger
    keyed: str  # base URL of the server that requires keys
    local: str  # base URL of the keyless server (the store's owner)
    ingest: dict[str, str]
    analytics: dict[str, str]

    def put(self, writer: str, kind: str, records: list[dict[str, Any]]) -> httpx.Response:
        """``PUT /v1/entities/{kind}`` as ``writer`` (``local``, or a team's ingest key)."""
        if writer == "local":
            return httpx.put(f"{self.local}/v1/entities/{kind}", json=records, timeout=30)
        return httpx.put(f"{self.keyed}/v1/entities/{kind}", json=records, headers=_auth(self.ingest[writer]))

    def get(self, viewer: str, path: str, **params: Any) -> dict[str, Any]:
        """A read as ``viewer`` (a team's analytics key); asserts it succeeded."""
        r = httpx.get(self.keyed + path, params=params, headers=_auth(self.analytics[viewer]), timeout=30)
        assert r.status_code == 200, r.text
        return r.json()


def _auth(cred: str) -> dict[str, str]:
    return {"authorization": "Basic " + base64.b64encode(cred.encode()).decode()}


def _events() -> list[dict[str, Any]]:
    rows = []
    for team in TEAMS:
        t = team[-1]
        for n, who in enumerate((t, "shared")):
            ids = {k: _ids(k)[who] for k in ("users", "models", "jobs", "assets")}
            rows.append(
                event(
                    f"{t}{n}",
                    T0.replace(hour=10 + n),
                    team_id=team,
                    project_id="p1" if n == 0 else f"p_{t}",
                    user_id=ids["users"],
                    model_id=ids["models"],
                    job_id=ids["jobs"],
                    asset_id=ids["assets"],
                    asset_kind="image",
                )
            )
    return rows


@pytest.fixture
def world() -> Iterator[World]:
    """Team A and team B each cite their own ids and a shared one; every id has a default name."""
    with ExitStack() as stack:
        led = DuckDBLedger(":memory:")
        stack.callback(led.close)
        led.write_events(table(_events()))
        keys = KeyStore(led)
        ingest = {t: keys.create(t, "ingest").credential() for t in TEAMS}
        analytics = {t: keys.create(t, "analytics").credential() for t in TEAMS}
        keyed = stack.enter_context(serving(create_app(led, require_keys=True)))
        local = stack.enter_context(serving(create_app(led, require_keys=False)))
        w = World(led, keyed, local, ingest, analytics)
        for kind in KINDS:
            assert w.put("local", kind, [_record(kind, i, "default") for i in _ids(kind).values()]).status_code == 200
        yield w


def _usage_entities(w: World, viewer: str) -> dict[str, Any]:
    """What ``usage`` (REST ``/v1/usage``) names, per kind and id."""
    body = w.get(viewer, "/v1/usage", team_id=viewer, include="activity,entities", **MONTH)
    e = body["entities"]
    return {
        "users": {u["id"]: (u["fullName"], u["email"]) for u in e["users"]},
        "models": {m["id"]: m["name"] for m in e["models"]},
        "jobs": {j["id"]: j["status"] for j in e["jobs"]},
        "assets": {a["id"]: a["source"] for a in e["assets"]},
        "projects": {p["id"]: p["name"] for p in e["projects"]},
    }


def _scenario_entities(w: World, viewer: str) -> dict[str, Any]:
    """What Scenario's ``/v1/usages`` names, per kind and id."""
    body = w.get(
        viewer,
        "/v1/usages",
        teamId=viewer,
        type="consumption,activity,model-usages",
        startDate="2026-04-01T00:00:00Z",
        endDate="2026-04-30T00:00:00Z",
    )
    e = body["entities"]
    return {
        "users": {u["id"]: (u["fullName"], u["email"]) for u in e["users"]},
        "models": {m["id"]: m["name"] for m in e["models"]},
        "jobs": {j["id"]: j["status"] for j in e["jobs"]},
    }


def _listed(ledger: DuckDBLedger, viewer: str) -> dict[str, Any]:
    """``list_teams`` and ``list_projects`` over MCP, as the viewer's analytics caller."""
    who = Caller("analytics", viewer)

    async def both() -> tuple[Any, Any]:
        teams = await call(server(ledger, who), "teams_list", {})
        projects = await call(server(ledger, who), "projects_list", {"team_id": viewer})
        return teams.structured_content, projects.structured_content

    teams, projects = anyio.run(both)
    return {"teams": teams["teams"], "projects": projects["projects"]}


def _expected_names(kind: str, viewer: str, writer: str, target: str) -> dict[str, Any]:
    """The viewer's names: the default, except the target id when the write is its view."""
    label = "renamed" if writer in ("local", viewer) else "default"
    return {i: _seen_shape(kind, i, label if i == _ids(kind)[target] else "default") for i in _cited(kind, viewer)}


@pytest.mark.parametrize("target", ["a", "b", "shared"])
@pytest.mark.parametrize("writer", ["local", "team_a", "team_b"])
@pytest.mark.parametrize("kind", KINDS)
def test_a_name_written_by_a_team_key_is_only_that_teams_view(world, kind, writer, target):
    id_ = _ids(kind)[target]
    r = world.put(writer, kind, [_record(kind, id_, "renamed")])
    assert (r.status_code, r.json()) == (200, {"written": 1})
    for viewer in TEAMS:
        expected = _expected_names(kind, viewer, writer, target)
        assert _usage_entities(world, viewer)[kind] == expected
        if kind != "assets":  # Scenario's wire carries no asset entities
            assert _scenario_entities(world, viewer)[kind] == expected


def _teams_view(w: World, viewer: str) -> dict[str, Any]:
    """Every place a team's and its projects' names appear: ``/v1/teams``, ``list_teams``,
    ``list_projects`` and ``usage``'s ``entities.projects``."""
    listed = _listed(w.ledger, viewer)
    rest = w.get(viewer, "/v1/teams")["teams"]
    return {
        "rest": [(t["id"], t["name"], [(p["id"], p["name"]) for p in t["projects"]]) for t in rest],
        "mcp": [(t["id"], t["name"], [(p["id"], p["name"]) for p in t["projects"]]) for t in listed["teams"]],
        "projects": [(p["id"], p["name"]) for p in listed["projects"]],
        "usage": _usage_entities(w, viewer)["projects"],
    }


def _default_teams(w: World) -> None:
    assert w.put("local", "teams", [{"id": t, "name": f"default {t}"} for t in TEAMS]).status_code == 200
    projects = [{"id": p, "teamId": t, "name": f"default {t}/{p}"} for t in TEAMS for p in ("p1", f"p_{t[-1]}")]
    assert w.put("local", "projects", projects).status_code == 200


def _expected_teams(viewer: str, renamed: str | None, project: str | None) -> dict[str, Any]:
    """The viewer's team and projects: the defaults, ``renamed`` for its name, ``project`` for p1."""
    name = renamed or f"default {viewer}"
    p1 = project or f"default {viewer}/p1"
    other = f"p_{viewer[-1]}"
    projects = [("p1", p1), (other, f"default {viewer}/{other}")]
    return {
        "rest": [(viewer, name, projects)],
        "mcp": [(viewer, name, projects)],
        "projects": projects,
        "usage": dict(projects),
    }


@pytest.mark.parametrize("owner", TEAMS)
@pytest.mark.parametrize("writer", ["local", "team_a", "team_b"])
@pytest.mark.parametrize("kind", ["teams", "projects"])
def test_a_team_or_project_name_is_written_by_its_own_team_or_locally_and_seen_by_that_team_only(
    world, kind, writer, owner
):
    _default_teams(world)
    record = {"id": owner, "name": "renamed"} if kind == "teams" else {"id": "p1", "teamId": owner, "name": "renamed"}
    r = world.put(writer, kind, [record])
    allowed = writer in ("local", owner)
    if allowed:
        assert (r.status_code, r.json()) == (200, {"written": 1})
    else:
        assert r.status_code == 403 and r.json()["error"]["code"] == "forbidden"
    for viewer in TEAMS:
        changed = allowed and viewer == owner
        want = _expected_teams(
            viewer,
            "renamed" if changed and kind == "teams" else None,
            "renamed" if changed and kind == "projects" else None,
        )
        assert _teams_view(world, viewer) == want


def test_a_team_key_renaming_a_user_every_team_cites_changes_only_its_own_answers(world):
    assert world.put("team_b", "users", [_record("users", "u_shared", "evil")]).status_code == 200
    a = world.get("team_a", "/v1/usage", team_id="team_a", include="entities", **MONTH)
    b = world.get("team_b", "/v1/usage", team_id="team_b", include="entities", **MONTH)
    assert {u["id"]: u["fullName"] for u in a["entities"]["users"]} == {
        "u_a": "default u_a",
        "u_shared": "default u_shared",
    }
    assert {u["id"]: u["fullName"] for u in b["entities"]["users"]} == {
        "u_b": "default u_b",
        "u_shared": "evil u_shared",
    }
    assert {c["userId"]: c["name"] for c in a["consumption"]} == {"u_a": "default u_a", "u_shared": "default u_shared"}


def test_citing_another_teams_user_in_an_event_does_not_reveal_its_name_or_email(world):
    secret = {"id": "u_secret", "fullName": "Secret Person", "email": "secret@b.example"}
    assert world.put("team_b", "users", [secret]).status_code == 200
    probe = {"id": "probe", "time": "2026-04-11T10:00:00Z", "teamId": "team_a", "projectId": "p1"}
    probe |= {"userId": "u_secret", "action": "upscale", "creativeUnitsCost": "1"}
    r = httpx.post(world.keyed + "/v1/usage-events", json=[probe], headers=_auth(world.ingest["team_a"]))
    assert (r.status_code, r.json()) == (200, {"written": 1, "duplicates": 0})
    a = world.get("team_a", "/v1/usage", team_id="team_a", include="activity,entities", **MONTH)
    assert "u_secret" not in {u["id"] for u in a["entities"]["users"]}
    assert {c["userId"]: c["name"] for c in a["consumption"]}["u_secret"] is None
    wire = _scenario_entities(world, "team_a")["users"]
    assert wire["u_secret"] == (None, None)
    assert "Secret Person" not in str(a) and "secret@b.example" not in str(wire)


def test_a_project_id_registered_by_one_team_neither_shadows_nor_learns_another_teams_name(world):
    _default_teams(world)
    assert world.put("team_a", "projects", [{"id": "p1", "teamId": "team_a", "name": "A's p1"}]).status_code == 200
    assert world.put("team_b", "projects", [{"id": "p1", "teamId": "team_b", "name": "B's p1"}]).status_code == 200
    assert _teams_view(world, "team_a")["usage"] == {"p1": "A's p1", "p_a": "default team_a/p_a"}
    assert _teams_view(world, "team_b")["usage"] == {"p1": "B's p1", "p_b": "default team_b/p_b"}
    a = world.get("team_a", "/v1/usage", team_id="team_a", project_ids="p1", include="entities", **MONTH)
    assert a["entities"]["projects"] == [{"id": "p1", "name": "A's p1"}]
