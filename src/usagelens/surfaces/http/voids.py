"""Corrections over REST (CONTRACT §1): ``POST /v1/usage-events/void`` and the audit trail
``GET /v1/usage-events/voids``.

A void request is validated whole (ids, reason, every replacement event with the same rules and
messages as ingest) before anything is written, then voids and replaces in one transaction.
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pyarrow as pa
from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from usagelens import corrections
from usagelens.errors import InvalidArgument
from usagelens.ingest.records import RecordValidator, refuse
from usagelens.jsonout import dumps
from usagelens.query_parse import shown
from usagelens.surfaces.http.common import json_response, only, service
from usagelens.surfaces.http.docs import READ_ERRORS, WRITE_ERRORS

__all__ = ["router"]

router = APIRouter()
_validator = RecordValidator("events")
_BODY = {"teamId", "ids", "reason", "replacements"}


def _no_constant(name: str) -> None:
    raise ValueError(f"{name} is not a JSON number")


def _body(raw: bytes) -> dict[str, Any]:
    """The request's JSON object (numbers exact); one sentence when it is not one."""
    fix = 'send {"teamId": "…", "ids": ["…"], "reason": "…", "replacements": [events]}'
    try:
        body = json.loads(raw or b"null", parse_float=Decimal, parse_constant=_no_constant)
    except RecursionError:
        raise InvalidArgument(f"the body nests JSON too deeply; {fix}") from None
    except (ValueError, UnicodeDecodeError) as e:
        raise InvalidArgument(f"the body is not valid JSON ({e}); {fix}") from None
    if not isinstance(body, dict):
        raise InvalidArgument(f"the body must be a JSON object; {fix}")
    for name in body:
        if name not in _BODY:
            raise InvalidArgument(
                f"{shown(name)} is not a field of a void request; use teamId, ids, reason, replacements", field=name
            )
    return body


def _replacements(value: Any) -> pa.Table | None:
    """Validated replacement events (the ingest rules, by index), or None when none are given."""
    if value is None:
        return None
    if not isinstance(value, list):
        raise InvalidArgument("replacements: give a JSON array of events (or leave it out)", field="replacements")
    if not value:
        return None
    if len(value) > corrections.MAX_VOID_IDS:
        raise InvalidArgument(
            f"replacements: {len(value):,} events; send at most {corrections.MAX_VOID_IDS:,}", field="replacements"
        )
    try:
        lines = "".join(dumps(r) + "\n" for r in value).encode()
    except RecursionError:
        raise InvalidArgument("replacements: an event nests JSON too deeply", field="replacements") from None
    checked = _validator.check(lines)
    if checked.problems:
        refused = refuse(checked.problems, len(value), "replacement events")
        refused.field = "replacements"
        raise refused
    return checked.valid


@router.post(
    "/v1/usage-events/void",
    tags=["usagelens"],
    summary="Void events (corrections), with replacements",
    responses=WRITE_ERRORS,
    openapi_extra={
        "requestBody": {
            "content": {
                "application/json": {
                    "schema": {
                        "type": "object",
                        "required": ["teamId", "ids", "reason"],
                        "properties": {
                            "teamId": {"type": "string"},
                            "ids": {"type": "array", "items": {"type": "string"}},
                            "reason": {"type": "string"},
                            "replacements": {"type": "array", "items": {"type": "object"}},
                        },
                    }
                }
            },
            "required": True,
        }
    },
)
async def void_events(request: Request) -> Response:
    """Void events of `teamId` by id (CONTRACT §1), with a `reason` kept in the audit trail, and
    write `replacements` (events, as `POST /v1/usage-events` takes them) in the same transaction.
    Answers `{"voided": [ids], "alreadyVoided": [ids], "replacements": {"written", "duplicates"}}`;
    an id the team never stored refuses the whole request (404) and nothing changes. An admin key
    voids events of any team, an ingest key only its team's."""
    svc = service(request)
    caller = svc.caller(request)
    only(request, ())
    body = _body(await request.body())
    replacements = await run_in_threadpool(_replacements, body.get("replacements"))
    result = await run_in_threadpool(
        corrections.void, svc.watched, caller, body.get("teamId"), body.get("ids"), body.get("reason"), replacements
    )
    return json_response(
        {
            "voided": list(result.voided),
            "alreadyVoided": list(result.already_voided),
            "replacements": {"written": result.replacements.written, "duplicates": result.replacements.duplicates},
        }
    )


@router.get("/v1/usage-events/voids", tags=["usagelens"], summary="The audit trail of voids", responses=READ_ERRORS)
def list_voids(request: Request, teamId: str | None = None, limit: int = 1000, offset: int = 0) -> Response:
    """Voids, oldest first: the voided event, `voidedAt`, `voidedBy` (the key id, or `local`) and
    `reason`; of `teamId`, or of every team the key reads. Pages of `limit` (1–10,000) from
    `offset`, with `nextOffset` (null on the last page)."""
    only(request, ("teamId", "limit", "offset"))
    if not 1 <= limit <= 10_000:
        raise InvalidArgument(f"limit: {limit} is not accepted; use 1 to 10000", field="limit")
    if offset < 0:
        raise InvalidArgument(f"offset: {offset} is not accepted; use 0 or more", field="offset")
    svc = service(request)
    rows = corrections.audit(svc.ledger, svc.caller(request), teamId)
    page = rows.slice(offset, limit)
    after = offset + page.num_rows
    return json_response(
        {
            "voids": corrections.void_rows(page),
            "total": rows.num_rows,
            "nextOffset": after if after < rows.num_rows else None,
        }
    )
