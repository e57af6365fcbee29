"""The same events in DuckDB and in ClickHouse (chDB) give byte-identical answers.

The small demo workload (20,000 events over 60 days, with its entities and a team's own names)
is loaded into both backends; every ``usage`` answer (each include and all of them, JSON and
Markdown, several timezones including +05:30, +05:45 and DST days, ragged windows, project and
user filters, activity pages) and every ``GET /v1/usages`` body is compared as text.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime

import pyarrow as pa
import pytest

from chdb_support import chdb_url
from conftest import SMALL_DEMO
from usagelens.auth import Caller
from usagelens.demo import demo_entities
from usagelens.ledger import open_ledger
from usagelens.ledger.base import Ledger
from usagelens.model import ENTITY_SCHEMAS
from usagelens.query import INCLUDES, UsageArgs
from usagelens.report.scenario import SECTIONS
from usagelens.service import usage, usage_list

NOW = datetime(2026, 5, 1)


def _load(led: Ledger, events: pa.Table) -> Ledger:
    for kind, t in demo_entities(SMALL_DEMO).items():
        led.upsert_entities(kind, t)
    # a team's own name for one of its users: answers about that team show it, others don't
    names = pa.Table.from_pylist([{"id": "user_b_41", "full_name": "Own Name"}], schema=ENTITY_SCHEMAS["users"])
    led.upsert_entities("users", names, "team_b_1")
    # written in three batches, the second and third overlapping the first (duplicates skipped)
    n = events.num_rows
    led.write_events(events.slice(0, n // 2))
    led.write_events(events.slice(n // 3, n // 2))
    led.write_events(events.slice(n // 3))
    return led


@pytest.fixture(scope="module")
def pair(small_demo_events: pa.Table) -> Iterator[tuple[Ledger, Ledger]]:
    duck = _load(open_ledger(":memory:"), small_demo_events)
    house = _load(open_ledger(chdb_url("equivalence")), small_demo_events)
    yield duck, house
    duck.close()
    house.close()


def _teams(led: Ledger) -> list[str]:
    return [t["id"] for t in led.teams()]


def test_both_backends_hold_the_same_store(pair):
    duck, house = pair
    assert duck.teams() == house.teams()
    assert duck.team_activity() == house.team_activity()
    a, b = duck.stats(), house.stats()
    for f in ("events", "first_event", "last_event", "teams", "projects", "users", "models", "actions"):
        assert getattr(a, f) == getattr(b, f), f
    assert (a.api_key_events, a.total_cu, a.entities) == (b.api_key_events, b.total_cu, b.entities)
    assert a.events == 20_000


WINDOWS = [
    {},  # the default: the last 30 days before NOW
    {"start_date": "2026-03-01", "end_date": "2026-04-30"},  # the whole demo, New York's and Paris' DST days
    {"start_date": "2026-03-07T10:07:00Z", "end_date": "2026-03-29T23:59:59.123456Z"},  # ragged
    {"start_date": "2026-04-10", "end_date": "2026-04-10"},  # one day
]
ZONES = ["UTC", "Asia/Kolkata", "Asia/Kathmandu", "America/New_York", "Europe/Paris"]


def _same_usage(duck: Ledger, house: Ledger, args: UsageArgs) -> None:
    a = usage(duck, Caller.local(), args, now=NOW).text
    b = usage(house, Caller.local(), args, now=NOW).text
    assert a == b, f"{args}: the answers differ"


@pytest.mark.parametrize("zone", ZONES)
@pytest.mark.parametrize("window", range(len(WINDOWS)))
def test_every_include_gives_the_same_bytes(pair, zone, window):
    duck, house = pair
    team = "team_b_1"
    for include in [[], *([i] for i in INCLUDES), list(INCLUDES)]:
        args = UsageArgs(team_id=team, timezone=zone, include=include, **WINDOWS[window])
        _same_usage(duck, house, args)
    _same_usage(duck, house, UsageArgs(team_id=team, timezone=zone, response_format="markdown", **WINDOWS[window]))


def test_every_team_and_filter_gives_the_same_bytes(pair):
    duck, house = pair
    full = {"start_date": "2026-03-01", "end_date": "2026-04-30", "include": list(INCLUDES)}
    for team in _teams(duck):
        _same_usage(duck, house, UsageArgs(team_id=team, **full))
        projects = [p["id"] for t in duck.teams() if t["id"] == team for p in t["projects"]]
        _same_usage(duck, house, UsageArgs(team_id=team, project_ids=projects[:1], **full))
        _same_usage(duck, house, UsageArgs(team_id=team, user_ids=["user_b_41", "key_b_0", "nobody"], **full))
        _same_usage(duck, house, UsageArgs(team_id=team, project_ids=[], **full))


def test_activity_pages_give_the_same_bytes(pair):
    duck, house = pair
    for offset in (0, 100, 200, 5000):
        args = UsageArgs(
            team_id="team_b_1",
            start_date="2026-03-01",
            end_date="2026-04-30",
            include=["activity"],
            activity_offset=offset,
        )
        _same_usage(duck, house, args)


@pytest.mark.parametrize(
    "window",
    [
        {"start_date": "2026-03-01T00:00:00Z", "end_date": "2026-04-30T00:00:00Z"},  # days
        {"start_date": "2026-04-20T00:00:00Z", "end_date": "2026-04-25T00:00:00Z"},  # hours
        {"start_date": "2026-04-20T10:07:00Z", "end_date": "2026-04-20T12:00:00Z"},  # minutes, ragged
        {"start_date": "2026-04-20T00:00:00Z", "end_date": "2026-04-21T12:00:00Z"},  # 15 minutes
    ],
)
def test_scenario_usages_bodies_are_the_same(pair, window):
    duck, house = pair
    for drop_zero in (False, True):
        args = UsageArgs(team_id="team_b_1", **window)
        a = usage_list(duck, Caller.local(), args, set(SECTIONS), drop_zero, now=NOW).text
        b = usage_list(house, Caller.local(), args, set(SECTIONS), drop_zero, now=NOW).text
        assert a == b
