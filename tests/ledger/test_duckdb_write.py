"""The DuckDB write path's shapes: a large write checked by a semi-join instead of the in-memory
id set, a batch written in slices of one transaction, several batches streamed into one
transaction. Each counts duplicates exactly and writes all or nothing."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from conftest import event, table
from usagelens.ledger.duckdb import DuckDBLedger, write

T0 = datetime(2026, 3, 1)


def batch(ids: list[int], team: str = "team_a"):
    return table([event(i, T0 + timedelta(minutes=i % 5000), team_id=team) for i in ids])


def stored(led: DuckDBLedger) -> list[tuple]:
    return led._con.execute("SELECT team_id, id FROM events ORDER BY ALL").fetchall()


@pytest.mark.parametrize("join", [True, False])
def test_a_large_write_into_a_reopened_store_skips_stored_and_repeated_ids(tmp_path, monkeypatch, join):
    path = str(tmp_path / "s.duckdb")
    with DuckDBLedger(path) as led:
        led.write_events(batch(list(range(0, 100))))
    monkeypatch.setattr(write, "JOIN_ROWS", 10 if join else 10**9)
    with DuckDBLedger(path) as led:  # its id set is not loaded
        got = led.write_events(batch([*range(50, 150), 120, 7], team="team_a"))
        assert (got.written, got.duplicates) == (50, 52)
        assert (led._writer._keys is None) == join
        again = led.write_events(batch([149, 150]))  # a small write: the id set is loaded now
        assert (again.written, again.duplicates) == (1, 1)
        assert len(stored(led)) == 151


def test_a_batch_written_in_slices_is_one_transaction(tmp_path, monkeypatch):
    monkeypatch.setattr(write, "SLICE_ROWS", 30)
    with DuckDBLedger(str(tmp_path / "s.duckdb")) as led:
        got = led.write_events(batch([*range(100), *range(10), 500]))
        assert (got.written, got.duplicates) == (101, 10)
        assert len(stored(led)) == 101
        assert led._con.execute("SELECT sum(events) FROM rollups_recent WHERE kind = 2 AND grain = 0").fetchall() == [
            (101,)
        ]


def test_a_stream_that_fails_midway_writes_nothing(tmp_path):
    def batches():
        yield batch(list(range(10)))
        yield batch([*range(5, 15)])  # half of it written by the first batch
        raise RuntimeError("the source broke")

    with DuckDBLedger(str(tmp_path / "s.duckdb")) as led:
        cur = led._con.cursor()
        with pytest.raises(RuntimeError):
            led._writer.write_many(cur, batches())
        cur.close()
        assert stored(led) == []
        assert led._con.execute("SELECT count(*) FROM rollups_recent").fetchall() == [(0,)]
        cur = led._con.cursor()
        masks = led._writer.write_many(cur, iter([batch(list(range(10))), batch([*range(5, 15)])]))
        cur.close()
        assert [int(m.sum()) for m in masks] == [10, 5]
        assert len(stored(led)) == 15
