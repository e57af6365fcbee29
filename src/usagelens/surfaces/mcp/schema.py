"""What the MCP tools publish: argument types with their descriptions, and the result models.

- The argument types (``TeamId`` …) carry one short description each; ``compact_input`` strips
  pydantic's titles and ``anyOf [T, null]`` wrappers from the published input schema, because tool
  definitions are sent to the model on every turn.
- The result models (``UsageResult`` …) give the ``outputSchema`` (inlined, without titles); CU are
  JSON numbers.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

from usagelens.query import INCLUDES, PAGE

__all__ = [
    "ActivityOffset",
    "EndDate",
    "Include",
    "MembersResult",
    "ProjectId",
    "ProjectIds",
    "ProjectsResult",
    "RequiredTeamId",
    "ResponseFormat",
    "Scope",
    "StartDate",
    "TeamId",
    "TeamsResult",
    "Timezone",
    "UsageResult",
    "UserIds",
    "compact_input",
    "compact_output",
]

# -- arguments ------------------------------------------------------------------------------

TeamId = Annotated[str | None, Field(description="Team id; required when you can see several teams (teams_list).")]
RequiredTeamId = Annotated[str, Field(description="Team id (see teams_list).")]
ProjectId = Annotated[str | None, Field(description="Context project id; alone it filters to that project.")]
Scope = Annotated[
    str | None,
    Field(
        description="project (default when a project is given) or team (every project of the team).",
        json_schema_extra={"enum": ["project", "team"]},
    ),
]
ProjectIds = Annotated[list[str] | None, Field(description="Only these projects (not with scope team).")]
UserIds = Annotated[list[str] | None, Field(description="Only these users or API keys.")]
StartDate = Annotated[str | None, Field(description="First day, YYYY-MM-DD or ISO date-time (default: 30 days ago).")]
EndDate = Annotated[str | None, Field(description="Last day, inclusive, YYYY-MM-DD or ISO date-time (default: today).")]
Timezone = Annotated[str | None, Field(description="IANA timezone cutting dates and days (default UTC).")]
Include = Annotated[
    list[str] | None,
    Field(
        description="Sections to expand (see the tool description).",
        json_schema_extra={"items": {"type": "string", "enum": list(INCLUDES)}},
    ),
]
ActivityOffset = Annotated[
    int | None,
    Field(
        description=f"With include activity: page offset, {PAGE} events a page (0, {PAGE}, …).",
        json_schema_extra={"minimum": 0},
    ),
]
ResponseFormat = Annotated[
    str,
    Field(description="json (default) or markdown.", json_schema_extra={"enum": ["json", "markdown"]}),
]


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


class UsageResult(_Open):
    """The usage answer; each include value adds its section."""

    scope: _Scope
    totals: _Totals
    consumption: list[_Consumer]
    modelUsages: list[_ModelUsage]
    assetUsages: list[_AssetUsage]
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
