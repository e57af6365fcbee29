"""Budget alerts over REST (CONTRACT §5): ``GET /v1/alerts`` (each threshold crossing with its webhook
delivery state) and ``GET /v1/alerts/secret`` (the signing secret, so a receiver can check signatures;
admin only)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from usagelens.budgets.delivery import alerts_view, signing_secret
from usagelens.surfaces.http.common import json_response, only, service
from usagelens.surfaces.http.docs import READ_ERRORS

__all__ = ["router"]

router = APIRouter()


@router.get("/v1/alerts", tags=["usagelens"], summary="Budget alerts and their webhook delivery", responses=READ_ERRORS)
def list_alerts(request: Request, teamId: str | None = None) -> Response:
    """Every budget threshold crossing the key may read (of `teamId`, or all), newest first: the
    alert as its webhook receives it (`id`, `budgetId`, `teamId`, `scope`, `target`, `threshold`,
    `periodStart`, `periodEnd`, `timezone`, `usedCU`, `allowanceCU`, `crossedAt`, `webhook`) and its
    `delivery` (`state`: pending, delivered, failed or no_webhook; `attempts`, `nextAt`,
    `lastError`, `lastStatus`, `deliveredAt`). A project key sees its project's budget alerts only."""
    only(request, ("teamId",))
    svc = service(request)
    return json_response({"alerts": alerts_view(svc.ledger, svc.caller(request), teamId)})


@router.get(
    "/v1/alerts/secret", tags=["usagelens"], summary="The webhook signing secret (admin)", responses=READ_ERRORS
)
def alerts_secret(request: Request) -> Response:
    """The secret webhooks are signed with (`X-Usagelens-Signature`, HMAC-SHA256), created on first
    use and the same for every server on the store: `{"secret": "…"}`. Needs an admin key."""
    only(request, ())
    svc = service(request)
    return json_response({"secret": signing_secret(svc.ledger, svc.caller(request))})
