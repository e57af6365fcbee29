"""How windows become Scenario requests, and the groupings Scenario can and cannot answer."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from itertools import pairwise

import pytest

from scenario_upstream import Account, Fault, account
from usagelens.errors import Forbidden, Unavailable
from usagelens.ledger.base import FactQuery
from usagelens.sources import ScenarioLedger
from usagelens.sources.scenario import LiveAccountControl
from usagelens.sources.scenario.plan import MAX_SPAN, bucket_label, day_chunks, point_label, split
from usagelens.sources.scenario.rows import series_rows

TEAM = "team_b_0"


def test_sums_use_consecutive_requests_of_at_most_120_days():
    start, end = datetime(2025, 1, 1, 7, 30), datetime(2026, 1, 1)
    chunks = split(start, end)
    assert chunks[0][0] == start and chunks[-1][1] == end and len(chunks) == 4
    assert all(b - a <= MAX_SPAN for a, b in chunks) and all(x[1] == y[0] for x, y in pairwise(chunks))


def test_daily_requests_depend_on_where_local_days_start():
    start, end = datetime(2026, 3, 1), datetime(2026, 4, 30)
    assert day_chunks(start, end, "UTC") == [(start, end)]  # UTC days: Scenario's own daily points
    paris = day_chunks(datetime(2026, 3, 28, 23), datetime(2026, 4, 2, 22), "Europe/Paris")
    assert all(b - a <= timedelta(hours=48) for a, b in paris)  # hourly points, whole-hour days (DST too)
    kolkata = day_chunks(datetime(2026, 3, 31, 18, 30), datetime(2026, 4, 3, 18, 30), "Asia/Kolkata")
    assert kolkata == [
        (datetime(2026, 3, 31, 18, 30), datetime(2026, 4, 1, 18, 30)),
        (datetime(2026, 4, 1, 18, 30), datetime(2026, 4, 2, 18, 30)),
        (datetime(2026, 4, 2, 18, 30), datetime(2026, 4, 3, 18, 30)),
    ]  # one request per local day, cut exactly at local midnight


def test_a_point_straddling_two_days_is_refused_not_guessed():
    paris = bucket_label("Europe/Paris")
    chunk = (datetime(2026, 4, 1), datetime(2026, 4, 5))
    assert point_label(datetime(2026, 4, 1, 21), timedelta(hours=1), chunk, paris) == datetime(2026, 3, 31, 22)
    assert point_label(datetime(2026, 4, 1, 22), timedelta(hours=1), chunk, paris) == datetime(2026, 4, 1, 22)
    with pytest.raises(Unavailable, match="straddle two buckets"):
        point_label(datetime(2026, 4, 2), timedelta(days=1), chunk, paris)


def test_a_series_without_points_still_counts_as_a_row():
    body = {"modelUsages": [{"modelId": "m1", "points": []}], "usages": []}
    rows = series_rows([((datetime(2026, 4, 1), datetime(2026, 4, 2)), body)], "model-usages", None)
    assert rows == {("m1",): {"cu": 0, "jobs": 0, "discount": 0, "api_cu": 0, "api_discount": 0}}


@pytest.fixture(scope="module")
def acc(demo_ledger) -> Iterator[Account]:
    with account(demo_ledger, TEAM) as a:
        yield a


@pytest.fixture
def live(acc) -> Iterator[ScenarioLedger]:
    acc.upstream.reset()
    led = acc.open()
    yield led
    led.close()
    acc.upstream.reset()


def test_a_coarser_upstream_granularity_is_an_error_not_a_wrong_day(acc, live):
    body = (
        b'{"usages": [{"usageName": "upscale", "granularity": "1d", "points": [{"time": "2026-04-01T00:00:00Z",'
        b' "value": "3", "apiKey": "0", "cost": 6, "discount": 0, "apiKeyCost": 0, "apiKeyDiscount": 0}]}]}'
    )
    acc.upstream.always = Fault(200, body)
    q = FactQuery(
        TEAM, datetime(2026, 3, 31, 22), datetime(2026, 4, 2, 22), by=("day", "action"), timezone="Europe/Paris"
    )
    with pytest.raises(Unavailable, match="cannot be cut exactly"):
        live.facts(q)


def test_per_project_figures_come_from_one_request_per_project(demo_ledger, acc, live):
    q = FactQuery(TEAM, datetime(2026, 4, 1), datetime(2026, 4, 15), by=("project_id", "action"))
    exposed = ("project_id", "action", "events", "cu", "discount", "api_events", "api_cu", "api_discount")
    remote, local = live.facts(q).select(exposed), demo_ledger.facts(q).select(exposed)
    assert remote.to_pylist() == local.to_pylist()
    asked = [r.query.get("projectIds") for r in acc.upstream.usages()]
    assert sorted(asked) == sorted(p["id"] for p in demo_ledger.teams()[0]["projects"])


@pytest.mark.parametrize(
    ("by", "message"),
    [
        (("day", "user_id"), "no daily series per user_id"),
        (("user_id", "model_id"), "does not break usage down by model_id × user_id"),
    ],
)
def test_groupings_scenario_cannot_answer_are_refused(live, by, message):
    with pytest.raises(Unavailable, match=message):
        live.facts(FactQuery(TEAM, datetime(2026, 4, 1), datetime(2026, 4, 2), by=by))


def test_a_live_account_is_a_reader_and_its_control_store_refuses_changes(live):
    assert not any(hasattr(live, m) for m in ("write_events", "upsert_entities", "put_key", "set_meta"))
    assert live.cache_token() is None  # answers are not cached beside its own short-lived page cache
    control = LiveAccountControl()
    with pytest.raises(Forbidden, match="usagelens sync scenario"):
        control.set_meta("x", "y")
    with pytest.raises(Forbidden, match="usagelens sync scenario"):
        control.put_key({"key_id": "k"})
    assert control.api_keys() == [] and control.get_meta("x") is None and control.keys_token() == ""
