"""Ledger contract, writes: round trip, idempotency per team, atomicity, group writes, exact
decimals, durability, concurrent callers (see ``contract.py``)."""

from __future__ import annotations

import json
import threading
from datetime import datetime, timedelta
from decimal import Decimal

import pyarrow as pa
import pytest

from conftest import event, table
from ledger.contract import EVER, everything, refused, stored, written
from usagelens.ingest.pipeline import ingest_file
from usagelens.ledger.base import FactQuery
from usagelens.model import ENTITY_SCHEMAS, EVENT_SCHEMA, WriteResult

T0 = datetime(2026, 3, 1, 9, 30)
DUCKDB = ("duckdb-memory", "duckdb-file")
#: The facts window of ``everything`` here (the events are within two days of ``T0``).
WINDOW = (datetime(2026, 2, 27, 13, 7), datetime(2026, 3, 4))


def test_events_read_back_equal_what_was_written(ledger):
    rows = [
        event(
            i,
            T0 + timedelta(minutes=i, microseconds=i),
            cu=Decimal(i) / 7 // Decimal("0.000001") * Decimal("0.000001") - 1,
            discount=Decimal(i) / 1000,
            nsfw=[["gore"], [], ["gore", "nudity"], None][i % 4],
            asset_kind="image" if i % 2 else None,
            asset_id=f"a{i}" if i % 2 else None,
            collection_id="c1" if i == 5 else None,
            job_id=None if i % 3 == 1 else f"j{i}",
            model_id=None if i == 4 else "m1",
            is_api_key=i % 3 == 0,
            user_id="O'Neil \\ é",
        )
        for i in range(10)
    ]
    assert ledger.write_events(table(rows)) == WriteResult(10, 0)
    assert stored(ledger) == written(rows)


def test_an_id_already_stored_for_the_team_is_skipped_counted_and_the_first_write_kept(ledger):
    first = ledger.write_events(table([event(1, T0), event(2, T0)]))
    again = ledger.write_events(table([event(2, T0, cu=Decimal("9")), event(3, T0)]))
    assert (first, again) == (WriteResult(2, 0), WriteResult(1, 1))
    assert [(r["id"], r["cu"]) for r in stored(ledger)] == [("e1", 1), ("e2", 1), ("e3", 1)]
    assert ledger.write_events(table([event(1, T0), event(3, T0)])) == WriteResult(0, 2)


def test_a_repeated_id_within_one_batch_keeps_the_first_occurrence(ledger):
    res = ledger.write_events(
        table([event(1, T0, cu=Decimal("2")), event(1, T0, cu=Decimal("5")), event(1, T0, cu=Decimal("7"))])
    )
    assert res == WriteResult(1, 2)
    assert [(r["id"], r["cu"]) for r in stored(ledger)] == [("e1", Decimal("2"))]


def test_the_same_id_in_another_team_is_a_different_event_in_one_batch_or_across_batches(ledger):
    assert ledger.write_events(table([event(1, T0), event(1, T0, team_id="team_b")])) == WriteResult(2, 0)
    assert ledger.write_events(table([event(2, T0, team_id="team_c")])) == WriteResult(1, 0)
    assert ledger.write_events(table([event(2, T0, team_id="team_a")])) == WriteResult(1, 0)
    assert [r["id"] for r in stored(ledger, "team_a")] == ["e1", "e2"]
    assert [r["id"] for r in stored(ledger, "team_b")] == ["e1"]
    assert [r["id"] for r in stored(ledger, "team_c")] == ["e2"]


def test_write_events_many_counts_each_batch_as_if_written_in_order(ledger):
    ledger.write_events(table([event(0, T0)]))
    batches = [
        table([event(0, T0), event(1, T0), event(2, T0)]),
        table([event(2, T0, cu=Decimal("5")), event(3, T0), event(3, T0)]),
        table([event(1, T0, team_id="team_b")]),
        EVENT_SCHEMA.empty_table(),
    ]
    assert ledger.write_events_many(batches) == [
        WriteResult(2, 1),
        WriteResult(1, 2),
        WriteResult(1, 0),
        WriteResult(0, 0),
    ]
    assert [(r["id"], r["cu"]) for r in stored(ledger)] == [(f"e{i}", 1) for i in range(4)]
    assert [r["id"] for r in stored(ledger, "team_b")] == ["e1"]


def test_an_empty_batch_writes_nothing(ledger):
    assert ledger.write_events(EVENT_SCHEMA.empty_table()) == WriteResult(0, 0)
    assert ledger.stats().events == 0


def test_write_events_many_of_no_batches_writes_nothing(ledger):
    assert ledger.write_events_many([]) == []


def _bad_batches() -> dict[str, pa.Table]:
    good = [event(i, T0) for i in range(2, 50)]
    return {
        "missing required value": table([*good, event(50, T0, project_id=None)]),
        "missing column": table(good).drop_columns(["user_id"]),
        "wrong type": pa.Table.from_pylist([*[dict(r, time=str(r["time"])) for r in good], {"time": "soon"}]),
    }


@pytest.mark.parametrize("bad", ["missing required value", "missing column", "wrong type"])
def test_a_batch_with_an_invalid_row_writes_nothing_and_remembers_no_id(ledger, bad):
    ledger.write_events(table([event(1, T0)]))
    before = everything(ledger, ["team_a"], [], WINDOW)
    token = ledger.cache_token()
    refused(ledger.write_events, _bad_batches()[bad])
    assert everything(ledger, ["team_a"], [], WINDOW) == before
    assert ledger.cache_token() == token
    # nothing was remembered as written: the valid rows now go in whole
    assert ledger.write_events(table([event(i, T0) for i in range(1, 50)])) == WriteResult(48, 1)


def test_a_group_with_one_invalid_batch_writes_none_of_its_batches(ledger):
    good = table([event(i, T0) for i in range(10)])
    refused(ledger.write_events_many, [good, _bad_batches()["missing required value"]])
    assert stored(ledger) == []
    assert ledger.write_events_many([good]) == [WriteResult(10, 0)]


def test_warming_the_writer_changes_nothing_but_its_speed(ledger):
    ledger.write_events(table([event(1, T0)]))
    ledger.warm()
    ledger.warm()
    assert ledger.write_events(table([event(1, T0), event(2, T0)])) == WriteResult(1, 1)


def test_cu_sums_are_exact_decimals(ledger):
    tenths = [Decimal(i) / 10 for i in range(1, 11)]  # 0.1 + 0.2 + … + 1.0
    ledger.write_events(table([event(i, T0, cu=c) for i, c in enumerate(tenths)]))
    got = ledger.facts(FactQuery("team_a", T0 - timedelta(days=1), T0 + timedelta(days=1)))
    assert got["cu"][0].as_py() == Decimal("5.5")
    assert str(got["cu"][0].as_py()) == "5.500000"
    assert sum(tenths) == Decimal("5.5") and 0.1 + 0.2 != 0.3  # what floats would have done


def test_an_ingested_event_without_cu_discount_or_api_flag_reads_back_as_zero_zero_false(ledger, tmp_path):
    path = tmp_path / "e.jsonl"
    line = {"id": "a1", "time": "2026-03-01T10:00:00Z", "teamId": "t1", "projectId": "p1", "userId": "u1"}
    path.write_text(json.dumps(dict(line, action="upscale")) + "\n")
    assert ingest_file(ledger, str(path)).written == 1
    (row,) = stored(ledger, "t1")
    assert (row["cu"], row["discount"], row["is_api_key"]) == (Decimal(0), Decimal(0), False)


def test_what_was_written_is_all_there_after_closing_and_reopening_the_store(durable_stores):
    with durable_stores.new() as led:
        led.write_events(
            table([event(i, T0 + timedelta(hours=i), nsfw=["gore"] if i % 2 else None) for i in range(30)])
        )
        led.maintain()
        led.write_events(table([event(i, T0, team_id="team_b", user_id="u2") for i in range(5)]))
        names = pa.Table.from_pylist([{"id": "user_1", "full_name": "Ada"}], schema=ENTITY_SCHEMAS["users"])
        led.upsert_entities("users", names)
        led.upsert_entities("users", names.set_column(1, "full_name", pa.array(["A."])), "team_b")
        led.set_meta("sync", "2026-03-01")
        led.put_key(_key("k1"))
        before = everything(led, ["team_a", "team_b"], ["user_1"], WINDOW)
        keys, token = led.api_keys(), led.keys_token()
    # closed by the with block: the store opens again at once, even read-only
    again = durable_stores.reopen(led, read_only=True)
    assert everything(again, ["team_a", "team_b"], ["user_1"], WINDOW) == before
    assert (again.get_meta("sync"), again.api_keys(), again.keys_token()) == ("2026-03-01", keys, token)
    # and ids stay unique across reopening
    writable = durable_stores.reopen(again)
    assert writable.write_events(table([event(i, T0) for i in range(20, 40)])) == WriteResult(10, 10)


def _key(key_id: str, created: datetime = T0) -> dict:
    return {
        "key_id": key_id,
        "secret_hash": "h",
        "salt": "s",
        "team_id": "team_a",
        "kind": "analytics",
        "project_id": None,
        "label": None,
        "created_at": created,
    }


def test_writers_in_several_threads_are_serialised_and_each_id_is_written_once(ledger):
    # thread t writes ids t*10 … t*10+29 in three batches: each id is offered by up to three threads
    def write(t: int, out: list[WriteResult]) -> None:
        for b in range(3):
            out.append(ledger.write_events(table([event(t * 10 + b * 10 + i, T0) for i in range(10)])))

    results: list[list[WriteResult]] = [[] for _ in range(6)]
    threads = [threading.Thread(target=write, args=(t, results[t])) for t in range(6)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    done = [r for rs in results for r in rs]
    assert sum(r.written for r in done) == 80 and sum(r.duplicates for r in done) == 100
    assert [r["id"] for r in stored(ledger)] == sorted(f"e{i}" for i in range(80))


def test_a_reader_in_another_thread_sees_whole_batches_only(ledger):
    done = threading.Event()
    seen: list[int] = []

    def read() -> None:
        q = FactQuery("team_a", *EVER, by=("model_id",))
        while not done.is_set():
            seen.append(sum(ledger.facts(q)["events"].to_pylist()))
            seen.append(len(stored(ledger)))

    reader = threading.Thread(target=read)
    reader.start()
    try:
        for b in range(25):
            ledger.write_events(table([event(b * 7 + i, T0 + timedelta(hours=i), model_id=f"m{i}") for i in range(7)]))
    finally:
        done.set()
        reader.join()
    assert seen and all(n % 7 == 0 for n in seen), sorted(set(seen))
