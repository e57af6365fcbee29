"""Write endpoints: ``POST /v1/usage-events`` and ``PUT /v1/entities/{kind}``.

A batch is validated whole and written in one transaction: every problem is listed by index
and field (422) and nothing is written, or every new event is written and acknowledged only
after the commit (so it survives a crash of the server).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from usagelens.errors import Forbidden, InvalidInput, UsageError
from usagelens.ingest.records import RecordValidator, body_lines, is_ndjson, refuse
from usagelens.jsonout import dumps
from usagelens.model import ENTITY_KINDS
from usagelens.surfaces.http.docs import WRITE_ERRORS

__all__ = ["MAX_BATCH", "router"]

router = APIRouter()
MAX_BATCH = 10_000
_validators: dict[str, RecordValidator] = {}


class TooLarge(UsageError):
    """More records than one request may carry."""

    code = "too_large"


def _validator(kind: str) -> RecordValidator:
    if kind not in _validators:
        _validators[kind] = RecordValidator(kind)
    return _validators[kind]


async def _records(request: Request, key: str) -> bytes:
    """The body as NDJSON (as sent, or one line per element of a JSON array), exact numbers."""
    raw = await request.body()
    content_type = request.headers.get("content-type", "")
    if is_ndjson(content_type):  # as sent: no parse, not worth a hop to a worker thread and back
        return body_lines(raw, content_type, key)
    return await run_in_threadpool(body_lines, raw, content_type, key)


def _size(body: bytes, key: str) -> int:
    """Lines of an NDJSON body (records and blank lines); refuses empty and oversized batches."""
    count = body.count(b"\n")
    if count > MAX_BATCH:
        raise TooLarge(f"the batch holds {count:,} {key}; send at most {MAX_BATCH:,} per request")
    if count == 0:
        raise InvalidInput(f"the batch holds no {key}")
    return count


def _check(kind: str, body: bytes, key: str) -> Any:
    _size(body, key)
    checked = _validator(kind).check(body)
    if checked.problems:
        raise refuse(checked.problems, checked.valid.num_rows + checked.invalid, key)
    if checked.valid.num_rows == 0:
        raise InvalidInput(f"the batch holds no {key} (only blank lines)")
    return checked.valid


@router.post(
    "/v1/usage-events",
    tags=["usagelens"],
    summary="Ingest usage events",
    responses=WRITE_ERRORS,
    openapi_extra={
        "requestBody": {
            "content": {
                "application/json": {"schema": {"type": "array", "items": {"type": "object"}}},
                "application/x-ndjson": {"schema": {"type": "array", "items": {"type": "object"}}},
            },
            "required": True,
        }
    },
)
async def ingest_events(request: Request) -> Response:
    """Write up to 10,000 events (CONTRACT §1 fields) atomically and idempotently; answers
    `{"written", "duplicates"}`. Ingest keys may only write their own team's events."""
    service = request.app.state.service
    caller = service.caller(request)
    if not caller.can_write:
        raise Forbidden("this key can only read; writing events needs an ingest key")
    body = await _records(request, "events")
    lines = _size(body, "events")

    def authorize(rows: Any) -> None:
        if not caller.is_platform and set(rows["team_id"].to_pylist()) - {caller.team_id}:
            raise Forbidden(f"this key writes events of team {caller.team_id} only", field="teamId")

    # validated and written together with concurrent requests (one statement, one transaction),
    # off the event loop, so reads go on
    result = await service.writer.submit(body, lines, authorize)
    return Response(dumps({"written": result.written, "duplicates": result.duplicates}), media_type="application/json")


@router.put(
    "/v1/entities/{kind}",
    tags=["usagelens"],
    summary="Upsert entities (names of ids)",
    responses=WRITE_ERRORS,
    openapi_extra={
        "requestBody": {
            "content": {"application/json": {"schema": {"type": "array", "items": {"type": "object"}}}},
            "required": True,
        }
    },
)
async def upsert_entities(request: Request, kind: str) -> Response:
    """Insert or replace entities of `kind` (teams, projects, users, models, jobs, assets): a JSON
    array of records with the fields of CONTRACT §1; the latest record of an id wins. A team's
    key writes its team's view of the ids (what that team alone sees); without a key, the shared
    default every team falls back to (CONTRACT §4)."""
    service = request.app.state.service
    caller = service.caller(request)
    if not caller.can_write:
        raise Forbidden("this key can only read; writing entities needs an ingest key")
    if kind not in ENTITY_KINDS:
        raise InvalidInput(f"kind: '{kind}' is not an entity kind (accepted: {', '.join(ENTITY_KINDS)})", field="kind")
    body = await _records(request, kind)
    valid = await run_in_threadpool(_check, kind, body, kind)
    if not caller.is_platform and kind in ("teams", "projects"):
        column = "id" if kind == "teams" else "team_id"
        if set(valid[column].to_pylist()) - {caller.team_id}:
            raise Forbidden(f"this key writes {kind} of team {caller.team_id} only")
    owner = None if caller.is_platform else caller.team_id
    written = await run_in_threadpool(service.ledger.upsert_entities, kind, valid, owner)
    return Response(dumps({"written": written}), media_type="application/json")
