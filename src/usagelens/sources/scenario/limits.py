"""A live account's plan as usagelens budgets: what ``usage --source scenario`` shows as ``budgets``.

Each team with limits (``GET /v1/teams/{id}/limits``) gets a team budget of ``limits.creativeUnits``
per period, the period being Scenario's billing period (``period.start`` to ``period.end``) as a
recurring run of whole UTC days from its first day. Use and forecast are then computed from the
account's own usage, exactly like a local budget. One-shot CUs are not added: Scenario already
counts what is left of them (read them with the SDK's ``teams.retrieve_limits()``).
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from usagelens.budgets.model import Budget
from usagelens.sources.scenario.plan import parse_instant

__all__ = ["plan_budget"]


def plan_budget(team_id: str, body: dict[str, Any]) -> Budget | None:
    """The team budget of a limits body, or None when it holds no usable allowance or period."""
    try:
        cu = Decimal(str(body["limits"]["creativeUnits"]))
        start = parse_instant(body["period"]["start"])
        end = parse_instant(body["period"]["end"])
    except (KeyError, TypeError, ValueError, InvalidOperation):
        return None
    if not cu.is_finite() or cu <= 0 or end <= start:
        return None
    days = max(1, min(366, round((end - start).total_seconds() / 86_400)))
    created = datetime.combine(start.date(), datetime.min.time())
    return Budget(
        team_id=team_id,
        scope="team",
        target=None,
        cu=cu.quantize(Decimal("0.000001")),
        period=f"{days}d",
        anchor=start.date().isoformat(),
        timezone="UTC",
        created_at=created.isoformat(),
    )
