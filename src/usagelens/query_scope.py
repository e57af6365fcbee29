"""Who a ``usage`` query covers: the team and the projects (the scope rules of CONTRACT §2).

``team(args, teams)`` and ``projects(args, team, caller)`` are called by ``query.resolve`` only;
each either returns what the query covers or raises ``InvalidArgument`` / ``NotFound`` with one
sentence naming the argument, the value and the fix, never naming a team the caller cannot see.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from usagelens.errors import InvalidArgument, NotFound
from usagelens.ledger.base import ProjectRef, Team
from usagelens.query_parse import shown

if TYPE_CHECKING:
    from usagelens.auth import Caller
    from usagelens.query import UsageArgs

__all__ = ["SCOPES", "projects", "team"]

#: The values of ``scope``.
SCOPES = ("project", "team")


def _names(items: Sequence[Team | ProjectRef]) -> str:
    return ", ".join(f"{t['id']} ({t['name']})" if t.get("name") else t["id"] for t in items)


def team(args: UsageArgs, teams: list[Team]) -> Team:
    """The team ``args`` asks for among ``teams`` (those the caller can see): ``team_id``'s, or
    the only one when ``team_id`` is absent."""
    if args.team_id is None:
        if len(teams) == 1:
            return teams[0]
        if not teams:
            raise NotFound("there is no team you can see yet: no usage has been recorded.", field="team_id")
        raise InvalidArgument(
            f"context_missing: team_id is required because you can see {len(teams)} teams: {_names(teams)}; "
            "pass one of them.",
            field="team_id",
        )
    for t in teams:
        if t["id"] == args.team_id:
            return t
    raise NotFound(
        f"team_id: '{shown(args.team_id)}' is not a team you can see; use one of: {_names(teams) or 'none'}.",
        field="team_id",
    )


def projects(args: UsageArgs, team: Team, caller: Caller) -> tuple[str, tuple | None]:
    """The scope mode and the project filter (None = every project of the team)."""
    scope = args.scope or ("project" if args.project_id or args.project_ids else "team")
    if scope not in SCOPES:
        raise InvalidArgument(f"scope: '{shown(scope)}' is not accepted; use project or team.", field="scope")
    known = {p["id"] for p in team["projects"]}
    for name, ids in (
        ("project_id", [args.project_id] if args.project_id else []),
        ("project_ids", args.project_ids or []),
    ):
        for p in ids:
            if p not in known:
                raise NotFound(
                    f"{name}: '{shown(p)}' is not a project of team {team['id']} that you can see; use "
                    f"one of: {_names(team['projects']) or 'none'}.",
                    field=name,
                )
    if scope == "team":
        if args.project_ids:
            raise InvalidArgument(
                "context_ambiguous: project_ids cannot be used with scope: team (team scope covers every project); "
                "use scope: project or drop project_ids.",
                field="project_ids",
            )
        restricted = caller.project_id is not None
        return scope, tuple(sorted(known)) if restricted else None
    chosen = args.project_ids or ([args.project_id] if args.project_id else [])
    if not chosen:
        raise InvalidArgument(
            "context_missing: scope: project needs project_id or project_ids; pass one, or use scope: team.",
            field="scope",
        )
    return scope, tuple(sorted(set(chosen)))
