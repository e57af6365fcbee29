"""The ``usage`` arguments: declared once, received, and validated once for every surface.

- ``ARGUMENTS`` declares each argument (name, type, published default, one help sentence, an
  example of a right value, the CLI flag); the MCP input schema, the ``GET /v1/usage`` query
  parameters and the ``usagelens usage`` options are built from it (``surfaces/signature.py``).
- ``UsageArgs`` carries the arguments as a surface received them (not yet validated).
- ``resolve(args, caller, teams, now)`` checks every rule of CONTRACT §2 and returns a
  ``UsageQuery`` with the team, the project filter, the UTC window and the includes; any problem
  raises ``InvalidArgument`` (or ``NotFound``) with one sentence naming the argument, the value and
  the fix. Surfaces never check these rules themselves (``answer_format`` is the format rule, for
  the companion tools too).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from usagelens.auth import Caller
from usagelens.errors import InvalidArgument
from usagelens.ledger.base import Team
from usagelens.query_parse import day, instant, is_date, offset, shown, text, texts, zone
from usagelens.query_scope import SCOPES, projects, team

__all__ = [
    "ARGUMENTS",
    "DEFAULT_DAYS",
    "FORMATS",
    "IGNORED_INCLUDES",
    "INCLUDES",
    "PAGE",
    "Argument",
    "UsageArgs",
    "UsageQuery",
    "answer_format",
    "argument",
    "max_window_days",
    "resolve",
]

#: The seed's six ``include`` values (the schema's enum).
INCLUDES = ("usages", "usages.daily", "modelUsages.daily", "nsfwUsages", "activity", "entities")
#: Accepted by earlier versions and ignored now: those lists are always complete.
IGNORED_INCLUDES = ("consumption", "modelUsages")
#: The values of ``response_format``; the first is the default.
FORMATS = ("json", "markdown")
DEFAULT_DAYS = 31
PAGE = 100


@dataclass(frozen=True)
class Argument:
    """One argument of the ``usage`` tool, as every surface publishes it.

    ``type`` is the type of a given value (``str``, ``int`` or ``list[str]``); every argument may
    be absent. ``default`` is the default a schema publishes (None: absence is "not given", and
    ``resolve`` decides). ``choices`` are the values a schema lists (a list argument's items'),
    ``minimum`` the least number. Publishing never validates: ``resolve`` does.
    """

    name: str
    type: Any
    flag: str  # the ``usagelens usage`` option
    example: str  # a right value as a fix quotes it, e.g. "'2026-04-01'"
    help: str  # one sentence: the MCP description, the REST parameter's, the CLI option's
    default: str | None = None
    choices: tuple[str, ...] = ()
    minimum: int | None = None

    @property
    def is_list(self) -> bool:
        """Whether the argument takes a list of strings."""
        return self.type == list[str]


#: The ``usage`` arguments in their published order (the order of ``UsageArgs``' fields):
#: name, type, CLI flag, example, help; then the published default, choices and minimum.
# fmt: off
ARGUMENTS: tuple[Argument, ...] = (
    Argument("team_id", str, "--team", "'team_abc' (see teams_list)",
             "Team id; required when you can see several teams (teams_list)."),
    Argument("project_id", str, "--project", "'proj_xyz'",
             "Context project id; alone it filters to that project."),
    Argument("scope", str, "--scope", "'team'",
             "project (default when a project is given) or team (every project of the team).", choices=SCOPES),
    Argument("project_ids", list[str], "--projects", "['proj_xyz']",
             "Only these projects (not with scope team)."),
    Argument("user_ids", list[str], "--users", "['user_abc']",
             "Only these users or API keys."),
    Argument("start_date", str, "--start", "'2026-04-01'",
             "First day, YYYY-MM-DD or ISO date-time (default: 30 days ago)."),
    Argument("end_date", str, "--end", "'2026-04-30'",
             "Last day, inclusive, YYYY-MM-DD or ISO date-time (default: today)."),
    Argument("timezone", str, "--timezone", "'Europe/Paris'",
             "IANA timezone cutting dates and days (default UTC)."),
    Argument("include", list[str], "--include", "['usages', 'activity']",
             "Sections to expand (see the tool description).", choices=INCLUDES),
    Argument("activity_offset", int, "--activity-offset", f"{PAGE}",
             f"With include activity: page offset, {PAGE} events a page (0, {PAGE}, …).", minimum=0),
    Argument("response_format", str, "--format", "'markdown'",
             "json (default) or markdown.", default=FORMATS[0], choices=FORMATS),
)
# fmt: on
_BY_NAME = {a.name: a for a in ARGUMENTS}


def argument(name: str) -> Argument:
    """The declared argument ``name`` (a ``KeyError`` for a name that is not one)."""
    return _BY_NAME[name]


def max_window_days() -> int:
    """The longest window a query may ask for: ``$USAGELENS_MAX_WINDOW_DAYS`` or 400."""
    return int(os.environ.get("USAGELENS_MAX_WINDOW_DAYS", "400"))


@dataclass
class UsageArgs:
    """The tool's arguments as a surface received them (not yet validated); one field per
    ``ARGUMENTS`` entry, in the same order."""

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


def _texts(args: UsageArgs) -> UsageArgs:
    """``args`` with every string checked to be valid text (a surface may pass anything)."""
    for name in ("team_id", "project_id", "scope", "timezone"):
        value = getattr(args, name)
        if value is not None:
            text(name, value)
    for name in ("project_ids", "user_ids", "include"):
        texts(name, getattr(args, name))
    return args


def answer_format(value: object) -> str:
    """``response_format``: ``json`` when absent, else ``json`` or ``markdown``."""
    fmt = value or FORMATS[0]
    if fmt not in FORMATS:
        raise InvalidArgument(
            f"response_format: '{shown(fmt)}' is not accepted; use json or markdown.", field="response_format"
        )
    return str(fmt)


def resolve(args: UsageArgs, caller: Caller, teams: list[Team], now: datetime | None = None) -> UsageQuery:
    """Validate ``args`` for ``caller`` against the store's ``teams`` (``Ledger.teams()``)."""
    fmt = answer_format(args.response_format)
    args = _texts(args)
    tz = zone(args.timezone)
    include, page = _includes(list(args.include or []), args.activity_offset)
    now = now or datetime.now(UTC).replace(tzinfo=None)
    start_s, end_s, start, end = _window(args, tz, now)
    chosen = team(args, caller.visible_teams(teams))
    scope, project_ids = projects(args, chosen, caller)
    users = tuple(sorted(set(args.user_ids))) if args.user_ids else None
    return UsageQuery(
        team_id=chosen["id"],
        team_name=chosen.get("name"),
        scope=scope,
        context_project_id=args.project_id,
        project_ids=project_ids,
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
