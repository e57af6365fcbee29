"""The ``budgets`` block of the ``usage`` answer (CONTRACT §5): the budgets that apply to the
answer's scope, each with its allowance, use, remainder, period, forecast and run-out day.

Which budgets apply: a team-wide answer (no project or user filter) gets the team's budget; an
answer filtered to projects gets those projects' budgets (a project key's answer is: never the
team's); an answer filtered to users gets those identities' (user or key) budgets. At most
``MAX_SHOWN`` items, so the block stays a few hundred bytes.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from usagelens.budgets.forecast import METHOD
from usagelens.budgets.model import Budget, Grant
from usagelens.budgets.status import BudgetStatus, budget_status
from usagelens.jsonout import num
from usagelens.ledger.base import UsageReader

__all__ = ["MAX_SHOWN", "applicable", "block", "item"]

MAX_SHOWN = 5


def applicable(
    reader: UsageReader, team_id: str, project_ids: tuple[str, ...] | None, user_ids: tuple[str, ...] | None
) -> list[Budget]:
    """The team's budgets that apply to an answer with these filters, by id."""
    budgets = [Budget.from_doc(d) for d in reader.docs("budgets").values()]
    mine = [b for b in budgets if b.team_id == team_id]
    if user_ids is not None:
        wanted = [b for b in mine if b.scope in ("user", "key") and b.target in user_ids]
    elif project_ids is not None:
        wanted = [b for b in mine if b.scope == "project" and b.target in project_ids]
    else:
        wanted = [b for b in mine if b.scope == "team"]
    return sorted(wanted, key=lambda b: b.id)[:MAX_SHOWN]


def item(s: BudgetStatus) -> dict[str, Any]:
    """One budget's entry of the block (CU as exact numbers, dates local to the budget's zone)."""
    b = s.budget
    out: dict[str, Any] = {"id": b.id, "scope": b.scope}
    if b.target is not None:
        out["target"] = b.target
    out |= {
        "allowanceCU": num(b.cu),
        "usedCU": num(s.used),
        "remainingCU": num(s.remaining),
        "usedPercent": float(s.percent),
        "period": {"start": s.period.first.isoformat(), "end": s.period.last.isoformat(), "timezone": b.timezone},
        "forecastCU": num(s.forecast.at_end),
        "runsOutOn": s.forecast.runs_out.isoformat() if s.forecast.runs_out else None,
    }
    if s.grants:
        out["grantsRemainingCU"] = num(sum((g.remaining for g in s.grants), num(0)))
    return out


def block(
    reader: UsageReader,
    team_id: str,
    project_ids: tuple[str, ...] | None,
    user_ids: tuple[str, ...] | None,
    now: datetime,
    first_event: datetime | None = None,
) -> dict[str, Any] | None:
    """The block for an answer about ``team_id`` with these filters at ``now`` (naive UTC), or
    None when no budget applies."""
    chosen = applicable(reader, team_id, project_ids, user_ids)
    if not chosen:
        return None
    grants = [Grant.from_doc(d) for d in reader.docs("grants").values()]
    items = [item(budget_status(reader, b, grants, now, first_event)) for b in chosen]
    return {"items": items, "forecastMethod": METHOD}
