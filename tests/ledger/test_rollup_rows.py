"""Rollup rows of a batch from Arrow (``rollup_rows``, small batches) and from the DuckDB statement
(``rollup_append_sql``, large ones) are the same rows; a store written either way answers the
same."""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from decimal import Decimal

import duckdb
import pytest

from conftest import event, table
from usagelens.ledger.duckdb import sql as q
from usagelens.ledger.duckdb import write
from usagelens.ledger.duckdb.rollup_rows import rollup_rows


def mixed_events(n: int, seed: int) -> list[dict]:
    """Events covering what rollups treat specially: labels (none, empty, repeated, a null one),
    absent asset kinds and jobs, refunds, API keys, times before 1970 and around midnight."""
    rnd = random.Random(seed)
    labels = [None, [], ["a"], ["a", "b"], ["b", "b"], ["a", None]]
    start = datetime(1969, 12, 31, 22)
    return [
        event(
            i,
            start + timedelta(minutes=rnd.randrange(0, 60 * 60)),
            project_id=rnd.choice(["p1", "p2"]),
            user_id=rnd.choice(["u1", "u2", "u3"]),
            action=rnd.choice(["images-generation", "refunds", "upscale"]),
            cu=Decimal(rnd.randrange(-(10**9), 10**12)) / 10**6,
            discount=Decimal(rnd.randrange(0, 10**6)) / 10**6,
            is_api_key=rnd.random() < 0.3,
            model_id=rnd.choice(["m1", "m2", None]),
            job_id=rnd.choice([None, f"j{i}"]),
            asset_kind=rnd.choice([None, "image", "video"]),
            nsfw=rnd.choice(labels),
        )
        for i in range(n)
    ]


def sql_rows(batch, with_labels: bool) -> list[tuple]:
    con = duckdb.connect()
    for stmt in q.schema_sql():
        con.execute(stmt)
    con.register("_new", batch)
    con.execute(q.rollup_append_sql("_new", with_labels=with_labels))
    return sorted(con.execute("SELECT * FROM rollups_recent").fetchall(), key=repr)


@pytest.mark.parametrize("with_labels", [True, False])
@pytest.mark.parametrize("seed", [1, 2])
def test_arrow_rollup_rows_are_the_statements_rows(seed, with_labels):
    batch = table(mixed_events(3000, seed))
    con = duckdb.connect()
    for stmt in q.schema_sql():
        con.execute(stmt)
    con.register("_rows", rollup_rows(batch, with_labels=with_labels))
    con.execute("INSERT INTO rollups_recent SELECT * FROM _rows")
    ours = sorted(con.execute("SELECT * FROM rollups_recent").fetchall(), key=repr)
    assert ours == sql_rows(batch, with_labels)


def test_a_store_written_in_small_batches_answers_as_one_written_at_once(monkeypatch, tmp_path):
    from usagelens.ledger.duckdb import DuckDBLedger

    batch = table(mixed_events(4000, 3))
    monkeypatch.setattr(write, "ARROW_ROLLUP_BELOW", 1_000_000)
    with DuckDBLedger(str(tmp_path / "a.duckdb")) as a:
        for i in range(0, 4000, 500):
            a.write_events(batch.slice(i, 500))
        a.compact()
        small = a._con.execute("SELECT * FROM rollup_user_hour ORDER BY ALL").fetchall()
    monkeypatch.setattr(write, "ARROW_ROLLUP_BELOW", 0)
    with DuckDBLedger(str(tmp_path / "b.duckdb")) as b:
        b.write_events(batch)
        b.compact()
        whole = b._con.execute(
            "SELECT bucket, team_id, project_id, is_api_key, d1, d2, sum(events), sum(jobs), sum(assets), "
            "sum(cu), sum(discount) FROM rollup_user_hour GROUP BY ALL ORDER BY ALL"
        ).fetchall()
    summed = {}
    for r in small:
        key, m = r[:6], r[6:]
        summed[key] = tuple(x + y for x, y in zip(summed.get(key, (0,) * 5), m, strict=True))
    assert sorted((*k, *v) for k, v in summed.items()) == whole
