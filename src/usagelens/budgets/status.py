"""Where a budget stands now (CONTRACT §5): its period, the exact use so far, the grants left, the
forecast at the period's end and the day the allowance runs out.

Use is summed from the ledger (``facts``, per local day in the budget's zone), so it equals the
sum of the scope's events in the period to the cent. Grants (team budgets only) are consumed day
by day by the team's use beyond its budget in each period, from the grant's first day until its
expiry, the earliest expiry first; a day that uses nothing beyond the budget consumes nothing
(refunds do not restore a grant).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from usagelens.budgets import series
from usagelens.budgets.forecast import Forecast, forecast
from usagelens.budgets.model import Budget, Grant
from usagelens.budgets.periods import Period, midnight, period_at
from usagelens.ledger.base import FactQuery, UsageReader

__all__ = ["BudgetStatus", "GrantStatus", "budget_status", "period_use"]

_ZERO = Decimal(0)


@dataclass(frozen=True)
class GrantStatus:
    """A grant and what is left of it now."""

    grant: Grant
    remaining: Decimal


@dataclass(frozen=True)
class BudgetStatus:
    """One budget now: ``remaining`` = the allowance + the grants this period consumed or may still
    consume − ``used`` (negative when overdrawn)."""

    budget: Budget
    period: Period
    used: Decimal
    remaining: Decimal
    grants: tuple[GrantStatus, ...]
    forecast: Forecast
    now: datetime

    @property
    def percent(self) -> Decimal:
        """Use as a percentage of the allowance (grants not counted), to 0.01."""
        return (self.used * 100 / self.budget.cu).quantize(Decimal("0.01"))


def _query(budget: Budget, start: datetime, end: datetime) -> FactQuery:
    projects = (budget.target,) if budget.scope == "project" and budget.target else None
    users = (budget.target,) if budget.scope in ("user", "key") and budget.target else None
    return FactQuery(budget.team_id, start, end, ("day",), projects, users, budget.timezone)


def _daily(reader: UsageReader, budget: Budget, first: date, after: date) -> dict[date, Decimal]:
    """CU per local day of the budget's scope, ``first`` to the day before ``after`` (kept
    current by writes: ``series``)."""
    zone = ZoneInfo(budget.timezone)

    def read() -> dict[date, Decimal]:
        rows = reader.facts(_query(budget, midnight(first, zone), midnight(after, zone))).to_pylist()
        return {r["day"].replace(tzinfo=UTC).astimezone(zone).date(): r["cu"] for r in rows}

    return series.daily(reader, budget, first, after, read)


def period_use(reader: UsageReader, budget: Budget, period: Period) -> Decimal:
    """The exact use of the budget's scope in ``period``."""
    return sum(_daily(reader, budget, period.first, period.last + timedelta(days=1)).values(), _ZERO)


def _grants_left(
    budget: Budget, grants: list[Grant], daily: dict[date, Decimal], today: date, current: Period
) -> tuple[tuple[GrantStatus, ...], Decimal]:
    """What is left of each grant after the days up to ``today`` (see the module docstring), and
    how much of them the ``current`` period consumed."""
    consumed = _ZERO
    left = {g.id: g.cu for g in grants}
    ordered = sorted(grants, key=lambda g: (g.expires, g.id))
    rule = budget.rule
    zone = ZoneInfo(budget.timezone)
    d = min((g.first for g in grants), default=today)
    period: Period | None = None
    total = _ZERO
    while d <= today:
        if period is None or d > period.last:
            period, total = period_at(rule, midnight(d, zone)), _ZERO
        before, total = total, total + daily.get(d, _ZERO)
        excess = max(_ZERO, total - budget.cu) - max(_ZERO, before - budget.cu)
        for g in ordered:
            if excess <= 0:
                break
            if g.first <= d < g.expiry:
                take = min(excess, left[g.id])
                left[g.id] -= take
                excess -= take
                consumed += take if d >= current.first else _ZERO
        d += timedelta(days=1)
    return tuple(GrantStatus(g, left[g.id]) for g in ordered), consumed


def budget_status(
    reader: UsageReader, budget: Budget, grants: list[Grant], now: datetime, known_from: datetime | None = None
) -> BudgetStatus:
    """``budget`` at the naive UTC instant ``now``; ``grants`` are the team's (used for a team
    budget only); ``known_from`` the scope's first event (days before it are not history)."""
    zone = ZoneInfo(budget.timezone)
    local_now = now.replace(tzinfo=UTC).astimezone(zone)
    today = local_now.date()
    period = period_at(budget.rule, now)
    mine = [g for g in grants if g.team_id == budget.team_id] if budget.scope == "team" else []
    first = min([period.first, today - timedelta(days=7), *(g.first for g in mine)])
    daily = _daily(reader, budget, first, period.last + timedelta(days=1))
    used = sum((v for d, v in daily.items() if period.first <= d <= period.last), _ZERO)
    left, consumed = _grants_left(budget, mine, daily, today, period) if mine else ((), _ZERO)
    active = sum((g.remaining for g in left if g.grant.first <= today < g.grant.expiry), _ZERO)
    day_start = midnight(today, zone)
    day_length = midnight(today + timedelta(days=1), zone) - day_start
    elapsed = Decimal((now - day_start) / day_length).quantize(Decimal("0.000001"))
    known = known_from.replace(tzinfo=UTC).astimezone(zone).date() if known_from else min(daily, default=None)
    allowance = budget.cu + consumed + active  # what the period may use in all
    outlook = forecast(daily, today, elapsed, period, used, allowance, known)
    return BudgetStatus(budget, period, used, allowance - used, left, outlook, now)
