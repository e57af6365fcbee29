"""DuckDB facts answered from memory (``ledger/duckdb/hot.py``): the same table as the statement
and the plain-Python oracle, for every dimension, window of whole hours, void and write order;
refused (the statement answers) where float64 could round or a day's sum leaves BIGINT."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from conftest import event, table
from ledger.contract import BASE, as_facts, events_st, expected_facts, fresh_prefix, property_settings, rows_of
from usagelens.ledger.base import FactQuery
from usagelens.ledger.duckdb import DuckDBLedger, factreader, hot, hotrows
from usagelens.ledger.duckdb import facts as duckdb_facts


@pytest.fixture(scope="module")
def duck() -> Iterator[DuckDBLedger]:
    """One DuckDB store for the module (examples use fresh team ids)."""
    with DuckDBLedger(":memory:") as led:
        yield led


#: Every grouping memory answers (one rollup's dimensions, or fewer).
BY = [(), ("user_id",), ("model_id",), ("label",), ("action", "asset_kind"), ("action",), ("asset_kind",)]


def statements(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The fact statements run from now on (memory answers run none)."""
    ran: list[str] = []
    real = duckdb_facts.fact_sql

    def spy(*args, **kw):
        out = real(*args, **kw)
        ran.append(out[0])
        return out

    monkeypatch.setattr(duckdb_facts, "fact_sql", spy)
    return ran


def by_statement(led: DuckDBLedger, q: FactQuery, monkeypatch: pytest.MonkeyPatch) -> object:
    with monkeypatch.context() as m:
        m.setattr(factreader, "_whole_hours", lambda *a: False)
        return led.facts(q)


@property_settings(40)
@given(
    spec=events_st,
    by=st.sampled_from(BY),
    first=st.integers(-72, 31 * 24),
    hours=st.integers(1, 34 * 24),
    voided=st.integers(0, 6),
    more=st.booleans(),
    summed=st.booleans(),
)
def test_memory_answers_equal_the_statement_and_the_oracle(
    duck, monkeypatch, spec, by, first, hours, voided, more, summed
):
    ledger = duck
    # whole days from the entry's running sums, or (past ``RUNNING_CELLS``) from its rows
    monkeypatch.setattr(hotrows, "RUNNING_CELLS", hotrows.RUNNING_CELLS if summed else 0)
    prefix = fresh_prefix()
    team = prefix + "team_a"
    rows = rows_of(spec, prefix)
    half = len(rows) // 2 if more else len(rows)
    ledger.write_events(table(rows[:half]))
    ledger.maintain()
    mine = [r["id"] for r in rows[:half] if r["team_id"] == team][:voided]
    if mine:
        ledger.void_events(team, mine, reason="test", by="test")
    ledger.maintain()  # memory answers a compacted store only
    q = FactQuery(team, BASE + timedelta(hours=first), BASE + timedelta(hours=first + hours), by)
    kept = [r for r in rows[:half] if r["id"] not in set(mine) or r["team_id"] != team]
    ran = statements(monkeypatch)
    got = ledger.facts(q)
    assert ran == []
    assert as_facts(got, by) == expected_facts(kept, q)
    assert got.equals(by_statement(ledger, q, monkeypatch))
    if more:  # a later write is seen, before and after its rows are compacted
        ledger.write_events(table(rows[half:]))
        kept += rows[half:]
        uncompacted = ledger.facts(q)
        assert as_facts(uncompacted, by) == expected_facts(kept, q)
        assert uncompacted.equals(by_statement(ledger, q, monkeypatch))
        ledger.maintain()
        assert as_facts(ledger.facts(q), by) == expected_facts(kept, q)


def test_uncompacted_rows_come_from_memory_filters_raw_slices_and_days_go_to_the_statement(duck, monkeypatch):
    ledger = duck
    team = fresh_prefix() + "team_a"
    rows = [event(i, BASE + timedelta(hours=5 * i), user_id=f"u{i % 3}", team_id=team) for i in range(40)]
    ledger.write_events(table(rows))
    ran = statements(monkeypatch)
    whole = FactQuery(team, BASE, BASE + timedelta(days=9), ("user_id",))
    got = ledger.facts(whole)
    assert ran == []  # every row still in rollups_recent, every key new to memory: memory adds them
    assert as_facts(got, whole.by) == expected_facts(rows, whole)
    ledger.maintain()
    ledger.facts(whole)
    assert ran == []
    for q in (
        FactQuery(team, BASE + timedelta(minutes=30), BASE + timedelta(days=2)),
        FactQuery(team, BASE, BASE + timedelta(days=2), project_ids=("proj_1",)),
        FactQuery(team, BASE, BASE + timedelta(days=2), user_ids=("u1",)),
        FactQuery(team, BASE, BASE + timedelta(days=2), ("day",)),
        FactQuery(team, BASE, BASE + timedelta(days=2), ("project_id",)),
    ):
        assert as_facts(ledger.facts(q), q.by) == expected_facts(rows, q)
    assert len(ran) == 5


@pytest.mark.parametrize(
    ("cu", "n", "why"),
    [
        (Decimal("999999999999.999999"), 5, "the absolute sums pass 2**52 millionths: float64 could round"),
        (Decimal("999999999999.999999"), 12, "one day's sum passes BIGINT millionths"),
    ],
)
def test_sums_memory_cannot_add_exactly_go_to_the_statement(duck, monkeypatch, cu, n, why):
    ledger = duck
    team = fresh_prefix() + "big"
    rows = [event(i, BASE + timedelta(minutes=i), cu=cu, team_id=team) for i in range(n)]
    ledger.write_events(table(rows))
    ledger.maintain()
    ran = statements(monkeypatch)
    q = FactQuery(team, BASE, BASE + timedelta(days=1), ("model_id",))
    got = ledger.facts(q)
    assert ran, why
    assert got.to_pylist()[0]["cu"] == cu * n


def test_entries_are_bounded_and_the_least_recently_used_goes_first(monkeypatch):
    monkeypatch.setattr(hot, "HOT_ROWS", 100)
    with DuckDBLedger(":memory:") as led:
        rows = [event(f"{t}{i}", BASE + timedelta(days=i % 20), team_id=t) for t in "abc" for i in range(40)]
        led.write_events(table(rows))
        led.maintain()
        held = led._facts._hot._entries  # white box: which entries memory keeps
        for t in "abc":
            q = FactQuery(t, BASE, BASE + timedelta(days=20))
            assert as_facts(led.facts(q), ()) == expected_facts(rows, q)
        # each: 20 day rows and their running sums (21 boundaries × 2 API splits × 48 bytes: ~28 rows)
        assert [e.held for _, e in held.values()] == [48, 48]
        assert list(held) == [("b", "action", None), ("c", "action", None)]
        led.facts(FactQuery("a", BASE, datetime(2026, 4, 1)))
        assert list(held) == [("c", "action", None), ("a", "action", None)]


def test_rows_not_compacted_are_added_from_memory_and_a_compaction_in_flight_defers(duck, monkeypatch):
    team = fresh_prefix() + "live"
    day = [event(f"a{i}", BASE + timedelta(hours=i), team_id=team, user_id=f"u{i % 4}") for i in range(72)]
    later = [
        event(f"b{i}", BASE + timedelta(hours=i, minutes=30), team_id=team, user_id=f"u{i % 4}") for i in range(72)
    ]
    duck.write_events(table(day))
    duck.maintain()
    duck.write_events(table(later))  # same identities: memory knows their keys
    ran = statements(monkeypatch)
    for q in (
        FactQuery(team, BASE, BASE + timedelta(days=3), ("user_id",)),
        FactQuery(team, BASE + timedelta(hours=5), BASE + timedelta(hours=50), ("user_id",)),
    ):
        assert as_facts(duck.facts(q), q.by) == expected_facts(day + later, q)
    assert ran == []
    duck._upkeep.generation += 1  # white box: as while a compaction moves rows into the main tables
    try:
        assert as_facts(duck.facts(q), q.by) == expected_facts(day + later, q)
        assert len(ran) == 1
    finally:
        duck._upkeep.generation += 1
    new = [
        event("c0", BASE + timedelta(hours=7), team_id=team, user_id="someone new"),
        event("c1", BASE + timedelta(hours=30), team_id=team, user_id="a"),  # sorts before u0..u3
        event("c2", BASE + timedelta(days=1, hours=1), team_id=team, user_id="zz", model_id=None),
    ]
    duck.write_events(table(new))  # keys the main tables have never seen: still from memory, in order
    for q in (
        FactQuery(team, BASE, BASE + timedelta(days=3), ("user_id",)),
        FactQuery(team, BASE + timedelta(hours=5), BASE + timedelta(hours=50), ("user_id",)),
        FactQuery(team, BASE + timedelta(hours=5), BASE + timedelta(hours=50), ("model_id",)),  # a null key
    ):
        got = duck.facts(q)
        assert as_facts(got, q.by) == expected_facts(day + later + new, q)
        assert got.equals(by_statement(duck, q, monkeypatch))
    assert len(ran) == 1 + 3  # the in-flight query above, then only the comparisons' statements


def test_an_entry_too_big_to_hold_goes_to_the_statement(duck, monkeypatch):
    team = fresh_prefix() + "wide"
    rows = [event(i, BASE + timedelta(hours=i), team_id=team, user_id=f"u{i}") for i in range(30)]
    duck.write_events(table(rows))
    duck.maintain()
    monkeypatch.setattr(hotrows, "MAX_ENTRY_ROWS", 29)  # 30 identities: 30 day rows of the user rollup
    ran = statements(monkeypatch)
    q = FactQuery(team, BASE, BASE + timedelta(days=2), ("user_id",))
    assert as_facts(duck.facts(q), q.by) == expected_facts(rows, q)
    assert len(ran) == 1
    totals = FactQuery(team, BASE, BASE + timedelta(days=2))  # the action rollup: 2 day rows
    assert as_facts(duck.facts(totals), ()) == expected_facts(rows, totals)
    assert len(ran) == 1
