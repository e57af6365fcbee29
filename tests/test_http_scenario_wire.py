"""Scenario's ``GET /v1/usages`` limits and granularity, as the official SDK (strict) sees our server.

Expected values are computed here from the events of ``scenario_wire``, never from our code: the
120-day limit of custom windows and the granularity rule of CONTRACT §3 (the finest of
``1m 5m 15m 30m 1h 1d 7d`` with at most 150 points, buckets aligned in UTC, weeks on Mondays,
the first bucket holding the start), with every point equal to the events' own sums.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from itertools import pairwise
from typing import Any

import httpx
import pytest
import scenario_sdk

from scenario_wire import TEAM, Wire, exact_json, instant, serve
from usagelens.auth import Caller
from usagelens.jsonout import dumps
from usagelens.query import UsageArgs, resolve
from usagelens.report.scenario import usage_list

STEPS = {
    "1m": timedelta(minutes=1),
    "5m": timedelta(minutes=5),
    "15m": timedelta(minutes=15),
    "30m": timedelta(minutes=30),
    "1h": timedelta(hours=1),
    "1d": timedelta(days=1),
    "7d": timedelta(days=7),
}


@pytest.fixture(scope="module")
def wire() -> Iterator[Wire]:
    with serve() as w:
        yield w


def _sums(rows, start: datetime, end: datetime, step: timedelta, origin: datetime) -> dict[str, dict[datetime, list]]:
    """usage name -> bucket start -> [events, CU] over ``TEAM``'s events in ``[start, end)``."""
    out: dict[str, dict[datetime, list]] = defaultdict(lambda: defaultdict(lambda: [0, Decimal(0)]))
    for r in rows:
        if r["team_id"] == TEAM and start <= r["time"] < end:
            bucket = r["time"] - (r["time"] - origin) % step
            out[r["action"]][bucket][0] += 1
            out[r["action"]][bucket][1] += r["cu"]
    return out


def _check_series(body: dict[str, Any], rows, start: datetime, end: datetime, granularity: str) -> int:
    """Every ``usages`` series of ``[start, end)``: its granularity, at most 150 consecutive points,
    the first holding ``start`` and the last ``end``'s last instant, each point equal to the
    events' own sums. Returns the number of points."""
    step = STEPS[granularity]
    want = _sums(rows, start, end, step, datetime(1970, 1, 5) if granularity == "7d" else datetime(1970, 1, 1))
    assert {u["usageName"] for u in body["usages"]} == set(want) != set()
    counts = set()
    for u in body["usages"]:
        times = [instant(p["time"]) for p in u["points"]]
        assert u["granularity"] == granularity and len(times) <= 150
        assert times[0] <= start < times[0] + step and times[-1] < end <= times[-1] + step
        assert all(b - a == step for a, b in pairwise(times))
        got = {instant(p["time"]): [int(p["value"]), p["cost"]] for p in u["points"]}
        assert got == {t: want[u["usageName"]].get(t, [0, 0]) for t in times}
        assert sum(c for _, c in got.values()) == sum(c for _, c in want[u["usageName"]].values())
        counts.add(len(times))
    (count,) = counts
    return count


# -- the 120-day limit ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("start", "end"),
    [
        ("2026-01-01", "2026-05-01"),  # a date-only end includes its day: 121 days
        ("2026-01-01T00:00:00Z", "2026-05-01T00:00:01Z"),
        ("2025-11-01", "2026-03-31"),
    ],
)
def test_a_custom_window_over_120_days_is_a_bad_request_naming_the_limit(wire, start, end):
    with pytest.raises(scenario_sdk.BadRequestError) as e:
        wire.sdk().usages.list(start_date=start, end_date=end, type=["consumption"])
    error = e.value.body["error"]
    assert e.value.status_code == 400 and error["code"] == "invalid_argument" and error["field"] == "startDate"
    message = error["message"]
    assert "startDate" in message and "endDate" in message and "120 days" in message and start in message
    assert "start_date" not in message and "end_date" not in message


@pytest.mark.parametrize(
    ("start", "end", "until", "points"),
    [
        ("2026-01-01", "2026-04-30", datetime(2026, 5, 1), 120),
        ("2026-01-01T00:00:00Z", "2026-05-01T00:00:00Z", datetime(2026, 5, 1), 120),
        ("2026-01-01T12:00:00Z", "2026-05-01T12:00:00Z", datetime(2026, 5, 1, 12), 121),
    ],
)
def test_exactly_120_days_is_answered_daily(wire, start, end, until, points):
    body = exact_json(wire.sdk().usages.with_raw_response.list(start_date=start, end_date=end, type=["usages"]))
    assert _check_series(body, wire.rows, instant(start), until, "1d") == points


def test_our_own_usage_endpoint_keeps_its_longer_limit(wire):
    params = {"start_date": "2025-11-01", "end_date": "2026-03-31"}
    r = httpx.get(f"{wire.url}/v1/usage", params=params, auth=wire.creds["analytics"])
    assert r.status_code == 200, r.text


# -- granularity (CONTRACT §3) --------------------------------------------------------------


@pytest.mark.parametrize(
    ("start", "end", "until", "granularity", "points"),
    [
        ("2026-03-10T10:00:00Z", "2026-03-10T11:00:00Z", None, "1m", 60),
        ("2026-03-10T10:00:30Z", "2026-03-10T11:00:30Z", None, "1m", 61),
        ("2026-03-10T00:00:00Z", "2026-03-10T12:30:00Z", None, "5m", 150),
        ("2026-03-10T00:00:00Z", "2026-03-11T00:00:00Z", None, "15m", 96),
        ("2026-03-10T00:07:00Z", "2026-03-11T00:07:00Z", None, "15m", 97),
        ("2026-03-10T00:00:00Z", "2026-03-13T00:00:00Z", None, "30m", 144),
        ("2026-03-10T00:00:00Z", "2026-03-14T00:00:00Z", None, "1h", 96),
        ("2026-03-10T00:00:00Z", "2026-03-17T00:00:00Z", None, "1d", 7),  # 168 hours are over 150
        ("2026-03-01", "2026-03-31", datetime(2026, 4, 1), "1d", 31),
    ],
)
def test_granularity_is_the_finest_with_at_most_150_points(wire, start, end, until, granularity, points):
    raw = wire.sdk().usages.with_raw_response.list(start_date=start, end_date=end, type=["usages", "model-usages"])
    body = exact_json(raw)
    assert _check_series(body, wire.rows, instant(start), until or instant(end), granularity) == points
    assert body["modelUsages"] and all(len(m["points"]) == points for m in body["modelUsages"])
    models = defaultdict(Decimal)
    for r in wire.rows:
        if r["team_id"] == TEAM and instant(start) <= r["time"] < (until or instant(end)):
            models[r["model_id"]] += r["cu"]
    assert {m["modelId"]: sum(p["cost"] for p in m["points"]) for m in body["modelUsages"]} == models


def _recent(wire: Wire, time_range: str, **kw: Any) -> tuple[dict[str, Any], datetime, datetime]:
    before = datetime.now(UTC).replace(tzinfo=None)
    body = exact_json(wire.sdk().usages.with_raw_response.list(time_range=time_range, type=["usages"], **kw))
    return body, before, datetime.now(UTC).replace(tzinfo=None)


@pytest.mark.parametrize(
    ("time_range", "span", "granularity"),
    [
        ("last-hour", timedelta(hours=1), "1m"),
        ("last-day", timedelta(days=1), "15m"),
        ("last-three-days", timedelta(days=3), "30m"),
    ],
)
def test_time_ranges_get_fine_points_that_add_up(wire, time_range, span, granularity):
    body, before, after = _recent(wire, time_range)
    step = STEPS[granularity]
    first = instant(body["usages"][0]["points"][0]["time"])
    # the window starts between before - span and after - span; its first bucket holds that start
    assert (before - span) - (before - span - datetime(1970, 1, 1)) % step <= first <= after - span
    count = _check_series(body, wire.rows, first, first + (len(body["usages"][0]["points"])) * step, granularity)
    assert count in (span // step, span // step + 1)


def test_dropped_zero_points_keep_the_fine_buckets(wire):
    full, _, _ = _recent(wire, "last-hour")
    dropped, _, _ = _recent(wire, "last-hour", drop_zero_points=True)
    for f, d in zip(full["usages"], dropped["usages"], strict=True):
        assert d["granularity"] == "1m" and d["points"] == [p for p in f["points"] if p["value"] != "0"] != []


def test_a_window_too_long_for_daily_points_gets_monday_weeks(wire):
    # not reachable on the wire (120 days at most), but the report follows the rule all the way
    q = resolve(
        UsageArgs(team_id=TEAM, start_date="2025-09-03", end_date="2026-03-31"), Caller.local(), wire.ledger.teams()
    )
    body = json.loads(dumps(usage_list(wire.ledger, q, {"usages"})), parse_float=Decimal)
    assert instant(body["usages"][0]["points"][0]["time"]) == datetime(2025, 9, 1)  # a Monday
    assert _check_series(body, wire.rows, datetime(2025, 9, 3), datetime(2026, 4, 1), "7d") == 31
