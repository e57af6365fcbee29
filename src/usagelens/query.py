"""``UsageQuery``: the arguments of the ``usage`` tool, validated once for every surface.

``resolve(args, caller, teams, now)`` checks every rule of CONTRACT §2 and returns a
``UsageQuery`` with the team, the project filter, the UTC window and the includes; any problem
raises ``InvalidArgument`` (or ``NotFound``) with one sentence naming the argument, the value and
the fix. Surfaces never check these rules themselves.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from usagelens.auth import Caller
from usagelens.errors import InvalidArgument, NotFound

__all__ = ["DEFAULT_DAYS", "INCLUDES", "PAGE", "UsageArgs", "UsageQuery", "max_window_days", "resolve"]

INCLUDES = (
    "usages",
    "usages.daily",
    "modelUsages",
    "modelUsages.daily",
    "nsfwUsages",
    "activity",
    "entities",
    "consumption",
)
DEFAULT_DAYS = 31
PAGE = 100
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


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


def _zone(name: str | None) -> ZoneInfo:
    name = name or "UTC"
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise InvalidArgument(
            f"timezone: '{name}' is not an IANA timezone; use a name such as UTC, Europe/Paris or America/New_York.",
            field="timezone",
        ) from None


def _local_midnight(d: date, zone: ZoneInfo) -> datetime:
    return datetime(d.year, d.month, d.day, tzinfo=zone).astimezone(UTC).replace(tzinfo=None)


def _instant(name: str, value: str, zone: ZoneInfo, end: bool) -> datetime:
    """A bound as a naive UTC instant: a date is its local midnight (the next one for an end)."""
    bad = InvalidArgument(
        f"{name}: '{value}' is not a date; use YYYY-MM-DD or an ISO 8601 date-time such as 2026-04-01T00:00:00Z.",
        field=name,
    )
    try:
        if _DATE.match(value):
            d = date.fromisoformat(value)
            return _local_midnight(d + timedelta(days=1) if end else d, zone)
        t = datetime.fromisoformat(value)
    except ValueError:
        raise bad from None
    if "T" not in value and " " not in value:
        raise bad
    t = t.replace(tzinfo=zone) if t.tzinfo is None else t
    return t.astimezone(UTC).replace(tzinfo=None)


def _window(args: UsageArgs, zone: ZoneInfo, now: datetime) -> tuple[str, str, datetime, datetime]:
    today = now.replace(tzinfo=UTC).astimezone(zone).date()
    end_s = args.end_date or today.isoformat()
    start_s = args.start_date
    if start_s is None:
        if _DATE.match(end_s):
            start_s = (date.fromisoformat(end_s) - timedelta(days=DEFAULT_DAYS - 1)).isoformat()
        else:
            e = _instant("end_date", end_s, zone, True)
            start_s = (e - timedelta(days=DEFAULT_DAYS)).isoformat() + "Z"
    start = _instant("start_date", start_s, zone, False)
    end = _instant("end_date", end_s, zone, True)
    if end <= start:
        raise InvalidArgument(
            f"end_date ({end_s}) is before start_date ({start_s}); swap them or pick a later end_date.",
            field="end_date",
        )
    days = (end - start) / timedelta(days=1)
    limit = max_window_days()
    if days > limit:
        raise InvalidArgument(
            f"the window from {start_s} to {end_s} spans {days:.0f} days; the maximum is {limit} "
            "days, so narrow start_date or end_date.",
            field="start_date",
        )
    return start_s, end_s, start, end


def _includes(values: list[str], offset: int | None) -> tuple[tuple[str, ...], int]:
    for v in values:
        if v not in INCLUDES:
            raise InvalidArgument(
                f"include: '{v}' is not a section; use any of {', '.join(INCLUDES)}.", field="include"
            )
    if offset is not None and (not isinstance(offset, int) or isinstance(offset, bool) or offset < 0):
        raise InvalidArgument(
            f"activity_offset: {offset!r} must be a whole number ≥ 0 (pages hold {PAGE} events: "
            f"0, {PAGE}, {2 * PAGE}, …).",
            field="activity_offset",
        )
    if offset and "activity" not in values:
        raise InvalidArgument(
            f"activity_offset: {offset} only applies to the activity log; add 'activity' to "
            "include or drop activity_offset.",
            field="activity_offset",
        )
    ordered = tuple(i for i in INCLUDES if i in values)
    return ordered, offset or 0


def _names(items: list[dict[str, Any]]) -> str:
    return ", ".join(f"{t['id']} ({t['name']})" if t.get("name") else t["id"] for t in items)


def _team(args: UsageArgs, teams: list[dict[str, Any]]) -> dict[str, Any]:
    if args.team_id is None:
        if len(teams) == 1:
            return teams[0]
        if not teams:
            raise NotFound("there is no team you can see yet: no usage has been recorded.", field="team_id")
        raise InvalidArgument(
            f"team_id is required because you can see {len(teams)} teams: {_names(teams)}; pass one of them.",
            field="team_id",
        )
    for t in teams:
        if t["id"] == args.team_id:
            return t
    raise NotFound(
        f"team_id: '{args.team_id}' is not a team you can see; use one of: {_names(teams) or 'none'}.",
        field="team_id",
    )


def _projects(args: UsageArgs, team: dict[str, Any], caller: Caller) -> tuple[str, tuple | None]:
    """The scope mode and the project filter (None = every project of the team)."""
    scope = args.scope or ("project" if args.project_id or args.project_ids else "team")
    if scope not in ("project", "team"):
        raise InvalidArgument(f"scope: '{scope}' is not accepted; use project or team.", field="scope")
    known = {p["id"] for p in team["projects"]}
    for name, ids in (
        ("project_id", [args.project_id] if args.project_id else []),
        ("project_ids", args.project_ids or []),
    ):
        for p in ids:
            if p not in known:
                raise NotFound(
                    f"{name}: '{p}' is not a project of team {team['id']} that you can see; use "
                    f"one of: {_names(team['projects']) or 'none'}.",
                    field=name,
                )
    if scope == "team":
        if args.project_ids:
            raise InvalidArgument(
                "project_ids cannot be used with scope: team (team scope covers every project); "
                "use scope: project or drop project_ids.",
                field="project_ids",
            )
        restricted = caller.project_id is not None
        return scope, tuple(sorted(known)) if restricted else None
    chosen = args.project_ids or ([args.project_id] if args.project_id else [])
    if not chosen:
        raise InvalidArgument(
            "scope: project needs project_id or project_ids; pass one, or use scope: team.",
            field="scope",
        )
    return scope, tuple(sorted(set(chosen)))


def resolve(args: UsageArgs, caller: Caller, teams: list[dict[str, Any]], now: datetime | None = None) -> UsageQuery:
    """Validate ``args`` for ``caller`` against the store's ``teams`` (``Ledger.teams()``)."""
    fmt = args.response_format or "json"
    if fmt not in ("json", "markdown"):
        raise InvalidArgument(
            f"response_format: '{fmt}' is not accepted; use json or markdown.", field="response_format"
        )
    zone = _zone(args.timezone)
    include, offset = _includes(list(args.include or []), args.activity_offset)
    now = now or datetime.now(UTC).replace(tzinfo=None)
    start_s, end_s, start, end = _window(args, zone, now)
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
        timezone=zone.key,
        include=include,
        activity_offset=offset,
        response_format=fmt,
    )
