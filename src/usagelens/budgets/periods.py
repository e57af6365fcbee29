"""Budget periods (CONTRACT §5): which recurring period an instant falls in, in the budget's zone.

A period is ``[start, end)`` of local calendar days, returned as naive UTC instants (the ledger's
time) and as local dates (what people read). Callers can rely on:

- ``monthly``: from local midnight of the anchor day (1–31; a month without that day starts on its
  last day: anchor 31 gives Jan 31, Feb 28/29, Mar 31, …) to the same in the next month;
- ``weekly``: from local midnight of the anchor weekday (1 = Monday … 7 = Sunday) for 7 days;
- ``Nd`` (N from 1 to 366): N local days, counted from the anchor date (a ``YYYY-MM-DD``);
- DST: a period starts at local midnight, so it may be 23 or 25 hours longer or shorter in UTC.
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from usagelens.errors import InvalidArgument

__all__ = ["Period", "PeriodRule", "midnight", "parse_rule", "period_at"]

_DAYS = re.compile(r"([1-9]\d{0,2})d")


@dataclass(frozen=True)
class PeriodRule:
    """How a budget's periods recur: ``kind`` monthly, weekly or days (with ``days``), the
    ``anchor`` (a day of month, a weekday, or a start date for ``days``) and the ``timezone``."""

    kind: str
    anchor: int | date
    timezone: str = "UTC"
    days: int = 0

    @property
    def text(self) -> str:
        """The rule as ``--period`` takes it: ``monthly``, ``weekly`` or ``30d``."""
        return f"{self.days}d" if self.kind == "days" else self.kind


@dataclass(frozen=True)
class Period:
    """One period: naive UTC bounds and the local dates it covers (``last`` included)."""

    start: datetime
    end: datetime
    first: date
    last: date


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise InvalidArgument(
            f"timezone: '{name}' is not an IANA time zone (e.g. UTC, Europe/Paris, America/New_York)",
            field="timezone",
        ) from None


def parse_rule(period: str, anchor: str | int | None, timezone: str, created: date) -> PeriodRule:
    """Check ``period`` (monthly, weekly, ``Nd``), its ``anchor`` and ``timezone``; one sentence
    naming the field otherwise. Defaults: monthly on day 1, weekly on Monday, ``Nd`` from
    ``created``."""
    _zone(timezone)
    text = str(anchor).strip() if anchor is not None else None
    if period == "monthly":
        day = _int_anchor(text, 1, 31, "a day of the month, 1 to 31 (31: the last day of shorter months)")
        return PeriodRule("monthly", day, timezone)
    if period == "weekly":
        day = _int_anchor(text, 1, 7, "a weekday, 1 (Monday) to 7 (Sunday)")
        return PeriodRule("weekly", day, timezone)
    m = _DAYS.fullmatch(period or "")
    if m and 1 <= int(m.group(1)) <= 366:
        try:
            start = date.fromisoformat(text) if text else created
        except ValueError:
            raise InvalidArgument(
                f"anchorDay: '{text}' is not a date; for a {period} period give the first day (YYYY-MM-DD)",
                field="anchorDay",
            ) from None
        return PeriodRule("days", start, timezone, int(m.group(1)))
    raise InvalidArgument(
        f"period: '{period}' is not accepted; use monthly, weekly or a number of days such as 30d (1d to 366d)",
        field="period",
    )


def _int_anchor(text: str | None, low: int, high: int, what: str) -> int:
    if text is None:
        return low
    if not text.isdigit() or not low <= int(text) <= high:
        raise InvalidArgument(f"anchorDay: '{text}' is not accepted; give {what}", field="anchorDay")
    return int(text)


def _month_start(year: int, month: int, day: int) -> date:
    return date(year, month, min(day, calendar.monthrange(year, month)[1]))


def _local_bounds(rule: PeriodRule, today: date) -> tuple[date, date]:
    """First day and the day after the last, of the period holding local date ``today``."""
    if rule.kind == "monthly":
        assert isinstance(rule.anchor, int)
        start = _month_start(today.year, today.month, rule.anchor)
        if start > today:
            y, m = (today.year - 1, 12) if today.month == 1 else (today.year, today.month - 1)
            start = _month_start(y, m, rule.anchor)
        y, m = (start.year + 1, 1) if start.month == 12 else (start.year, start.month + 1)
        return start, _month_start(y, m, rule.anchor)
    if rule.kind == "weekly":
        assert isinstance(rule.anchor, int)
        start = today - timedelta(days=(today.isoweekday() - rule.anchor) % 7)
        return start, start + timedelta(days=7)
    assert isinstance(rule.anchor, date)
    k = (today - rule.anchor).days // rule.days
    start = rule.anchor + timedelta(days=k * rule.days)
    return start, start + timedelta(days=rule.days)


def midnight(day: date, zone: ZoneInfo) -> datetime:
    """Local midnight of ``day`` in ``zone`` as a naive UTC instant."""
    return datetime(day.year, day.month, day.day, tzinfo=zone).astimezone(UTC).replace(tzinfo=None)


def period_at(rule: PeriodRule, now: datetime) -> Period:
    """The period holding the naive UTC instant ``now``."""
    zone = _zone(rule.timezone)
    today = now.replace(tzinfo=UTC).astimezone(zone).date()
    first, after = _local_bounds(rule, today)
    return Period(midnight(first, zone), midnight(after, zone), first, after - timedelta(days=1))
