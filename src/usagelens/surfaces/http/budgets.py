"""Budgets and grants over REST (CONTRACT §5): ``PUT /v1/budgets``, ``GET /v1/budgets``,
``POST /v1/budgets/grants``, ``DELETE /v1/budgets?id=``. Changing them needs an admin key (or
local use); a team's analytics key reads its team's, a project key its project's budget."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from usagelens.budgets import registry
from usagelens.budgets.block import item
from usagelens.budgets.forecast import METHOD
from usagelens.budgets.status import budget_status
from usagelens.budgets.wire import budget_json, grant_json
from usagelens.errors import InvalidArgument
from usagelens.jsonout import dumps
from usagelens.query_parse import shown
from usagelens.surfaces.http.common import json_response, only, service
from usagelens.surfaces.http.docs import READ_ERRORS, WRITE_ERRORS

__all__ = ["router"]

router = APIRouter()
_BUDGET_FIELDS = {"teamId", "projectId", "userId", "keyId", "cu", "period", "anchorDay", "timezone", "thresholds"}
_BUDGET_FIELDS |= {"webhook"}
_GRANT_FIELDS = {"teamId", "cu", "starts", "expires"}


def _body(raw: bytes, fields: set[str]) -> dict[str, Any]:
    try:
        body = json.loads(raw or b"null", parse_float=Decimal)
    except (ValueError, UnicodeDecodeError, RecursionError) as e:
        raise InvalidArgument(f"the body is not valid JSON ({e}); send a JSON object") from None
    if not isinstance(body, dict):
        raise InvalidArgument("the body must be a JSON object")
    for name in body:
        if name not in fields:
            raise InvalidArgument(f"{shown(name)} is not accepted; use {', '.join(sorted(fields))}", field=name)
    return body


@router.put("/v1/budgets", tags=["usagelens"], summary="Set a budget (admin)", responses=WRITE_ERRORS)
async def put_budget(request: Request) -> Response:
    """Create or replace the budget of a team (or, with one of `projectId`, `userId`, `keyId`, of
    that target): `cu` per `period` (`monthly` on `anchorDay` 1–31, `weekly` on 1–7, or `Nd`),
    in `timezone`, alert `thresholds` (percent, default 50, 80, 100) and an optional `webhook`."""
    svc = service(request)
    caller = svc.caller(request)
    only(request, ())
    b = _body(await request.body(), _BUDGET_FIELDS)
    target = {k: b.get(k) for k in ("projectId", "userId", "keyId")}
    budget = await run_in_threadpool(
        lambda: registry.set_budget(
            svc.ledger,
            caller,
            b.get("teamId"),
            target=target,
            cu=b.get("cu"),
            period=b.get("period") or "monthly",
            anchor=b.get("anchorDay"),
            timezone=b.get("timezone") or "UTC",
            thresholds=b.get("thresholds"),
            webhook=b.get("webhook"),
        )
    )
    return json_response(budget_json(budget))


@router.post("/v1/budgets/grants", tags=["usagelens"], summary="Grant one-off CU (admin)", responses=WRITE_ERRORS)
async def post_grant(request: Request) -> Response:
    """Grant a team `cu` usable from `starts` (default today) until `expires` (YYYY-MM-DD,
    exclusive), consumed by use beyond its budget (Scenario's `oneShotCreativeUnits`)."""
    svc = service(request)
    caller = svc.caller(request)
    only(request, ())
    b = _body(await request.body(), _GRANT_FIELDS)
    grant = await run_in_threadpool(
        lambda: registry.add_grant(
            svc.ledger, caller, b.get("teamId"), cu=b.get("cu"), expires=b.get("expires"), starts=b.get("starts")
        )
    )
    return Response(dumps(grant_json(grant)), 201, media_type="application/json")


@router.get(
    "/v1/budgets", tags=["usagelens"], summary="Budgets and grants, with where they stand", responses=READ_ERRORS
)
def list_budgets(request: Request, teamId: str | None = None) -> Response:
    """The budgets (and grants) the key may read, of `teamId` or all: each with `status` (its
    period, exact use, remaining CU, forecast at the period's end and run-out day)."""
    only(request, ("teamId",))
    svc = service(request)
    caller = svc.caller(request)
    budgets = registry.budgets(svc.ledger, caller, teamId)
    grants = registry.grants(svc.ledger, caller, teamId)
    now = datetime.now(UTC).replace(tzinfo=None)
    out = []
    for b in budgets:
        mine = [g for g in grants if g.team_id == b.team_id]
        out.append(budget_json(b) | {"status": item(budget_status(svc.ledger, b, mine, now))})
    return json_response({"budgets": out, "grants": [grant_json(g) for g in grants], "forecastMethod": METHOD})


@router.delete("/v1/budgets", tags=["usagelens"], summary="Delete a budget or a grant (admin)", responses=WRITE_ERRORS)
def delete_budget(request: Request, id: str) -> Response:
    """Delete a budget (`id` = its id, e.g. `team_a` or `team_a/project/p1`) or a grant (`g_…`)."""
    only(request, ("id",))
    svc = service(request)
    kind = registry.delete(svc.ledger, svc.caller(request), id)
    return json_response({"deleted": id, "kind": kind})
