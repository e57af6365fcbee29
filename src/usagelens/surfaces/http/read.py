"""Read endpoints: Scenario's ``GET /v1/usages``, our ``GET /v1/usage`` (the MCP tool's answer)
and ``GET /v1/stats`` (the teams endpoints are in ``teams.py``).

Both usage endpoints answer through the core (``service.usage``, ``service.usage_list``: one
validation, one answer cache); ``/v1/usage``'s query parameters are ``query.ARGUMENTS``."""

from __future__ import annotations

import asyncio
import math
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from usagelens import query_parse
from usagelens.errors import Forbidden, InvalidArgument, NotFound
from usagelens.ingest.group_commit import WritePriority
from usagelens.jsonout import instant
from usagelens.ledger.series import MAX_WINDOW
from usagelens.query import ARGUMENTS, Argument, UsageArgs
from usagelens.query_parse import MAX_OFFSET, shown, split
from usagelens.report.scenario import SECTIONS
from usagelens.service import Answer, NotAtOnce, usage_list
from usagelens.service import usage as usage_answer
from usagelens.surfaces.http.common import json_response, only, reader, service
from usagelens.surfaces.http.docs import ERRORS, READ_ERRORS
from usagelens.surfaces.signature import with_arguments

__all__ = ["router"]

router = APIRouter()
_RANGES = {
    "last-hour": timedelta(hours=1),
    "last-day": timedelta(days=1),
    "last-three-days": timedelta(days=3),
    "last-seven-days": timedelta(days=7),
    "last-thirty-one-days": timedelta(days=31),
}
_FALSY = {"false", "0", "no", "off"}


def _wire_window(start_date: str | None, end_date: str | None, time_range: str | None) -> tuple[str, str, bool]:
    """``(startDate, endDate, custom)``: both dates as given (a custom window), or the
    ``timeRange`` (default ``last-thirty-one-days``) ending now; one of the two dates alone is refused."""
    if start_date is not None and end_date is not None:
        return start_date, end_date, True
    if (start_date is None) != (end_date is None):
        raise InvalidArgument(
            "startDate and endDate go together: pass both, or neither (then timeRange applies).",
            field="startDate" if start_date is None else "endDate",
        )
    span = _RANGES.get(time_range or "last-thirty-one-days")
    if span is None:
        raise InvalidArgument(
            f"timeRange: '{shown(time_range or '')}' is not accepted; use one of {', '.join(_RANGES)}.",
            field="timeRange",
        )
    now = datetime.now(UTC).replace(tzinfo=None)
    return instant(now - span) or "", instant(now) or "", False  # the instant of a datetime is never None


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


def _within_limit(start_date: str, end_date: str) -> None:
    """Scenario's limit on a custom window: ``startDate`` to ``endDate`` at most ``MAX_WINDOW``
    (120 days) apart, a date-only ``endDate`` counting its whole day as everywhere in usagelens
    (``2026-01-01`` to ``2026-04-30`` is exactly 120 days)."""
    utc = query_parse.zone(None)
    end = query_parse.instant("end_date", end_date, utc, True)  # in ``resolve``'s order: same errors
    start = query_parse.instant("start_date", start_date, utc, False)
    if end - start > MAX_WINDOW:
        days = f"{(end - start) / timedelta(days=1):.2f}".rstrip("0").rstrip(".")
        raise InvalidArgument(
            f"start_date/end_date: {shown(start_date)} to {shown(end_date)} spans {days} days, and the maximum "
            f"time range with custom start_date and end_date is {MAX_WINDOW.days} days (a date-only end_date "
            f"includes its whole day); move them closer, or split the window into requests of at most "
            f"{MAX_WINDOW.days} days.",
            field="start_date",
        )


#: The query parameters of ``/v1/usage``: the ``usage`` arguments, as ``query.ARGUMENTS`` declares them.
_USAGE_PARAMS = tuple(a.name for a in ARGUMENTS)


def _query_parameter(arg: Argument) -> tuple[Any, Any]:
    """The ``/v1/usage`` query parameter of a declared argument: optional (the core applies every
    default), described by the declaration's help; a list may be repeated or comma-separated."""
    return Annotated[arg.type | None, Query(description=arg.help)], None


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
    caller = reader(request)
    start_date, end_date, custom = _wire_window(start_date, end_date, time_range)
    offset = _wire_offset(activity_offset)
    wanted = {t for t in split(type) or [] if t in SECTIONS} or set(SECTIONS)
    args = UsageArgs(
        team_id=team_id,
        project_ids=split(project_ids),
        user_ids=split(user_ids, user_id),
        start_date=start_date,
        end_date=end_date,
        include=["activity"] if offset else [],
        activity_offset=offset or None,
    )
    drop = drop_zero_points is not None and drop_zero_points.lower() not in _FALSY
    try:
        if custom:
            _within_limit(start_date, end_date)
        service(request).writer.priority.wait()  # ingest first (``WritePriority``)
        answer = usage_list(service(request).ledger, caller, args, wanted, drop)
    except (InvalidArgument, NotFound) as e:
        raise _on_the_wire(e) from None
    return Response(answer.text, media_type="application/json")


@router.get("/v1/usage", tags=["usagelens"], summary="The usage summary (the MCP tool's answer)", responses=READ_ERRORS)
@with_arguments(_query_parameter)
async def usage(request: Request, **arguments: Any) -> Response:
    """The bounded summary of CONTRACT §2 (same arguments and JSON as the `usage` MCP tool);
    `Accept: text/markdown` (or `response_format=markdown`) answers Markdown."""
    # answered here in the event loop when it needs no wait (``service.NotAtOnce``), else in a
    # worker thread: the hop to a thread and back costs more than a small answer (measured: a
    # 10-identity team's distinct questions at concurrency 8, 330 req/s in threads, 625 here)
    await asyncio.sleep(0)  # one turn of the loop first: its I/O (replies being flushed, new
    # requests) goes between answers, not after a whole run of them (p99 at concurrency 8: the
    # largest team ~95 -> ~70 ms, a 10-identity team ~36 -> ~22 ms)
    only(request, _USAGE_PARAMS)
    caller = reader(request)
    if arguments["response_format"] is None and "text/markdown" in request.headers.get("accept", ""):
        arguments = {**arguments, "response_format": "markdown"}
    lists = {a.name: split(arguments[a.name]) for a in ARGUMENTS if a.is_list}
    args = UsageArgs(**{**arguments, **lists, "include": lists["include"] or []})
    ledger, priority = service(request).ledger, service(request).writer.priority
    try:
        if priority.busy:
            raise NotAtOnce  # ingest first (``WritePriority``): waiting is for a worker thread
        answer = usage_answer(ledger, caller, args, at_once=True)
    except NotAtOnce:
        answer = await run_in_threadpool(_after_writes, priority, lambda: usage_answer(ledger, caller, args))
    if answer.format == "markdown":
        return Response(answer.text, media_type="text/markdown; charset=utf-8")
    return Response(answer.text, media_type="application/json")


def _after_writes(priority: WritePriority, answer: Callable[[], Answer]) -> Answer:
    """``answer()`` once the group being written, if any, is (``WritePriority.wait``)."""
    priority.wait()
    return answer()


@router.get("/v1/stats", tags=["usagelens"], summary="What the store holds", responses=ERRORS)
def stats(request: Request) -> Response:
    """Counts of the store (local access or any key of the store's owner)."""
    only(request, ())
    caller = reader(request)
    if not caller.is_platform:
        raise Forbidden("store statistics cover every team; they need an admin key (or local use without keys)")
    s = service(request).ledger.stats()
    return json_response({k: (instant(v) if isinstance(v, datetime) else v) for k, v in s.__dict__.items()})
