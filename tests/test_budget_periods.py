"""Budget periods and forecasts (CONTRACT §5): period bounds in the budget's zone (DST, anchor day
31 in February, weekly, N days) and forecasts on synthetic series whose answer is known."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from usagelens.budgets.forecast import forecast
from usagelens.budgets.periods import Period, parse_rule, period_at
from usagelens.errors import InvalidArgument

CREATED = date(2026, 1, 15)


def _rule(period: str, anchor=None, tz: str = "UTC"):
    return parse_rule(period, anchor, tz, CREATED)


@pytest.mark.parametrize(
    ("anchor", "now", "first", "last"),
    [
        (31, datetime(2026, 2, 10), date(2026, 1, 31), date(2026, 2, 27)),  # Feb has no 31st: its last day
        (31, datetime(2026, 2, 28, 0, 0), date(2026, 2, 28), date(2026, 3, 30)),
        (31, datetime(2026, 3, 31, 12), date(2026, 3, 31), date(2026, 4, 29)),
        (31, datetime(2028, 2, 29, 1), date(2028, 2, 29), date(2028, 3, 30)),  # leap year
        (1, datetime(2026, 12, 31, 23, 59), date(2026, 12, 1), date(2026, 12, 31)),
        (15, datetime(2026, 1, 3), date(2025, 12, 15), date(2026, 1, 14)),  # across the year
    ],
)
def test_monthly_periods_start_on_the_anchor_day_or_the_months_last(anchor, now, first, last):
    p = period_at(_rule("monthly", anchor), now)
    assert (p.first, p.last) == (first, last)
    assert p.start == datetime.combine(first, datetime.min.time()) and p.start <= now < p.end


def test_a_period_starts_at_local_midnight_across_dst():
    paris = ZoneInfo("Europe/Paris")
    rule = _rule("monthly", 1, "Europe/Paris")
    # 2026-03-31 22:30 UTC is already April 1st in Paris (CEST, UTC+2)
    p = period_at(rule, datetime(2026, 3, 31, 22, 30))
    assert (p.first, p.last) == (date(2026, 4, 1), date(2026, 4, 30))
    assert p.start == datetime(2026, 3, 31, 22, 0) and p.end == datetime(2026, 4, 30, 22, 0)
    march = period_at(rule, datetime(2026, 3, 15))
    assert march.start == datetime(2026, 2, 28, 23, 0)  # CET, UTC+1
    assert march.end - march.start == timedelta(days=31) - timedelta(hours=1)  # spring forward
    assert march.start.replace(tzinfo=UTC).astimezone(paris).hour == 0


def test_weekly_and_n_day_periods():
    p = period_at(_rule("weekly", 7, "America/New_York"), datetime(2026, 11, 4, 12))  # a Wednesday
    assert (p.first, p.last) == (date(2026, 11, 1), date(2026, 11, 7)) and p.first.isoweekday() == 7
    assert p.end - p.start == timedelta(days=7, hours=1)  # New York falls back on Nov 1st
    nd = _rule("30d")  # from the creation date
    first = period_at(nd, datetime(2026, 2, 13, 23, 59))
    assert (first.first, first.last) == (date(2026, 1, 15), date(2026, 2, 13))
    assert period_at(nd, datetime(2026, 2, 14)).first == date(2026, 2, 14)
    assert period_at(_rule("10d", "2026-01-01"), datetime(2025, 12, 31)).first == date(2025, 12, 22)


@pytest.mark.parametrize(
    ("period", "anchor", "tz", "field"),
    [
        ("daily", None, "UTC", "period"),
        ("0d", None, "UTC", "period"),
        ("367d", None, "UTC", "period"),
        ("monthly", 32, "UTC", "anchorDay"),
        ("monthly", "x", "UTC", "anchorDay"),
        ("weekly", 0, "UTC", "anchorDay"),
        ("30d", "2026-13-01", "UTC", "anchorDay"),
        ("monthly", None, "Mars/Olympus", "timezone"),
    ],
)
def test_bad_rules_name_the_field(period, anchor, tz, field):
    with pytest.raises(InvalidArgument) as err:
        _rule(period, anchor, tz)
    assert err.value.field == field


@given(
    kind=st.sampled_from(["monthly", "weekly", "7d", "45d"]),
    anchor=st.integers(1, 31),
    tz=st.sampled_from(["UTC", "Europe/Paris", "America/New_York", "Asia/Kathmandu", "Australia/Lord_Howe"]),
    minutes=st.integers(0, 3 * 366 * 24 * 60),
)
def test_periods_tile_time(kind, anchor, tz, minutes):
    anchor_value = anchor if kind == "monthly" else (anchor % 7) + 1 if kind == "weekly" else None
    rule = _rule(kind, anchor_value, tz)
    now = datetime(2025, 1, 1) + timedelta(minutes=minutes)
    p = period_at(rule, now)
    assert p.start <= now < p.end
    assert period_at(rule, p.end).start == p.end  # the next period starts where this one ends
    assert period_at(rule, p.start - timedelta(microseconds=1)).end == p.start


def _period(first: date, days: int) -> Period:
    start = datetime.combine(first, datetime.min.time())
    return Period(start, start + timedelta(days=days), first, first + timedelta(days=days - 1))


def test_a_constant_use_is_forecast_exactly():
    period = _period(date(2026, 4, 1), 30)
    today = date(2026, 4, 11)
    daily = {today - timedelta(days=k): Decimal("12.5") for k in range(1, 20)}
    daily[today] = Decimal("5")  # 40 % of the day gone
    used = Decimal("12.5") * 10 + 5
    f = forecast(daily, today, Decimal("0.4"), period, used, Decimal("300"), date(2026, 3, 1))
    assert f.at_end == Decimal("12.5") * 30
    assert f.runs_out == date(2026, 4, 24)  # 24 days × 12.5 = 300


def test_a_weekly_rhythm_is_forecast_exactly():
    period = _period(date(2026, 4, 1), 30)
    today = date(2026, 4, 20)
    rhythm = [Decimal(v) for v in ("10", "20", "30", "40", "50", "1", "2")]  # by weekday
    daily = {
        date(2026, 3, 20) + timedelta(days=k): rhythm[(date(2026, 3, 20) + timedelta(days=k)).weekday()]
        for k in range(31)
    }
    daily[today] = Decimal(0)
    used = sum((v for d, v in daily.items() if d >= period.first), Decimal(0))
    f = forecast(daily, today, Decimal(0), period, used, None, date(2026, 1, 1))
    want = sum((rhythm[(period.first + timedelta(days=k)).weekday()] for k in range(30)), Decimal(0))
    assert f.at_end == want and f.runs_out is None


@given(growth=st.integers(0, 50), today_n=st.integers(8, 29))
def test_linear_growth_is_under_forecast_within_the_stated_bound(growth, today_n):
    period = _period(date(2026, 4, 1), 30)
    history_start = date(2026, 3, 1)
    today = period.first + timedelta(days=today_n)
    use = {history_start + timedelta(days=k): Decimal(100 + growth * k) for k in range(70)}
    daily = {d: v for d, v in use.items() if d < today}
    daily[today] = Decimal(0)
    used = sum((v for d, v in daily.items() if d >= period.first), Decimal(0))
    f = forecast(daily, today, Decimal(0), period, used, None, history_start)
    truth = used + sum((use[d] for d in use if today <= d <= period.last), Decimal(0))
    r = (period.last - today).days + 1  # day j ahead is under-forecast by 7g·⌈(j+1)/7⌉ ≤ g·(j + 7)
    assert truth - growth * (r * (r - 1) // 2 + 7 * r) <= f.at_end <= truth


def test_little_history_uses_the_mean_or_todays_pace():
    period = _period(date(2026, 4, 1), 10)
    today = date(2026, 4, 4)
    daily = {date(2026, 4, 2): Decimal(4), date(2026, 4, 3): Decimal(8), today: Decimal(3)}
    f = forecast(daily, today, Decimal("0.5"), period, Decimal(15), Decimal(20), date(2026, 4, 2))
    assert f.at_end == Decimal(15) + Decimal(6) * Decimal("0.5") + 6 * Decimal(6)
    assert f.runs_out == date(2026, 4, 5)
    new = forecast({today: Decimal(3)}, today, Decimal("0.25"), period, Decimal(3), None, today)
    assert new.at_end == Decimal(3) + Decimal(12) * Decimal("0.75") + 6 * 12
    over = forecast(daily, today, Decimal("0.5"), period, Decimal(15), Decimal(10), date(2026, 4, 2))
    assert over.runs_out == date(2026, 4, 3)  # already: 4 + 8 ≥ 10 on the 3rd
