"""Budgets and grants as the API and the CLI show them (camelCase fields, exact CU)."""

from __future__ import annotations

from typing import Any

from usagelens.budgets.model import Budget, Grant
from usagelens.jsonout import num

__all__ = ["budget_json", "grant_json"]


def budget_json(b: Budget) -> dict[str, Any]:
    """A budget as the API shows it."""
    return {
        "id": b.id,
        "teamId": b.team_id,
        "scope": b.scope,
        "target": b.target,
        "cu": num(b.cu),
        "period": b.period,
        "anchorDay": b.anchor,
        "timezone": b.timezone,
        "thresholds": list(b.thresholds),
        "webhook": b.webhook,
        "createdAt": b.created_at + "Z",
    }


def grant_json(g: Grant) -> dict[str, Any]:
    """A grant as the API shows it."""
    return {"id": g.id, "teamId": g.team_id, "cu": num(g.cu), "starts": g.starts, "expires": g.expires}
