"""DuckDB's team list and team activity stay current across event writes without reloading:
after every batch they equal what a fresh read computes (identities counted, first events)."""

from __future__ import annotations

import itertools
from collections.abc import Iterator

import pytest
from hypothesis import given
from hypothesis import strategies as st

from conftest import table
from ledger.contract import events_st, fresh_prefix, property_settings, rows_of
from usagelens.ledger.duckdb import DuckDBLedger


@pytest.fixture(scope="module")
def duck() -> Iterator[DuckDBLedger]:
    with DuckDBLedger(":memory:") as led:
        yield led


def fresh(led: DuckDBLedger) -> tuple[list, dict]:
    led._entities.invalidate()  # white box: what a reload computes
    return led.teams(), led.team_activity()


@property_settings(30)
@given(spec=events_st, cuts=st.lists(st.integers(0, 120), max_size=4), compact=st.booleans())
def test_activity_and_teams_after_each_write_equal_a_fresh_read(duck, spec, cuts, compact):
    rows = rows_of(spec, fresh_prefix())
    bounds = sorted({0, len(rows), *(min(c, len(rows)) for c in cuts)})
    duck.team_activity()  # held in memory from here on
    duck.teams()
    for a, b in itertools.pairwise(bounds):
        duck.write_events(table(rows[a:b]))
        if compact:
            duck.maintain()
        got = duck.teams(), duck.team_activity()
        assert got == fresh(duck)
        duck.team_activity()  # cached again for the next batch


def test_a_write_keeps_names_and_the_team_list_when_nothing_new_appears(duck, monkeypatch):
    rows = rows_of(
        [
            {
                "minute": 5,
                "second": 0,
                "team": "team_a",
                "project": "p1",
                "user": "u1",
                "model": "m1",
                "action": "upscale",
                "cents": 100,
                "disc": 0,
                "kind": None,
                "nsfw": None,
            }
        ],
        fresh_prefix(),
    )
    duck.write_events(table(rows))
    teams, activity = duck.teams(), duck.team_activity()
    statements: list[str] = []
    real = duck._dicts
    monkeypatch.setattr(duck, "_dicts", lambda sql, params: statements.append(sql) or real(sql, params))
    again = [dict(rows[0], id="another")]
    duck.write_events(table(again))
    assert duck.teams() is teams
    assert duck.team_activity()[rows[0]["team_id"]]["users_count"] == activity[rows[0]["team_id"]]["users_count"]
    assert not any("FROM events" in s for s in statements)
