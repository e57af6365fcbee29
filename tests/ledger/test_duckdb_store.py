"""What only the DuckDB backend has: a write failing inside its transaction, compaction of its
rollups, the schema-5 upgrade, and closing at interpreter exit during a background compaction
(that used to abort the process, exit 134). These look inside the store; the contract does not."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from collections.abc import Iterator
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path

import duckdb
import pyarrow as pa
import pytest

from conftest import event, table
from usagelens.errors import Unavailable
from usagelens.ledger.duckdb import DuckDBLedger
from usagelens.ledger.duckdb.write import COMPACT_AT
from usagelens.model import ENTITY_SCHEMAS

T0 = datetime(2026, 3, 1, 9, 30)


@pytest.fixture
def duck() -> Iterator[DuckDBLedger]:
    """A DuckDB store in memory (the ``ledger`` fixture here runs every backend)."""
    led = DuckDBLedger(":memory:")
    yield led
    led.close()


def _all(led: DuckDBLedger, sql: str) -> list[tuple]:
    return led._con.execute(sql).fetchall()


def test_a_batch_that_fails_inside_its_transaction_leaves_the_store_unchanged(duck):
    duck.write_events(table([event(1, T0)]))
    before = _all(duck, "SELECT * FROM events ORDER BY team_id, id")
    recent_before = _all(duck, "SELECT * FROM rollups_recent ORDER BY ALL")
    # a real failure after the events insert: the rollup table is gone
    duck._con.execute("ALTER TABLE rollups_recent RENAME TO rollups_gone")
    with pytest.raises(duckdb.Error):
        duck.write_events(table([event(i, T0) for i in range(2, 50)]))
    assert _all(duck, "SELECT * FROM events ORDER BY team_id, id") == before
    duck._con.execute("ALTER TABLE rollups_gone RENAME TO rollups_recent")
    assert _all(duck, "SELECT * FROM rollups_recent ORDER BY ALL") == recent_before
    # and nothing was remembered as written: the same batch now goes in whole
    assert duck.write_events(table([event(i, T0) for i in range(2, 50)])).written == 48


def test_maintenance_moves_every_recent_rollup_row_into_the_main_tables(duck):
    rows = [event(i, T0 + timedelta(minutes=7 * i), model_id=f"m{i % 5}", cu=Decimal(i % 17) / 4) for i in range(500)]
    for i in range(0, 500, 100):
        duck.write_events(table(rows[i : i + 100]))
    assert _all(duck, "SELECT count(*) FROM rollups_recent")[0][0] > 0
    duck.maintain()
    assert _all(duck, "SELECT count(*) FROM rollups_recent") == [(0,)]
    assert _all(duck, "SELECT sum(events) FROM rollup_model_hour") == [(500,)]


_V5 = {
    "teams": "id VARCHAR, name VARCHAR, PRIMARY KEY (id)",
    "projects": "id VARCHAR, team_id VARCHAR, name VARCHAR, PRIMARY KEY (team_id, id)",
    "users": "id VARCHAR, full_name VARCHAR, email VARCHAR, is_api_key BOOLEAN, PRIMARY KEY (id)",
    "models": "id VARCHAR, name VARCHAR, short_description VARCHAR, PRIMARY KEY (id)",
    "jobs": "id VARCHAR, job_type VARCHAR, status VARCHAR, PRIMARY KEY (id)",
    "assets": "id VARCHAR, kind VARCHAR, source VARCHAR, PRIMARY KEY (id)",
}


def _make_v5(path: str) -> None:
    """A store as usagelens with schema 5 wrote it: entity tables without an owner."""
    with DuckDBLedger(path) as led:
        led.write_events(table([event(1, datetime(2026, 4, 10))]))
    con = duckdb.connect(path)
    for kind, cols in _V5.items():
        con.execute(f"DROP TABLE {kind}")
        con.execute(f"CREATE TABLE {kind} ({cols})")
    con.execute("INSERT INTO teams VALUES ('team_a', 'Aurora')")
    con.execute("INSERT INTO projects VALUES ('proj_1', 'team_a', 'Main')")
    con.execute("INSERT INTO users VALUES ('user_1', 'Ada', 'ada@x', false)")
    con.execute("UPDATE meta SET value = '5' WHERE key = 'schema_version'")
    con.close()


def test_a_schema_5_store_is_upgraded_in_place_and_its_names_become_the_shared_default(store_path):
    _make_v5(store_path)
    with DuckDBLedger(store_path) as led:
        assert led.get_meta("schema_version") == "6"
        assert led.teams() == [{"id": "team_a", "name": "Aurora", "projects": [{"id": "proj_1", "name": "Main"}]}]
        ada = {"id": "user_1", "full_name": "Ada", "email": "ada@x", "is_api_key": False}
        assert led.entities("users", ["user_1"], "team_a") == [ada]
        assert led.entities("users", ["user_1"], "team_b") == [ada]
        renamed = pa.Table.from_pylist([{"id": "user_1", "full_name": "A."}], schema=ENTITY_SCHEMAS["users"])
        led.upsert_entities("users", renamed, "team_b")
        assert led.entities("users", ["user_1"], "team_a") == [ada]
        assert led.stats().events == 1


def test_a_schema_5_store_opened_read_only_says_how_to_upgrade_it(store_path):
    _make_v5(store_path)
    with pytest.raises(Unavailable) as e:
        DuckDBLedger(store_path, read_only=True)
    assert str(e.value) == (
        f"the store {store_path} has schema version 5, this usagelens needs 6; "
        "open it once without read-only to upgrade it"
    )


#: Events whose rollup rows exceed ``COMPACT_AT``, so the write starts a background compaction.
EVENTS = 12_000
SCRIPT = textwrap.dedent(
    """
    import sys
    from datetime import datetime, timedelta
    from decimal import Decimal

    import pyarrow as pa

    from usagelens.ledger.duckdb import DuckDBLedger
    from usagelens.model import EVENT_SCHEMA

    t0, n = datetime(2026, 1, 1), int(sys.argv[2])
    rows = [
        dict(id=f"e{i}", time=t0 + timedelta(minutes=7 * i), team_id="t", project_id=f"p{i % 50}",
             user_id=f"u{i % 997}", action="upscale", cu=Decimal(1), discount=Decimal(0), is_api_key=False,
             model_id=f"m{i % 113}", job_id=None, asset_id=None, collection_id=None, asset_kind=None, nsfw=None)
        for i in range(n)
    ]
    led = DuckDBLedger(sys.argv[1])
    led.write_events(pa.Table.from_pylist(rows, schema=EVENT_SCHEMA))
    print("written")
    # no close(): the interpreter exits while the compaction thread works
    """
)


def test_a_script_that_never_closes_the_ledger_exits_cleanly_with_its_data_and_compaction_done(tmp_path: Path):
    store = tmp_path / "store.duckdb"
    script = tmp_path / "write.py"
    script.write_text(SCRIPT)
    done = subprocess.run(
        [sys.executable, str(script), str(store), str(EVENTS)], capture_output=True, text=True, timeout=300
    )
    assert (done.returncode, done.stdout, done.stderr) == (0, "written\n", "")
    con = duckdb.connect(str(store), read_only=True)
    try:
        assert con.execute("SELECT count(*), count(DISTINCT id) FROM events").fetchall() == [(EVENTS, EVENTS)]
        # the compaction ran to its end before the connection closed
        assert con.execute("SELECT count(*) FROM rollups_recent").fetchall() == [(0,)]
        (compacted,) = con.execute("SELECT count(*) FROM rollup_user_hour").fetchall()[0]
        assert compacted > COMPACT_AT // 10
    finally:
        con.close()
