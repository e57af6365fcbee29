"""The fast paths of the DuckDB write path give what the slow ones give: numpy id hashes are
DuckDB's ``hash(team_id, id)``, the bucket-indexed key set answers as a plain membership test,
the semi-join probe finds the stored ids the key set finds, and the single-key Arrow rollup
aggregation gives the rows of the column-keyed one (and of ``rollup_append_sql``)."""

from __future__ import annotations

import os
from datetime import datetime, timedelta
from decimal import Decimal

import duckdb
import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import event, table
from usagelens.ledger.duckdb import DuckDBLedger
from usagelens.ledger.duckdb import rollup_rows as rr
from usagelens.ledger.duckdb import sql as q
from usagelens.ledger.duckdb.dedupe import Written, hashes, new_rows, stored_by_join, stored_in
from usagelens.ledger.duckdb.keyset import KeySet, hash_agrees, pair_hashes

EXAMPLES = int(os.environ.get("USAGELENS_FUZZ_EXAMPLES", "40"))
_text = st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=90)


def duck_hashes(a: list[str], b: list[str]) -> np.ndarray:
    _t = pa.table({"a": pa.array(a, pa.string()), "b": pa.array(b, pa.string())})  # read by DuckDB
    got = duckdb.connect().execute("SELECT hash(a, b) AS k FROM _t").fetchnumpy()["k"]
    return np.asarray(got, dtype=np.uint64)


@settings(max_examples=EXAMPLES, deadline=None)
@given(st.lists(st.tuples(_text, _text), min_size=1, max_size=40), st.integers(0, 5))
def test_numpy_hashes_are_duckdbs(pairs, cut):
    a, b = [p[0] for p in pairs], [p[1] for p in pairs]
    cut = min(cut, len(pairs) - 1)
    # a sliced array (an offset into its buffers) and a chunked one hash as the whole does
    chunks = [pa.array(b[cut : cut + 1], pa.string()), pa.array(b[cut + 1 :], pa.string())]
    ours = pair_hashes(pa.array(a, pa.string()).slice(cut), pa.chunked_array(chunks))
    assert ours is not None
    assert np.array_equal(ours, duck_hashes(a[cut:], b[cut:]))
    large = pair_hashes(pa.array(a, pa.large_string()), pa.array(b, pa.large_string()))
    assert large is not None and np.array_equal(large, duck_hashes(a, b))


def test_numpy_hashes_decline_what_they_cannot_compute():
    assert pair_hashes(pa.array(["t", None]), pa.array(["a", "b"])) is None
    assert pair_hashes(pa.array(["t"]), pa.array(["x" * 600])) is None  # longer than 64 words
    assert pair_hashes(pa.array(["t"]), pa.array([1])) is None
    assert hash_agrees(duckdb.connect())


def test_small_and_large_batches_hash_alike():
    rows = table([event(f"id-{i}-é" * (i % 9), datetime(2026, 1, 1), team_id=f"t{i % 7}") for i in range(30_000)])
    con = duckdb.connect()
    assert np.array_equal(hashes(con, rows.slice(0, 100)), hashes(con, rows)[:100])


@settings(max_examples=EXAMPLES, deadline=None)
@given(
    st.lists(st.integers(0, 2**64 - 1), max_size=3000),
    st.lists(st.integers(0, 2**64 - 1), max_size=50),
    st.integers(0, 3),
)
def test_key_set_answers_membership(stored, extra, dup):
    values = np.array(stored + stored[:dup], dtype=np.uint64)
    ks = KeySet(values)
    ks.BUCKET = 2  # more buckets than the default: every path of the index search runs
    ks._set_base(ks._base)
    edge = [0, 2**64 - 1, *stored[:5]]
    needles = np.array(edge + extra, dtype=np.uint64)
    assert ks.contains(needles).tolist() == [v in set(stored) for v in needles.tolist()]
    ks.add(np.array(extra[:3], dtype=np.uint64))
    known = set(stored) | set(extra[:3])
    assert ks.contains_sorted(np.sort(needles)).tolist() == [v in known for v in np.sort(needles).tolist()]


def test_key_set_with_many_needles_walks_the_base():
    rng = np.random.default_rng(3)
    base = rng.integers(0, 2**64, 5000, dtype=np.uint64)
    ks = KeySet(base)
    needles = np.sort(np.concatenate([base[:300], rng.integers(0, 2**64, 300, dtype=np.uint64)]))
    assert ks.contains_sorted(needles).tolist() == np.isin(needles, base).tolist()


def test_the_join_probe_finds_what_the_key_set_finds(tmp_path):
    start = datetime(2026, 3, 1)
    with DuckDBLedger(str(tmp_path / "s.duckdb")) as led:
        led.write_events(table([event(i, start, team_id=f"t{i % 3}") for i in range(0, 400, 2)]))
        led.void_events("t0", ["e0", "e6"], reason="test", by="test")
        batch = table([event(i, start, team_id=f"t{i % 3}") for i in range(300)])
        cur = led._con.cursor()
        k = hashes(cur, batch)
        ordered = np.sort(k)
        by_join = new_rows(cur, batch, k, ordered, stored_by_join(cur), Written())
        by_keys = new_rows(cur, batch, k, ordered, stored_in(led._writer.keys(cur).contains_sorted), Written())
        cur.close()
    assert by_join.tolist() == by_keys.tolist() == [i % 2 == 1 for i in range(300)]


def mixed(n: int, seed: int, *, spread: timedelta) -> pa.Table:
    rnd = np.random.default_rng(seed)
    labels = [None, [], ["a"], ["a", "b"], ["b", "b"], ["a", None]]
    start = datetime(1969, 12, 31, 22)
    return table(
        [
            event(
                i,
                start + timedelta(seconds=int(rnd.integers(0, spread.total_seconds()))),
                team_id=f"t{rnd.integers(0, 3)}",
                project_id=f"p{rnd.integers(0, 4)}",
                user_id=None if i % 11 == 0 else f"u{rnd.integers(0, 9)}",
                action=["images-generation", "refunds", "upscale"][int(rnd.integers(0, 3))],
                cu=Decimal(int(rnd.integers(-(10**17), 10**17))) / 10**6,
                discount=Decimal(int(rnd.integers(0, 10**6))) / 10**6,
                is_api_key=bool(rnd.integers(0, 2)),
                model_id=[None, "m1", "m2"][int(rnd.integers(0, 3))],
                job_id=None if rnd.integers(0, 3) == 0 else f"j{i}",
                asset_kind=[None, "image", "video"][int(rnd.integers(0, 3))],
                nsfw=labels[int(rnd.integers(0, len(labels)))],
            )
            for i in range(n)
        ]
    )


def rows_of(t: pa.Table) -> list[tuple]:
    return sorted((tuple(r.values()) for r in t.to_pylist()), key=repr)


@settings(max_examples=EXAMPLES, deadline=None)
@given(st.integers(1, 400), st.integers(0, 10**6), st.sampled_from([1, 30, 3000]), st.booleans())
def test_single_key_rollup_rows_are_the_column_keyed_rows(n, seed, hours, with_labels):
    batch = mixed(n, seed, spread=timedelta(hours=hours))
    ours = rr.rollup_rows(batch, with_labels=with_labels)
    assert ours.schema == rr._by_columns(batch, with_labels).schema
    assert rows_of(ours) == rows_of(rr._by_columns(batch, with_labels))


@pytest.mark.parametrize("fits", [rr._FITS, 0])
def test_rollup_rows_equal_the_statements_rows(monkeypatch, fits):
    monkeypatch.setattr(rr, "_FITS", fits)  # 0: every batch takes the column-keyed path
    batch = mixed(2000, 5, spread=timedelta(days=3))
    con = duckdb.connect()
    for stmt in q.schema_sql():
        con.execute(stmt)
    _new = batch  # read by DuckDB, by name
    con.execute(q.rollup_append_sql("_new"))
    theirs = sorted(con.execute("SELECT * FROM rollups_recent").fetchall(), key=repr)
    con.execute("DELETE FROM rollups_recent")
    _rows = rr.rollup_rows(batch)  # read by DuckDB, by name
    con.execute("INSERT INTO rollups_recent SELECT * FROM _rows")
    assert sorted(con.execute("SELECT * FROM rollups_recent").fetchall(), key=repr) == theirs


def test_no_rows_no_rollup_rows():
    empty = table([])
    assert rr.rollup_rows(empty).num_rows == 0
    assert rr.rollup_rows(empty).schema == rr._by_columns(empty, True).schema
