"""What the MCP tools publish: argument types with their descriptions, and the result models.

- The ``usage`` arguments are published as ``query.ARGUMENTS`` declares them (``tool_parameter``:
  the help sentence as the description, choices as ``enum``); the companion tools' ``team_id``
  and ``response_format`` are ``RequiredTeamId`` and ``ResponseFormat``. ``compact_input`` strips
  pydantic's titles and ``anyOf [T, null]`` wrappers from the published input schema, because tool
  definitions are sent to the model on every turn.
- The result models (``UsageResult`` …) give the ``outputSchema`` (inlined, without titles); CU are
  JSON numbers.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

from usagelens.query import Argument, argument

__all__ = [
    "MembersResult",
    "ProjectsResult",
    "RequiredTeamId",
    "ResponseFormat",
    "TeamsResult",
    "UsageResult",
    "compact_input",
    "compact_output",
    "tool_parameter",
]

# -- arguments ------------------------------------------------------------------------------


def tool_parameter(arg: Argument) -> tuple[Any, Any]:
    """The tool parameter of a declared argument: ``(annotation, default)``. The type is optional
    unless a default is published; the schema lists the choices (a list's on its items) and the
    minimum; pydantic checks only the type (``query.resolve`` checks the rest)."""
    extra: dict[str, Any] = {}
    if arg.choices:
        extra = {"items": {"type": "string", "enum": list(arg.choices)}} if arg.is_list else {"enum": list(arg.choices)}
    if arg.minimum is not None:
        extra["minimum"] = arg.minimum
    kind = arg.type if arg.default is not None else arg.type | None
    field = Field(description=arg.help, json_schema_extra=extra) if extra else Field(description=arg.help)
    return Annotated[kind, field], arg.default


RequiredTeamId = Annotated[str, Field(description="Team id (see teams_list).")]
_FORMAT = argument("response_format")
#: The companion tools' ``response_format``: the declared argument (a plain alias, for type checkers).
ResponseFormat = Annotated[str, Field(description=_FORMAT.help, json_schema_extra={"enum": list(_FORMAT.choices)})]


def _strip_titles(schema: Any) -> Any:
    """``schema`` without pydantic's titles and the default ``additionalProperties: true``."""
    if isinstance(schema, dict):
        out = {}
        for k, v in schema.items():
            if (k == "title" and isinstance(v, str)) or (k == "additionalProperties" and v is True):
                continue
            # property maps hold names, not keywords: keep a property that happens to be "title"
            out[k] = {p: _strip_titles(s) for p, s in v.items()} if k in ("properties", "$defs") else _strip_titles(v)
        return out
    if isinstance(schema, list):
        return [_strip_titles(v) for v in schema]
    return schema


def _optional_without_null(schema: dict[str, Any]) -> dict[str, Any]:
    """Optional properties shown by their type alone: absent means "not given", never ``null``."""
    required = set(schema.get("required", ()))
    for name, prop in schema.get("properties", {}).items():
        if name in required:
            continue
        arms = prop.get("anyOf")
        if arms and len(arms) == 2 and {"type": "null"} in arms:
            typed = next(a for a in arms if a != {"type": "null"})
            rest = {k: v for k, v in prop.items() if k not in ("anyOf", "default")}
            merged = {**typed, **rest}
            if "items" in typed and "items" in rest:
                merged["items"] = {**typed["items"], **rest["items"]}
            schema["properties"][name] = merged
        elif "default" in prop and prop["default"] is None:
            del prop["default"]
    return schema


def compact_input(schema: dict[str, Any]) -> dict[str, Any]:
    """The published input schema: no titles, optional arguments without their ``null`` arm."""
    return _optional_without_null(_strip_titles(schema))


def _inline(schema: Any, defs: dict[str, Any]) -> Any:
    if isinstance(schema, dict):
        ref = schema.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/$defs/"):
            return _inline(defs[ref.removeprefix("#/$defs/")], defs)
        return {k: _inline(v, defs) for k, v in schema.items() if k != "$defs"}
    if isinstance(schema, list):
        return [_inline(v, defs) for v in schema]
    return schema


def compact_output(schema: dict[str, Any]) -> dict[str, Any]:
    """The published output schema: no titles, no ``$ref`` (the result models are not recursive;
    inlined, the schema is smaller and validates faster), optional sections without a ``null`` arm."""
    return _optional_without_null(_inline(_strip_titles(schema), _strip_titles(schema.get("$defs", {}))))


# -- results --------------------------------------------------------------------------------


class _Open(BaseModel):
    """A result object: the listed fields are promised, others may be added later."""

    model_config = ConfigDict(extra="allow", populate_by_name=True)


class _Scope(_Open):
    mode: str
    teamId: str
    contextProjectId: str | None
    projectIds: list[str] | None
    userIds: list[str] | None


class _Window(_Open):
    from_: str = Field(alias="from")
    until: str
    timezone: str


class _Previous(_Open):
    totalCU: float
    changePct: float | None
    partial: bool | None = Field(None, description="true: the previous period starts before the first event")
    dataFrom: str | None = Field(None, description="with partial: the first event, the data's start")


class _Totals(_Open):
    totalCU: float
    totalDiscountCU: float
    totalBeforeDiscountCU: float
    startDate: str
    endDate: str
    window: _Window
    jobs: int
    assets: int
    users: int
    models: int
    previousPeriod: _Previous


class _Consumer(_Open):
    userId: str
    name: str | None
    isApiKey: bool
    value: float
    discount: float
    total: float


class _ModelUsage(_Open):
    modelId: str
    modelName: str | None
    totalCU: float
    totalJobs: int
    totalApiKeyCU: float
    totalDiscountCU: float
    totalApiKeyDiscountCU: float


class _AssetUsage(_Open):
    kind: str
    count: int
    countApiKey: int


class _Pagination(_Open):
    offset: int
    count: int
    nextOffset: int | None


Rows = list[dict[str, Any]]


class _BudgetPeriod(_Open):
    start: str
    end: str
    timezone: str


class _Budget(_Open):
    id: str
    scope: str = Field(description="team, project, user or key")
    target: str | None = None
    allowanceCU: float
    usedCU: float
    remainingCU: float = Field(description="allowance + grants this period − used (negative when overdrawn)")
    usedPercent: float
    period: _BudgetPeriod
    forecastCU: float = Field(description="predicted use at the period's end (forecastMethod)")
    runsOutOn: str | None = Field(description="the day the allowance runs (or ran) out at this pace; null: not")
    grantsRemainingCU: float | None = None


class _Budgets(_Open):
    items: list[_Budget]
    forecastMethod: str


class UsageResult(_Open):
    """The usage answer; each include value adds its section."""

    scope: _Scope
    totals: _Totals
    consumption: list[_Consumer]
    modelUsages: list[_ModelUsage]
    assetUsages: list[_AssetUsage]
    budgets: _Budgets | None = Field(None, description="the budgets that apply to this scope (CONTRACT §5)")
    usages: Rows | None = None
    usages_daily: Rows | None = Field(None, alias="usages.daily")
    modelUsages_daily: Rows | None = Field(None, alias="modelUsages.daily")
    nsfwUsages: Rows | None = None
    activity: Rows | None = None
    activityPagination: _Pagination | None = None
    entities: dict[str, Rows] | None = None
    truncated: bool | None = None
    sections: dict[str, dict[str, Any]]
    hint: str = Field(alias="_hint")


class _Project(_Open):
    id: str
    name: str | None


class _Team(_Open):
    id: str
    name: str | None
    projects: list[_Project]


class TeamsResult(_Open):
    """The teams you can see, with their projects."""

    teams: list[_Team]


class ProjectsResult(_Open):
    """The projects of one team."""

    teamId: str
    projects: list[_Project]


class _Member(_Open):
    id: str
    fullName: str | None
    email: str | None
    isApiKey: bool


class MembersResult(_Open):
    """The identities seen in one team's usage."""

    teamId: str
    members: list[_Member]
