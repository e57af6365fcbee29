"""A DuckDB ledger closes safely: as a context manager, twice, and at interpreter exit without
``close()`` while its background compaction runs (that used to abort the process, exit 134)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from datetime import datetime
from pathlib import Path

import duckdb

from conftest import event, table
from usagelens.ledger.duckdb import DuckDBLedger
from usagelens.ledger.duckdb.write import COMPACT_AT

#: Events whose rollup rows exceed ``COMPACT_AT``, so the write starts a background compaction.
EVENTS = 12_000
T0 = datetime(2026, 4, 10, 12)

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


def test_the_ledger_is_a_context_manager_that_releases_the_file(store_path: str):
    with DuckDBLedger(store_path) as led:
        assert led.write_events(table([event(1, T0)])).written == 1
    # the file is free again, at once, in this process
    with DuckDBLedger(store_path, read_only=True) as again:
        assert again.stats().events == 1


def test_closing_twice_does_nothing_the_second_time(store_path: str):
    led = DuckDBLedger(store_path)
    led.close()
    led.close()
    with DuckDBLedger(store_path) as again:
        assert again.stats().events == 0
