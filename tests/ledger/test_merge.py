"""``maintain`` on DuckDB merges the main rollup tables: one row per key and bucket afterwards
(each compaction appended its own), every answer the same before and after."""

from __future__ import annotations

from datetime import timedelta

from conftest import event, table
from ledger.contract import BASE, as_facts, expected_facts
from usagelens.ledger.base import FactQuery
from usagelens.ledger.duckdb import DuckDBLedger
from usagelens.ledger.duckdb.sql import _main_tables, main_table

KEY = "bucket, team_id, project_id, is_api_key, d1, d2"


def test_maintain_leaves_one_row_per_key_and_bucket_and_the_same_answers():
    with DuckDBLedger(":memory:") as led:
        rows = []
        for batch in range(4):  # four compactions touching the same buckets
            part = [
                event(f"{batch}-{i}", BASE + timedelta(hours=i % 30), user_id=f"u{i % 3}", project_id=f"p{i % 2}")
                for i in range(60)
            ]
            led.write_events(table(part))
            led.compact()
            rows += part
        cur = led._con.cursor()
        tables = [main_table(r, g, t) for r, g, t in _main_tables()]

        def duplicated() -> int:
            return sum(
                cur.execute(f"SELECT count(*) - count(DISTINCT ({KEY})) FROM {t}").fetchall()[0][0] for t in tables
            )

        queries = [
            FactQuery("team_a", BASE, BASE + timedelta(days=d), by)
            for d in (1, 2, 9)
            for by in [(), ("user_id",), ("project_id",), ("day",), ("model_id", "user_id")]
        ]
        before = [led.facts(q) for q in queries]
        assert duplicated() > 0
        led.maintain()
        assert duplicated() == 0
        for q, was in zip(queries, before, strict=True):
            got = led.facts(q)
            assert got.equals(was)
            assert as_facts(got, q.by) == expected_facts(rows, q)
