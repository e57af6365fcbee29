"""Ledger contract, the whole contents (``StoreContents``): events, entity rows and meta values read
back in the shapes writes take, so that a copy into any backend answers the same (see ``contract.py``)."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal

import pyarrow as pa
from hypothesis import given

from conftest import event, table
from ledger.contract import BASE, events_st, everything, property_settings, rows_of
from usagelens.ledger.base import EXPORT_BATCH
from usagelens.migrate import compare, copy_store
from usagelens.model import ENTITY_SCHEMAS, EVENT_SCHEMA

T0 = datetime(2026, 3, 1, 9, 30)


def _all(led, **kw) -> list[dict]:
    out = []
    for batch in led.events(**kw):
        assert batch.schema == EVENT_SCHEMA and 0 < batch.num_rows <= EXPORT_BATCH
        out += batch.to_pylist()
    return out


def test_events_read_back_whole_ordered_and_filtered(ledger):
    rows = [
        event("b", T0, team_id="team_b", nsfw=[]),
        event("z", T0, nsfw=None, model_id=None, cu=Decimal("-1.000001")),
        event("a", T0, nsfw=["gore", "nudity"], asset_kind="image"),
        event("c", T0 + timedelta(days=40), is_api_key=True, discount=Decimal("0.5")),
    ]
    ledger.write_events(table(rows))
    want = sorted(rows, key=lambda r: (r["team_id"], r["time"], r["id"]))
    assert _all(ledger) == table(want).to_pylist()
    assert [r["id"] for r in _all(ledger, team="team_a")] == ["ea", "ez", "ec"]
    assert [r["id"] for r in _all(ledger, start=T0 + timedelta(days=1))] == ["ec"]
    assert [r["id"] for r in _all(ledger, end=T0 + timedelta(days=1), team="team_b")] == ["eb"]
    assert _all(ledger, team="nobody") == []


def test_entity_rows_carry_their_owner(ledger):
    users = ENTITY_SCHEMAS["users"]
    ledger.upsert_entities("users", pa.Table.from_pylist([{"id": "u1", "full_name": "Shared"}], schema=users))
    ledger.upsert_entities("users", pa.Table.from_pylist([{"id": "u1", "email": "a@x"}], schema=users), "team_a")
    got = ledger.entity_rows("users").to_pylist()
    assert got == [
        {"owner": "", "id": "u1", "full_name": "Shared", "email": None, "is_api_key": None},
        {"owner": "team_a", "id": "u1", "full_name": None, "email": "a@x", "is_api_key": None},
    ]
    assert ledger.entity_rows("jobs").num_rows == 0


def test_meta_items_list_every_value(ledger):
    ledger.set_meta("sync.team_a", "cursor ' 1")
    ledger.set_meta("sync.team_a", "cursor 2")
    items = ledger.meta_items()
    assert items["sync.team_a"] == "cursor 2"


@property_settings(6)
@given(spec=events_st)
def test_a_copy_into_a_new_store_answers_the_same(stores, spec):
    source, target = stores.new(), stores.new()
    rows = rows_of(spec)
    source.write_events(table(rows))
    names = pa.Table.from_pylist([{"id": "u1", "full_name": "Ada"}], schema=ENTITY_SCHEMAS["users"])
    source.upsert_entities("users", names, "team_a")
    source.set_meta("sync.team_a", "x")
    result = copy_store(source, target)
    assert result.events == result.written == len(rows)
    assert compare(source, target) == []
    window = (BASE - timedelta(days=1), BASE + timedelta(days=32))  # the events' month, bounded: hour series
    answers = [everything(led, ["team_a", "team_b"], ["u1", "u2"], window) for led in (source, target)]
    for a in answers:
        a["stats"].pop("location")  # where each store is: the one thing that differs
    assert answers[0] == answers[1]
    assert target.get_meta("sync.team_a") == "x"
    again = copy_store(source, target)  # resumed after the last month: nothing left to copy
    assert again.written == 0 and again.skipped_months
