"""Ledger contract, corrections (CONTRACT §1): a void takes events out of every answer and every
rollup grain exactly, keeps them in the audit trail and their ids taken; a replacement is written
with it; voiding again changes nothing; an unknown id refuses the whole void."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal

import pyarrow as pa
import pytest
from hypothesis import given
from hypothesis import strategies as st

from conftest import event, table
from ledger.contract import (
    _SNAPSHOT_QUERIES,
    EVER,
    as_facts,
    events_st,
    expected_facts,
    fresh_prefix,
    property_settings,
    rows_of,
    stored,
    written,
)
from usagelens.errors import NotFound
from usagelens.ledger.base import FactQuery
from usagelens.model import VOID_SCHEMA, WriteResult

T0 = datetime(2026, 3, 1, 9, 30)
WINDOW = (datetime(2026, 2, 27, 13, 7), datetime(2026, 3, 4))


def _rows() -> list[dict]:
    return [
        event(i, T0 + timedelta(hours=i * 5), cu=Decimal(f"{i}.25"), nsfw=[["gore"], None][i % 2], model_id=f"m{i % 3}")
        for i in range(8)
    ]


def _facts_equal(led, rows, team="team_a", window=WINDOW) -> None:
    for kw in _SNAPSHOT_QUERIES:
        q = FactQuery(team, *window, **kw)
        assert as_facts(led.facts(q), q.by) == expected_facts(rows, q), kw


def test_a_void_leaves_answers_and_rollups_exact_and_is_listed_with_who_when_and_why(ledger):
    rows = _rows()
    ledger.write_events(table(rows))
    ledger.maintain()  # some rollup rows compacted, the subtraction lands in the recent ones
    before = datetime.now().replace(microsecond=0)
    got = ledger.void_events("team_a", ["e1", "e4"], reason="double billed", by="ul_k1")
    assert got.voided == ("e1", "e4") and got.already_voided == () and got.replacements == WriteResult(0, 0)
    left = [r for r in rows if r["id"] not in ("e1", "e4")]
    assert stored(ledger) == written(left)
    _facts_equal(ledger, left)
    ledger.maintain()
    _facts_equal(ledger, left)
    audit = ledger.voids("team_a")
    assert audit.schema == VOID_SCHEMA
    assert [(r["id"], r["cu"], r["voided_by"], r["reason"]) for r in audit.to_pylist()] == [
        ("e1", Decimal("1.25"), "ul_k1", "double billed"),
        ("e4", Decimal("4.25"), "ul_k1", "double billed"),
    ]
    assert all(r["voided_at"] >= before - timedelta(seconds=1) for r in audit.to_pylist())
    assert ledger.voids("team_b").num_rows == 0


def test_voiding_again_changes_nothing_and_a_voided_id_stays_taken(ledger):
    rows = _rows()
    ledger.write_events(table(rows))
    ledger.void_events("team_a", ["e2"], reason="wrong", by="local")
    again = ledger.void_events("team_a", ["e2", "e2"], reason="again", by="local")
    assert again.voided == () and again.already_voided == ("e2",)
    assert ledger.write_events(table([event(2, T0, cu=Decimal("99"))])) == WriteResult(0, 1)
    left = [r for r in rows if r["id"] != "e2"]
    assert stored(ledger) == written(left)
    _facts_equal(ledger, left)
    assert [r["reason"] for r in ledger.voids().to_pylist()] == ["wrong"]


def test_an_unknown_id_or_another_teams_id_refuses_the_whole_void(ledger):
    rows = _rows() + [event("b1", T0, team_id="team_b")]
    ledger.write_events(table(rows))
    for ids in (["e1", "nope"], ["e1", "eb1"]):
        with pytest.raises(NotFound) as err:
            ledger.void_events("team_a", ids, reason="x", by="local", replacements=table([event(100, T0)]))
        assert repr(ids[1]) in str(err.value)
    assert stored(ledger) == written(rows)
    assert stored(ledger, "team_b") == written(rows, "team_b")
    assert ledger.voids().num_rows == 0
    _facts_equal(ledger, rows)


def test_a_replacement_is_written_with_the_void(ledger):
    rows = _rows()
    ledger.write_events(table(rows))
    fix = event(103, T0 + timedelta(hours=15), cu=Decimal("0.5"), model_id="m0")
    got = ledger.void_events("team_a", ["e3"], reason="wrong CU", by="local", replacements=table([fix, rows[5]]))
    assert got.voided == ("e3",) and got.replacements == WriteResult(1, 1)
    left = [r for r in rows if r["id"] != "e3"] + [fix]
    assert stored(ledger) == written(left)
    _facts_equal(ledger, left)


def test_a_void_survives_reopening(durable_stores):
    led = durable_stores.new()
    rows = _rows()
    led.write_events(table(rows))
    led.void_events("team_a", ["e0", "e7"], reason="test", by="local")
    led = durable_stores.reopen(led)
    left = rows[1:7]
    assert stored(led) == written(left)
    _facts_equal(led, left)
    assert led.write_events(table([event(0, T0)])) == WriteResult(0, 1)  # still taken after a restart


def test_void_records_copy_to_another_store_and_keep_their_ids_taken(stores):
    src, dst = stores.new(), stores.new()
    rows = _rows()
    src.write_events(table(rows))
    src.void_events("team_a", ["e5"], reason="copy me", by="local")
    for batch in src.events():
        dst.write_events(batch)
    assert dst.put_voids(src.voids()) == 1
    assert dst.put_voids(src.voids()) == 0
    assert dst.voids().to_pylist() == src.voids().to_pylist()
    assert dst.write_events(table([event(5, T0)])) == WriteResult(0, 1)
    _facts_equal(dst, [r for r in rows if r["id"] != "e5"])


@given(spec=events_st, data=st.data())
@property_settings(8)
def test_rollups_equal_raw_aggregation_after_any_voids(ledger, spec, data):
    prefix = fresh_prefix()
    rows = rows_of(spec, prefix)
    ledger.write_events(table(rows))
    if data.draw(st.booleans(), label="maintained"):
        ledger.maintain()
    team = prefix + "team_a"
    mine = [r["id"] for r in rows if r["team_id"] == team]
    gone: set[str] = set()
    for _ in range(data.draw(st.integers(1, 3), label="voids")):
        if not mine:
            break
        ids = data.draw(st.lists(st.sampled_from(mine), min_size=1, max_size=10), label="ids")
        got = ledger.void_events(team, ids, reason="p", by="local")
        assert set(got.voided) == set(ids) - gone and set(got.already_voided) == set(ids) & gone
        gone |= set(ids)
        if data.draw(st.booleans(), label="maintain after"):
            ledger.maintain()
    left = [r for r in rows if not (r["team_id"] == team and r["id"] in gone)]
    window = (datetime(2026, 3, 4, 22, 15), datetime(2026, 4, 6, 1, 0))
    for t in (team, prefix + "team_b"):
        _facts_equal(ledger, left, t, window)
        assert stored(ledger, t) == written(left, t)
    assert sorted(ledger.voids(team)["id"].to_pylist()) == sorted(gone)


def test_void_schema_has_the_event_then_who_when_why():
    assert VOID_SCHEMA.names[-3:] == ["voided_at", "voided_by", "reason"]
    assert pa.types.is_timestamp(VOID_SCHEMA.field("voided_at").type)
    assert EVER[0] < T0
