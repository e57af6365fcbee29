"""``UsageQuery``: the arguments of the ``usage`` tool, validated once for every surface.

``resolve(args, caller, teams, now)`` checks every rule of CONTRACT §2 and returns a
``UsageQuery`` with the team, the project filter, the UTC window and the includes; any problem
raises ``InvalidArgument`` (or ``NotFound``) with one sentence naming the argument, the value and
the fix. Surfaces never check these rules themselves.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from usagelens.auth import Caller
from usagelens.errors import InvalidArgument, NotFound
from usagelens.query_parse import day, instant, is_date, offset, shown, text, texts, zone

__all__ = [
    "DEFAULT_DAYS",
    "IGNORED_INCLUDES",
    "INCLUDES",
    "PAGE",
    "UsageArgs",
    "UsageQuery",
    "max_window_days",
    "resolve",
]

#: The seed's six ``include`` values (the schema's enum).
INCLUDES = ("usages", "usages.daily", "modelUsages.daily", "nsfwUsages", "activity", "entities")
#: Accepted by earlier versions and ignored now: those lists are always complete.
IGNORED_INCLUDES = ("consumption", "modelUsages")
DEFAULT_DAYS = 31
PAGE = 100


def max_window_days() -> int:
    """The longest window a query may ask for: ``$USAGELENS_MAX_WINDOW_DAYS`` or 400."""
    return int(os.environ.get("USAGELENS_MAX_WINDOW_DAYS", "400"))


@dataclass
class UsageArgs:
    """The tool's arguments as a surface received them (not yet validated)."""

    team_id: str | None = None
    project_id: str | None = None
    scope: str | None = None
    project_ids: list[str] | None = None
    user_ids: list[str] | None = None
    start_date: str | None = None
    end_date: str | None = None
    timezone: str | None = None
    include: list[str] = field(default_factory=list)
    activity_offset: int | None = None
    response_format: str | None = None


@dataclass(frozen=True)
class UsageQuery:
    """A validated query: what the report and the ledger need, nothing else."""

    team_id: str
    team_name: str | None
    scope: str  # "project" | "team"
    context_project_id: str | None
    project_ids: tuple[str, ...] | None  # the project filter; None = every project of the team
    user_ids: tuple[str, ...] | None
    start_date: str  # echoed as given (or the default date)
    end_date: str
    start: datetime  # naive UTC, inclusive
    end: datetime  # naive UTC, exclusive
    timezone: str
    include: tuple[str, ...]
    activity_offset: int
    response_format: str

    @property
    def previous(self) -> tuple[datetime, datetime]:
        """The window of equal length just before this one."""
        return self.start - (self.end - self.start), self.start

    def wants(self, section: str) -> bool:
        return section in self.include


def _window(args: UsageArgs, zone: ZoneInfo, now: datetime) -> tuple[str, str, datetime, datetime]:
    today = now.replace(tzinfo=UTC).astimezone(zone).date()
    end_s = text("end_date", args.end_date) if args.end_date is not None else today.isoformat()
    start_s = text("start_date", args.start_date) if args.start_date is not None else None
    end = instant("end_date", end_s, zone, True)
    if start_s is None:
        if is_date(end_s):
            start_s = (day("end_date", end_s) - timedelta(days=DEFAULT_DAYS - 1)).isoformat()
        else:
            start_s = (end - timedelta(days=DEFAULT_DAYS)).isoformat() + "Z"
    start = instant("start_date", start_s, zone, False)
    if end <= start:
        raise InvalidArgument(
            f"end_date ({shown(end_s)}) is before start_date ({shown(start_s)}); swap them or pick a later end_date.",
            field="end_date",
        )
    days = (end - start) / timedelta(days=1)
    limit = max_window_days()
    if days > limit:
        raise InvalidArgument(
            f"the window from {shown(start_s)} to {shown(end_s)} spans {days:.0f} days; the maximum is {limit} "
            "days, so narrow start_date or end_date.",
            field="start_date",
        )
    return start_s, end_s, start, end


def _includes(values: list[str], given: object) -> tuple[tuple[str, ...], int]:
    for v in values:
        if v not in INCLUDES and v not in IGNORED_INCLUDES:
            raise InvalidArgument(
                f"include: '{shown(v)}' is not a section; use any of {', '.join(INCLUDES)}.", field="include"
            )
    page = offset("activity_offset", given, PAGE)
    if page and "activity" not in values:
        raise InvalidArgument(
            f"activity_offset: {page} only applies to the activity log; add 'activity' to "
            "include or drop activity_offset.",
            field="activity_offset",
        )
    ordered = tuple(i for i in INCLUDES if i in values)
    return ordered, page


def _names(items: list[dict[str, Any]]) -> str:
    return ", ".join(f"{t['id']} ({t['name']})" if t.get("name") else t["id"] for t in items)


def _team(args: UsageArgs, teams: list[dict[str, Any]]) -> dict[str, Any]:
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


def _projects(args: UsageArgs, team: dict[str, Any], caller: Caller) -> tuple[str, tuple | None]:
    """The scope mode and the project filter (None = every project of the team)."""
    scope = args.scope or ("project" if args.project_id or args.project_ids else "team")
    if scope not in ("project", "team"):
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


def _texts(args: UsageArgs) -> UsageArgs:
    """``args`` with every string checked to be valid text (a surface may pass anything)."""
    for name in ("team_id", "project_id", "scope", "timezone"):
        value = getattr(args, name)
        if value is not None:
            text(name, value)
    for name in ("project_ids", "user_ids", "include"):
        texts(name, getattr(args, name))
    return args


def resolve(args: UsageArgs, caller: Caller, teams: list[dict[str, Any]], now: datetime | None = None) -> UsageQuery:
    """Validate ``args`` for ``caller`` against the store's ``teams`` (``Ledger.teams()``)."""
    fmt = args.response_format or "json"
    if fmt not in ("json", "markdown"):
        raise InvalidArgument(
            f"response_format: '{shown(fmt)}' is not accepted; use json or markdown.", field="response_format"
        )
    args = _texts(args)
    tz = zone(args.timezone)
    include, page = _includes(list(args.include or []), args.activity_offset)
    now = now or datetime.now(UTC).replace(tzinfo=None)
    start_s, end_s, start, end = _window(args, tz, now)
    team = _team(args, caller.visible_teams(teams))
    scope, projects = _projects(args, team, caller)
    users = tuple(sorted(set(args.user_ids))) if args.user_ids else None
    return UsageQuery(
        team_id=team["id"],
        team_name=team.get("name"),
        scope=scope,
        context_project_id=args.project_id,
        project_ids=projects,
        user_ids=users,
        start_date=start_s,
        end_date=end_s,
        start=start,
        end=end,
        timezone=tz.key,
        include=include,
        activity_offset=page,
        response_format=fmt,
    )
