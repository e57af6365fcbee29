"""Writing events: round trip, idempotency, atomicity, exact decimals."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal

import duckdb
import pytest

from conftest import event, table
from usagelens.ledger.base import FactQuery
from usagelens.ledger.duckdb import DuckDBLedger

T0 = datetime(2026, 3, 1, 9, 30)


def _all_events(led: DuckDBLedger) -> list[tuple]:
    return led._con.execute("SELECT * FROM events ORDER BY team_id, id").fetchall()


def test_events_read_back_equal_what_was_written(ledger):
    rows = [
        event(
            i,
            T0 + timedelta(minutes=i),
            cu=Decimal(i) / 7 // Decimal("0.000001") * Decimal("0.000001"),
            nsfw=["gore"] if i == 3 else None,
            asset_kind="image" if i % 2 else None,
            is_api_key=i % 3 == 0,
        )
        for i in range(10)
    ]
    assert ledger.write_events(table(rows)).written == 10
    got = ledger._con.execute("SELECT id, time, cu, nsfw, asset_kind, is_api_key FROM events ORDER BY time").fetchall()
    assert got == [(r["id"], r["time"], r["cu"], r["nsfw"], r["asset_kind"], r["is_api_key"]) for r in rows]


def test_an_id_already_stored_for_the_team_is_skipped_and_counted(ledger):
    first = ledger.write_events(table([event(1, T0), event(2, T0)]))
    again = ledger.write_events(table([event(2, T0, cu=Decimal("9")), event(3, T0)]))
    assert (first.written, first.duplicates) == (2, 0)
    assert (again.written, again.duplicates) == (1, 1)
    assert ledger._con.execute("SELECT cu FROM events WHERE id = 'e2'").fetchone()[0] == 1


def test_a_repeated_id_within_one_batch_keeps_the_first_occurrence(ledger):
    res = ledger.write_events(
        table([event(1, T0, cu=Decimal("2")), event(1, T0, cu=Decimal("5")), event(1, T0, cu=Decimal("7"))])
    )
    assert (res.written, res.duplicates) == (1, 2)
    assert ledger._con.execute("SELECT cu FROM events").fetchall() == [(Decimal("2"),)]


def test_the_same_id_in_another_team_is_a_different_event(ledger):
    res = ledger.write_events(table([event(1, T0), event(1, T0, team_id="team_b")]))
    assert (res.written, res.duplicates) == (2, 0)


def test_idempotency_holds_across_reopening_the_store(store_path):
    led = DuckDBLedger(store_path)
    led.write_events(table([event(i, T0) for i in range(100)]))
    led.close()
    led = DuckDBLedger(store_path)
    res = led.write_events(table([event(i, T0) for i in range(50, 150)]))
    assert (res.written, res.duplicates) == (50, 50)
    led.close()


def test_a_batch_that_fails_midway_leaves_the_store_unchanged(ledger):
    ledger.write_events(table([event(1, T0)]))
    before = _all_events(ledger)
    recent_before = ledger._con.execute("SELECT * FROM rollups_recent ORDER BY ALL").fetchall()
    # a real failure after the events insert: the rollup table is gone
    ledger._con.execute("ALTER TABLE rollups_recent RENAME TO rollups_gone")
    with pytest.raises(duckdb.Error):
        ledger.write_events(table([event(i, T0) for i in range(2, 50)]))
    assert _all_events(ledger) == before
    ledger._con.execute("ALTER TABLE rollups_gone RENAME TO rollups_recent")
    assert ledger._con.execute("SELECT * FROM rollups_recent ORDER BY ALL").fetchall() == recent_before
    # and nothing was remembered as written: the same batch now goes in whole
    assert ledger.write_events(table([event(i, T0) for i in range(2, 50)])).written == 48


def test_a_batch_with_a_missing_required_value_writes_nothing(ledger):
    with pytest.raises((ValueError, duckdb.Error)):
        ledger.write_events(table([event(1, T0), event(2, T0, project_id=None)]))
    assert _all_events(ledger) == []


def test_cu_sums_are_exact_decimals(ledger):
    tenths = [Decimal(i) / 10 for i in range(1, 11)]  # 0.1 + 0.2 + … + 1.0
    ledger.write_events(table([event(i, T0, cu=c) for i, c in enumerate(tenths)]))
    got = ledger.facts(FactQuery("team_a", T0 - timedelta(days=1), T0 + timedelta(days=1)))
    assert got["cu"][0].as_py() == Decimal("5.5")
    assert str(got["cu"][0].as_py()) == "5.500000"
    assert sum(tenths) == Decimal("5.5") and 0.1 + 0.2 != 0.3  # what floats would have done


def test_absent_cu_discount_and_api_flag_default_to_zero_and_false(ledger):
    ledger.write_events(table([event(1, T0, cu=None, discount=None, is_api_key=None)]))
    assert ledger._con.execute("SELECT cu, discount, is_api_key FROM events").fetchone() == (
        Decimal("0"),
        Decimal("0"),
        False,
    )


def test_teams_and_projects_seen_in_events_are_listed(ledger):
    ledger.write_events(
        table(
            [
                event(1, T0),
                event(2, T0, project_id="proj_2"),
                event(3, T0, team_id="team_b", project_id="proj_9"),
            ]
        )
    )
    assert ledger.teams() == [
        {
            "id": "team_a",
            "name": None,
            "projects": [{"id": "proj_1", "name": None}, {"id": "proj_2", "name": None}],
        },
        {"id": "team_b", "name": None, "projects": [{"id": "proj_9", "name": None}]},
    ]


def test_many_small_batches_are_compacted_without_changing_any_figure(ledger):
    rows = [
        event(
            i,
            T0 + timedelta(minutes=7 * i),
            user_id=f"u{i % 13}",
            model_id=f"m{i % 5}",
            cu=Decimal(i % 17) / 4,
        )
        for i in range(3000)
    ]
    ledger.write_events(table(rows))
    q = FactQuery("team_a", T0, T0 + timedelta(days=30), by=("model_id",))
    before = ledger.facts(q).to_pylist()
    for start in range(0, 3000, 100):
        more = [dict(r, id=f"x{start}-{j}") for j, r in enumerate(rows[start : start + 100])]
        ledger.write_events(table(more))
    ledger.compact()
    after = ledger.facts(q).to_pylist()
    assert [r["cu"] for r in after] == [2 * r["cu"] for r in before]
    assert ledger._con.execute("SELECT count(*) FROM rollups_recent").fetchone()[0] == 0
