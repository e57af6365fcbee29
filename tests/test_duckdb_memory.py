"""``USAGELENS_DUCKDB_MEMORY``: DuckDB's memory limit while a store answers, lifted for bulk
writes; a value DuckDB cannot read is one sentence naming the variable."""

from __future__ import annotations

import pytest

from conftest import table
from usagelens.errors import InvalidArgument
from usagelens.ledger.duckdb import DuckDBLedger
from usagelens.ledger.duckdb.connect import roomy


def limit(led: DuckDBLedger) -> str:
    return led._con.execute("SELECT current_setting('memory_limit')").fetchall()[0][0]


def test_a_file_store_answers_under_the_limit_and_bulk_work_lifts_it(store_path, monkeypatch, small_demo_events):
    monkeypatch.setenv("USAGELENS_DUCKDB_MEMORY", "300MB")
    with DuckDBLedger(store_path) as led:
        assert limit(led) == "286.1 MiB"  # DuckDB's reading of 300MB
        with roomy(led._con, store_path):
            assert limit(led) not in ("286.1 MiB", "")
        assert limit(led) == "286.1 MiB"
        assert led.write_events(small_demo_events).written == small_demo_events.num_rows  # a bulk write
        assert limit(led) == "286.1 MiB"


@pytest.mark.parametrize("value", ["lots", "12 parsecs"])
def test_a_value_duckdb_cannot_read_is_one_sentence(store_path, monkeypatch, value):
    monkeypatch.setenv("USAGELENS_DUCKDB_MEMORY", value)
    with pytest.raises(InvalidArgument) as got:
        DuckDBLedger(store_path)
    assert str(got.value).startswith(f"USAGELENS_DUCKDB_MEMORY: '{value}' is not a memory size; set it to e.g.")


def test_an_in_memory_store_is_not_limited(monkeypatch):
    monkeypatch.setenv("USAGELENS_DUCKDB_MEMORY", "lots")  # not even read
    with DuckDBLedger(":memory:") as led:
        assert led.write_events(table([])).written == 0
