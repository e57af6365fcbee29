"""Scenario's team endpoints: ``GET /v1/teams`` (the SDK's ``teams.list()``), ``GET /v1/teams/{teamId}``
(``teams.retrieve``) and ``GET /v1/teams/{teamId}/limits`` (``teams.retrieve_limits``).

What usagelens knows is real (``Ledger.team_activity`` and the key records):

- ``context.usersCount``: distinct user ids seen in the team's events; for a project key, in its
  project's events (a project key learns nothing about the team's other projects);
- ``createdAt``: the earliest of the first event and the first usagelens key made for the team
  (for a project: its own first event and keys, else the team's); 1970-01-01 when neither exists;
- ``keys`` / ``context.keysCount``: the live usagelens keys of the team the caller may see (a
  project key: those of its project);
- the team's and projects' ids and names.

What it cannot know gets the type's neutral value (the README lists them): ``updatedAt`` is
``createdAt``, ``plan`` ``enterprise``, ``type`` ``shared``, ``paymentStatus`` ``succeeded``, no
invitations or members (``users``: team membership is not tracked; ``context.usersCount``, also
sent by ``retrieve`` as an extension field, counts identities), empty search settings. A team the
caller cannot see is a 404 worded exactly like a team that does not exist.
"""

from __future__ import annotations

from datetime import UTC, datetime
from functools import cached_property
from typing import Annotated, Any

from fastapi import APIRouter, Path, Request
from fastapi.responses import Response

from usagelens.auth import Caller
from usagelens.budgets.limits import limits_body
from usagelens.errors import Forbidden, NotFound
from usagelens.jsonout import instant
from usagelens.ledger.base import Team
from usagelens.query_parse import shown
from usagelens.surfaces.http.common import json_response, only, reader, service
from usagelens.surfaces.http.docs import ERRORS, READ_ERRORS

__all__ = ["router"]

router = APIRouter()
TeamId = Annotated[str, Path(alias="teamId", description="A team id, as GET /v1/teams lists them.")]
_NEVER = datetime(1970, 1, 1)
_SEARCH = {"private": "", "public": ""}


def _earliest(*times: datetime | None) -> datetime | None:
    known = [t for t in times if t is not None]
    return min(known) if known else None


class _View:
    """One request's view of the teams: the caller, what the store knows, the caller's keys."""

    def __init__(self, request: Request) -> None:
        only(request, ())
        self.caller: Caller = reader(request)
        self.ledger = service(request).ledger
        self.teams = self.caller.visible_teams(self.ledger.teams())

    @cached_property
    def activity(self) -> dict[str, dict[str, Any]]:
        return self.ledger.team_activity()

    @cached_property
    def records(self) -> list[dict[str, Any]]:
        return self.ledger.api_keys()

    def team(self, team_id: str) -> Team:
        """The visible team ``team_id``; else the same 404 whether it exists or not."""
        found = next((t for t in self.teams if t["id"] == team_id), None)
        if found is None:
            raise NotFound(
                f"teamId: '{shown(team_id)}' is not a team you can see; GET /v1/teams lists the teams you can read.",
                field="teamId",
            )
        return found

    def keys(self, team_id: str) -> list[dict[str, Any]]:
        """The live keys of ``team_id`` the caller may see, oldest first."""
        mine = self.caller.project_id
        return [
            k
            for k in self.records
            if k["team_id"] == team_id and k["revoked_at"] is None and (mine is None or k["project_id"] == mine)
        ]

    def created(self, team_id: str, project_id: str | None = None) -> datetime:
        """When the team (or project) first appears: its first event or its first key."""
        seen = self.activity.get(team_id, {})
        team = _earliest(seen.get("created_at"), *(k["created_at"] for k in self.records if k["team_id"] == team_id))
        if project_id is None:
            return team or _NEVER
        first = seen.get("projects", {}).get(project_id, {}).get("created_at")
        keys = (k["created_at"] for k in self.records if k["team_id"] == team_id and k["project_id"] == project_id)
        return _earliest(first, *keys) or team or _NEVER

    def users(self, team_id: str) -> int:
        """Identities seen in the team's events (a project key: in its project's)."""
        seen = self.activity.get(team_id, {})
        if self.caller.project_id is not None:
            seen = seen.get("projects", {}).get(self.caller.project_id, {})
        return seen.get("users_count") or 0

    def item(self, t: Team) -> dict[str, Any]:
        """``t`` as an item of Scenario's ``TeamListResponse``."""
        created = instant(self.created(t["id"]))
        projects = []
        for p in t["projects"]:
            since = instant(self.created(t["id"], p["id"]))
            projects.append({"id": p["id"], "name": p["name"] or p["id"], "createdAt": since, "updatedAt": since})
        return {
            "id": t["id"],
            "name": t["name"] or t["id"],
            "createdAt": created,
            "updatedAt": created,
            "plan": "enterprise",
            "type": "shared",
            "context": {
                "invitationsCount": 0,
                "keysCount": len(self.keys(t["id"])),
                "userRole": "admin" if self.caller.is_platform else "key",
                "usersCount": self.users(t["id"]),
            },
            "projects": projects,
        }

    def detail(self, t: Team) -> dict[str, Any]:
        """``t`` as Scenario's ``TeamRetrieveResponse.team`` (plus the list's ``context``)."""
        return {
            **self.item(t),
            "invitations": [],
            "keys": [_key(k) for k in self.keys(t["id"])],
            "users": [],
            "paymentStatus": "succeeded",
            "searchHost": "",
            "searchIndexes": {"assets": _SEARCH, "models": _SEARCH, "workflows": _SEARCH},
        }


def _key(k: dict[str, Any]) -> dict[str, Any]:
    """A usagelens key as Scenario's ``TeamKey`` (the key id names it when it has no label)."""
    out = {
        "id": k["key_id"],
        "apiKeyId": k["key_id"],
        "apiKeyStatus": "active",
        "createdAt": instant(k["created_at"]),
        "name": k["label"] or k["key_id"],
        "scope": "project" if k["project_id"] else "team",
        "updatedAt": instant(k["created_at"]),
    }
    if k["project_id"]:
        out["ownerId"] = k["project_id"]
    return out


@router.get(
    "/v1/teams", tags=["Scenario-compatible"], summary="Teams and their projects (Scenario's shape)", responses=ERRORS
)
def teams(request: Request) -> Response:
    """The teams the key can see, each with its projects, as Scenario's `TeamListResponse`."""
    view = _View(request)
    return json_response({"teams": [view.item(t) for t in view.teams]})


@router.get(
    "/v1/teams/{teamId}",
    tags=["Scenario-compatible"],
    summary="One team (Scenario's TeamRetrieveResponse)",
    responses=READ_ERRORS,
)
def team(request: Request, team_id: TeamId) -> Response:
    """One team the key can see, as Scenario's `TeamRetrieveResponse`; 404 for any other id."""
    view = _View(request)
    return json_response({"team": view.detail(view.team(team_id))})


@router.get(
    "/v1/teams/{teamId}/limits",
    tags=["Scenario-compatible"],
    summary="A team's limits: its budget, period and use (Scenario's TeamRetrieveLimitsResponse)",
    responses=READ_ERRORS,
)
def team_limits(request: Request, team_id: TeamId) -> Response:
    """Scenario's `teams.retrieve_limits`: the team budget's allowance (`limits.creativeUnits`), its
    current `period`, the exact use in it (`values.creativeUnits`) and the grants
    (`oneShotCreativeUnits`); 404 when the team has no budget. Project keys are refused (the
    team's use is wider than their project)."""
    view = _View(request)
    t = view.team(team_id)
    if view.caller.project_id is not None:
        raise Forbidden("a project key reads its project's budget in the usage answer; team limits need a team key")
    now = datetime.now(UTC).replace(tzinfo=None)
    first = view.activity.get(team_id, {}).get("created_at")
    body = limits_body(view.ledger, team_id, now, len(view.keys(team_id)), len(t["projects"]), first)
    if body is None:
        raise NotFound(
            f"team {team_id} has no budget; set one with usagelens budgets set --team {team_id} --cu N "
            "(or PUT /v1/budgets)",
            field="teamId",
        )
    return json_response(body)
