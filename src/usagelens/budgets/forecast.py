"""The forecast of a budget's use at the end of its period, and the day its allowance runs out.

Method (``METHOD``, also stated in the README and in every answer): the week's rhythm of the last
7 full local days. Each remaining day of the period is predicted to use what the same weekday used
in the last 7 full days (a seasonal naive forecast); the rest of today, today's prediction times
the share of today still to come. With fewer than 7 full days of history, every day is predicted
at the mean of the full days known; with none, at today's pace so far (counting at least one
hour elapsed). Days before the scope's first event are not history (a new team is not "idle").

What callers can rely on: a constant daily use is forecast exactly, and so is a use that repeats
every week; a use growing by ``g`` CU a day is under-forecast, day ``j`` ahead (0 = today) by
``7 g ⌈(j + 1) / 7⌉ ≤ g (j + 7)`` (the tests check these bounds). Amounts are exact decimals, rounded to 6 places.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import ROUND_HALF_EVEN, Decimal

from usagelens.budgets.periods import Period

__all__ = ["METHOD", "Forecast", "forecast"]

METHOD = "weekly rhythm of the last 7 full days (same weekday), else their mean, else today's pace"
_PLACES = Decimal("0.000001")
_MIN_ELAPSED = Decimal(1) / 24


@dataclass(frozen=True)
class Forecast:
    """Predicted use at the period's end, and the local day the allowance is (or was) used up
    (None: not within this period at this pace, or no allowance)."""

    at_end: Decimal
    runs_out: date | None


def _q(d: Decimal) -> Decimal:
    return d.quantize(_PLACES, rounding=ROUND_HALF_EVEN)


def _predictor(
    daily: dict[date, Decimal], today: date, known_from: date | None, elapsed: Decimal
) -> Callable[[date], Decimal]:
    """A function giving the predicted use of a local day, from the history before ``today``."""
    full = [today - timedelta(days=k) for k in range(7, 0, -1)]
    known = [d for d in full if known_from is not None and d >= known_from]
    if len(known) == 7:
        return lambda d: daily.get(full[(d - full[0]).days % 7], Decimal(0))  # the same weekday
    if known:
        mean = sum((daily.get(d, Decimal(0)) for d in known), Decimal(0)) / len(known)
        return lambda d: mean
    pace = daily.get(today, Decimal(0)) / max(elapsed, _MIN_ELAPSED)
    return lambda d: pace


def forecast(
    daily: dict[date, Decimal],
    today: date,
    elapsed: Decimal,
    period: Period,
    used: Decimal,
    allowance: Decimal | None,
    known_from: date | None,
) -> Forecast:
    """Forecast the period holding ``today`` (a local date) from ``daily`` (local day → CU,
    covering the period so far and the 7 days before today; missing days used nothing).

    ``elapsed`` is the share of today gone (0–1), ``used`` the exact use of the period so far,
    ``allowance`` the CU available in the period (None: no limit), ``known_from`` the scope's
    first day with an event (None: none yet)."""
    predict = _predictor(daily, today, known_from, elapsed)
    steps: list[tuple[date, Decimal]] = [(today, predict(today) * (1 - elapsed))]
    d = today + timedelta(days=1)
    while d <= period.last:
        steps.append((d, predict(d)))
        d += timedelta(days=1)
    at_end = used + sum((amount for _, amount in steps), Decimal(0))
    return Forecast(_q(at_end), _runs_out(daily, period, used, allowance, steps))


def _runs_out(
    daily: dict[date, Decimal],
    period: Period,
    used: Decimal,
    allowance: Decimal | None,
    steps: list[tuple[date, Decimal]],
) -> date | None:
    if allowance is None:
        return None
    if used >= allowance:  # already: the day the period's use reached it
        total = Decimal(0)
        d = period.first
        while d <= period.last:
            total += daily.get(d, Decimal(0))
            if total >= allowance:
                return d
            d += timedelta(days=1)
        return steps[0][0]
    total = used
    for day, amount in steps:
        total += amount
        if total >= allowance:
            return day
    return None
