"""Read endpoints: Scenario's ``GET /v1/usages`` and ``GET /v1/teams``, our ``GET /v1/usage``
(the MCP tool's answer) and ``GET /v1/stats``."""

from __future__ import annotations

import dataclasses
import math
import re
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from usagelens.errors import Forbidden, InvalidArgument, NotFound
from usagelens.query import UsageArgs, resolve
from usagelens.query_parse import MAX_OFFSET, shown
from usagelens.report.jsonout import dumps, instant
from usagelens.report.scenario import SECTIONS, usage_list
from usagelens.service import usage as usage_answer
from usagelens.surfaces.http_docs import ERRORS, READ_ERRORS

__all__ = ["router"]

router = APIRouter()
Str = Annotated[str | None, Query()]
_RANGES = {
    "last-hour": timedelta(hours=1),
    "last-day": timedelta(days=1),
    "last-three-days": timedelta(days=3),
    "last-seven-days": timedelta(days=7),
    "last-thirty-one-days": timedelta(days=31),
}
_FALSY = {"false", "0", "no", "off"}


def _json(body: Any) -> Response:
    return Response(dumps(body), media_type="application/json")


def _split(*values: str | list[str] | None) -> list[str] | None:
    """Comma-separated and/or repeated values as one list (None when absent)."""
    out: list[str] = []
    for v in values:
        for item in [v] if isinstance(v, str) else (v or []):
            out += [p.strip() for p in item.split(",") if p.strip()]
    return out or None


def _wire_offset(raw: str | None) -> int:
    """Scenario's ``activityOffset``: "If bad offset or empty, 0 will be returned" (text that is not
    a finite number, or a negative one, reads as 0); a number past ``MAX_OFFSET`` is refused."""
    try:
        number = float(raw.strip()) if raw else 0.0
    except ValueError:
        return 0
    if not math.isfinite(number) or number <= 0:
        return 0
    if number > MAX_OFFSET:
        raise InvalidArgument(
            f"activityOffset: '{shown(raw)}' is past the last page usagelens serves; use an offset from 0 to "
            f"{MAX_OFFSET:,}, or narrow the window.",
            field="activityOffset",
        )
    return int(number)


#: The ``usage`` argument names as Scenario's wire spells them.
_WIRE = {
    "start_date": "startDate",
    "end_date": "endDate",
    "team_id": "teamId",
    "project_ids": "projectIds",
    "user_ids": "userIds",
}
_WIRE_NAMES = re.compile(r"\b(" + "|".join(_WIRE) + r")\b")


def _on_the_wire(e: InvalidArgument | NotFound) -> InvalidArgument | NotFound:
    """``e`` naming the parameters as ``/v1/usages`` takes them (``startDate``, not ``start_date``)."""
    field = _WIRE.get(e.field or "", e.field)
    return type(e)(_WIRE_NAMES.sub(lambda m: _WIRE[m.group(1)], e.message), field=field)


def _service(request: Request) -> Any:
    return request.app.state.service


def _only(request: Request, names: tuple[str, ...]) -> None:
    """Refuse a query parameter the endpoint does not take (a misspelled ``start=`` must not
    silently answer the default window)."""
    for given in request.query_params:
        if given not in names:
            accepted = f"use any of: {', '.join(names)}" if names else "it takes none"
            raise InvalidArgument(
                f"{shown(given)} is not a query parameter of {request.url.path}; {accepted}.", field=shown(given)
            )


#: The query parameters of ``/v1/usage``: the ``usage`` arguments, as ``query.UsageArgs`` declares them.
_USAGE_PARAMS = tuple(f.name for f in dataclasses.fields(UsageArgs))


def _readable(request: Request) -> Any:
    caller = _service(request).caller(request)
    if not caller.can_read:
        raise Forbidden("this key can only write events; use an analytics or project key to read usage")
    return caller


@router.get(
    "/v1/usages",
    tags=["Scenario-compatible"],
    summary="Usage data (Scenario's UsageListResponse)",
    responses=READ_ERRORS,
)
def usages(
    request: Request,
    start_date: Annotated[str | None, Query(alias="startDate")] = None,
    end_date: Annotated[str | None, Query(alias="endDate")] = None,
    time_range: Annotated[str | None, Query(alias="timeRange")] = None,
    type: Annotated[list[str] | None, Query()] = None,
    project_ids: Annotated[str | None, Query(alias="projectIds")] = None,
    user_ids: Annotated[str | None, Query(alias="userIds")] = None,
    user_id: Annotated[str | None, Query(alias="userId")] = None,
    team_id: Annotated[str | None, Query(alias="teamId")] = None,
    activity_offset: Annotated[str | None, Query(alias="activityOffset")] = None,
    drop_zero_points: Annotated[str | None, Query(alias="dropZeroPoints")] = None,
) -> Response:
    """Usage of a window, in the shape Scenario's SDKs parse (`UsageListResponse`)."""
    caller = _readable(request)
    if (start_date is None) != (end_date is None):
        raise InvalidArgument(
            "startDate and endDate go together: pass both, or neither (then timeRange applies).",
            field="startDate" if start_date is None else "endDate",
        )
    if start_date is None:
        span = _RANGES.get(time_range or "last-thirty-one-days")
        if span is None:
            raise InvalidArgument(
                f"timeRange: '{shown(time_range or '')}' is not accepted; use one of {', '.join(_RANGES)}.",
                field="timeRange",
            )
        now = datetime.now(UTC).replace(tzinfo=None)
        start_date, end_date = instant(now - span), instant(now)
    offset = _wire_offset(activity_offset)
    wanted = {t for t in _split(type) or [] if t in SECTIONS} or set(SECTIONS)
    args = UsageArgs(
        team_id=team_id,
        project_ids=_split(project_ids),
        user_ids=_split(user_ids, user_id),
        start_date=start_date,
        end_date=end_date,
        include=["activity"] if offset else [],
        activity_offset=offset or None,
    )
    service = _service(request)
    try:
        q = resolve(args, caller, service.ledger.teams())
    except (InvalidArgument, NotFound) as e:
        raise _on_the_wire(e) from None
    drop = drop_zero_points is not None and drop_zero_points.lower() not in _FALSY
    return _json(usage_list(service.ledger, q, wanted, drop))


@router.get(
    "/v1/teams", tags=["Scenario-compatible"], summary="Teams and their projects (Scenario's shape)", responses=ERRORS
)
def teams(request: Request) -> Response:
    """The teams the key can see, each with its projects, as Scenario's `TeamListResponse`."""
    _only(request, ())
    caller = _readable(request)
    service = _service(request)
    keys = [k for k in service.ledger.api_keys() if k["revoked_at"] is None]
    out = []
    for t in caller.visible_teams(service.ledger.teams()):
        created = t.get("created_at") or datetime(1970, 1, 1)
        out.append(
            {
                "id": t["id"],
                "name": t["name"] or t["id"],
                "createdAt": instant(created),
                "updatedAt": instant(created),
                "plan": "enterprise",
                "type": "shared",
                "context": {
                    "invitationsCount": 0,
                    "keysCount": sum(k["team_id"] == t["id"] for k in keys),
                    "userRole": "admin" if caller.kind == "local" else "key",
                    "usersCount": 0,
                },
                "projects": [
                    {
                        "id": p["id"],
                        "name": p["name"] or p["id"],
                        "createdAt": instant(created),
                        "updatedAt": instant(created),
                    }
                    for p in t["projects"]
                ],
            }
        )
    return _json({"teams": out})


@router.get("/v1/usage", tags=["usagelens"], summary="The usage summary (the MCP tool's answer)", responses=READ_ERRORS)
def usage(
    request: Request,
    team_id: Str = None,
    project_id: Str = None,
    scope: Str = None,
    project_ids: Annotated[list[str] | None, Query()] = None,
    user_ids: Annotated[list[str] | None, Query()] = None,
    start_date: Str = None,
    end_date: Str = None,
    timezone: Str = None,
    include: Annotated[list[str] | None, Query()] = None,
    activity_offset: Annotated[int | None, Query()] = None,
    response_format: Str = None,
) -> Response:
    """The bounded summary of CONTRACT §2 (same arguments and JSON as the `usage` MCP tool);
    `Accept: text/markdown` (or `response_format=markdown`) answers Markdown."""
    _only(request, _USAGE_PARAMS)
    caller = _readable(request)
    if response_format is None and "text/markdown" in request.headers.get("accept", ""):
        response_format = "markdown"
    args = UsageArgs(
        team_id=team_id,
        project_id=project_id,
        scope=scope,
        project_ids=_split(project_ids),
        user_ids=_split(user_ids),
        start_date=start_date,
        end_date=end_date,
        timezone=timezone,
        include=_split(include) or [],
        activity_offset=activity_offset,
        response_format=response_format,
    )
    answer = usage_answer(_service(request).ledger, caller, args)
    if answer.format == "markdown":
        return Response(answer.text, media_type="text/markdown; charset=utf-8")
    return Response(answer.text, media_type="application/json")


@router.get("/v1/stats", tags=["usagelens"], summary="What the store holds", responses=ERRORS)
def stats(request: Request) -> Response:
    """Counts of the store (local access or any key of the store's owner)."""
    _only(request, ())
    caller = _readable(request)
    if caller.kind != "local":
        raise Forbidden("store statistics cover every team; they are only available without keys (local use)")
    s = _service(request).ledger.stats()
    return _json({k: (instant(v) if isinstance(v, datetime) else v) for k, v in s.__dict__.items()})
