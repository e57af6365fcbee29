"""Ledger contract, facts: every dimension, bucket, zone and filter equals the plain-Python oracle
(``tests/reference.py``) over the same events, whatever the batches and maintenance (see
``contract.py``)."""

from __future__ import annotations

import itertools
from datetime import date, datetime, timedelta
from decimal import Decimal

import pyarrow as pa
import pytest
from hypothesis import given
from hypothesis import strategies as st

from conftest import event, table
from ledger.contract import (
    BASE,
    as_facts,
    events_st,
    expected_facts,
    fresh_prefix,
    property_settings,
    rows_of,
    write_in_batches,
)
from reference import local_midnight
from usagelens.ledger.base import DIMENSIONS, FACT_MEASURES, FactQuery

ZONES = [
    "UTC",
    "Europe/Paris",
    "America/New_York",
    "Asia/Kolkata",  # +05:30
    "Asia/Kathmandu",  # +05:45
    "America/St_Johns",  # -03:30, with DST
    "Australia/Eucla",  # +08:45
    "Pacific/Chatham",  # +13:45, with DST
    "America/Santiago",  # DST changes at midnight
]
DIMS = [
    (),
    ("project_id",),
    ("user_id",),
    ("model_id",),
    ("action", "asset_kind"),
    ("label",),
    ("day",),
    ("day", "action"),
    ("day", "model_id"),
    ("day", "label"),
    ("project_id", "user_id"),
    ("model_id", "user_id"),
    ("day", "user_id"),
]
FILTERS = st.sampled_from([None, ("p1",), ("p1", "p3"), ()])


@property_settings(30)
@given(
    spec=events_st,
    zone=st.sampled_from(ZONES),
    by=st.sampled_from(DIMS),
    start_min=st.integers(-600, 20 * 24 * 60),
    length=st.integers(0, 25 * 24 * 60),
    align=st.sampled_from([1, 15, 60, 1440]),
    batches=st.integers(1, 3),
    projects=FILTERS,
    users=st.sampled_from([None, ("u1", "k1")]),
    models=st.sampled_from([None, ("m1",), ("m1", "m2")]),
    maintained=st.sampled_from([0, 1, 2]),
)
def test_facts_equal_the_events_summed_in_plain_python(
    ledger, spec, zone, by, start_min, length, align, batches, projects, users, models, maintained
):
    team = fresh_prefix() + "team_a"
    rows = rows_of(spec, team.removesuffix("team_a"))
    write_in_batches(ledger, rows, batches, maintained)
    start = BASE + timedelta(minutes=start_min // align * align)
    end = start + timedelta(minutes=length // align * align)
    q = FactQuery(team, start, end, by=by, timezone=zone, project_ids=projects, user_ids=users, model_ids=models)
    assert as_facts(ledger.facts(q), by) == expected_facts(rows, q)


@property_settings(25)
@given(
    spec=events_st,
    per=st.sampled_from(["hour", "30m", "15m", "5m", "1m"]),
    others=st.sampled_from([(), ("action",), ("model_id",), ("label",), ("user_id",), ("project_id", "asset_kind")]),
    start_s=st.integers(0, 20 * 24 * 3600),
    length_s=st.integers(0, 3 * 24 * 3600),
    zone=st.sampled_from(["UTC", "Asia/Kolkata", "Asia/Kathmandu"]),
    projects=FILTERS,
    models=st.sampled_from([None, ("m2",)]),
    maintained=st.sampled_from([0, 1]),
)
def test_hour_and_sub_hour_buckets_are_utc_and_equal_the_events_summed_per_bucket(
    ledger, spec, per, others, start_s, length_s, zone, projects, models, maintained
):
    team = fresh_prefix() + "team_a"
    rows = rows_of(spec, team.removesuffix("team_a"))
    write_in_batches(ledger, rows, 2, maintained)
    start = BASE + timedelta(seconds=start_s)
    by = ("day", *others)
    q = FactQuery(team, start, start + timedelta(seconds=length_s), by, projects, None, zone, models, per)
    assert as_facts(ledger.facts(q), by) == expected_facts(rows, q)


#: (zone, first local day, the length in hours of each day): +05:30, +05:45 and DST days.
DAY_CASES = [
    ("UTC", date(2026, 3, 6), (24, 24, 24)),
    ("Asia/Kolkata", date(2026, 3, 6), (24, 24, 24)),
    ("Asia/Kathmandu", date(2026, 3, 6), (24, 24, 24)),
    ("America/New_York", date(2026, 3, 7), (24, 23, 24)),
    ("America/New_York", date(2026, 10, 31), (24, 25, 24)),
    ("Europe/Paris", date(2026, 3, 28), (24, 23, 24)),
    ("America/Santiago", date(2026, 9, 5), (24, 23, 24)),  # 2026-09-06 starts at 01:00: no midnight
    ("Pacific/Chatham", date(2026, 4, 4), (24, 25, 24)),  # +13:45 then +12:45
]


@pytest.mark.parametrize(("zone", "first", "hours"), DAY_CASES, ids=[f"{z}-{d}" for z, d, _ in DAY_CASES])
def test_days_are_local_calendar_days_of_the_query_timezone(ledger, zone, first, hours):
    midnights = [local_midnight(first + timedelta(days=d), zone) for d in range(len(hours) + 1)]
    assert [(b - a) / timedelta(hours=1) for a, b in itertools.pairwise(midnights)] == list(hours)
    start, end = midnights[0], midnights[-1]
    rows = [
        event(i, start - timedelta(hours=2) + timedelta(minutes=13 * i), user_id=f"u{i % 3}", nsfw=["gore"])
        for i in range(int((end - start) / timedelta(minutes=13)) + 20)
    ]
    ledger.write_events(table(rows))
    for by in (("day",), ("day", "user_id"), ("day", "label")):
        q = FactQuery("team_a", start, end, by=by, timezone=zone)
        got = ledger.facts(q)
        assert as_facts(got, by) == expected_facts(rows, q), by
        assert sorted(set(got["day"].to_pylist())) == midnights[:-1]


def test_hour_buckets_stay_utc_hours_across_a_dst_change(ledger):
    start, end = datetime(2026, 3, 8, 5), datetime(2026, 3, 8, 9)  # New York jumps at 07:00 UTC
    rows = [event(i, start + timedelta(minutes=9 * i)) for i in range(30)]
    ledger.write_events(table(rows))
    q = FactQuery("team_a", start, end, by=("day",), timezone="America/New_York", per="hour")
    got = as_facts(ledger.facts(q), ("day",))
    assert got == expected_facts(rows, q)
    assert sorted(got) == [(start + timedelta(hours=h),) for h in range(4)]


def test_a_window_not_aligned_to_any_bucket_is_still_exact(ledger):
    rows = [event(i, BASE + timedelta(minutes=i), cu=Decimal("0.25")) for i in range(600)]
    ledger.write_events(table(rows))
    start, end = BASE + timedelta(minutes=7, seconds=30), BASE + timedelta(hours=9, minutes=2)
    got = ledger.facts(FactQuery("team_a", start, end))
    # minutes 8 … 541 inclusive
    assert got["events"][0].as_py() == 534
    assert got["cu"][0].as_py() == Decimal("0.25") * 534


@pytest.mark.parametrize("edge", [timedelta(0), timedelta(hours=5), timedelta(days=3, minutes=7, microseconds=1)])
def test_a_window_holds_its_first_instant_and_not_its_last(ledger, edge):
    start = datetime(2026, 3, 2) + edge
    end = start + timedelta(days=2, hours=3)
    near = [timedelta(microseconds=-1), timedelta(0), timedelta(microseconds=1)]
    rows = [event(f"s{i}", start + d) for i, d in enumerate(near)] + [
        event(f"e{i}", end + d) for i, d in enumerate(near)
    ]
    ledger.write_events(table(rows))
    ledger.maintain()
    ledger.write_events(table([dict(r, id="again" + r["id"], model_id="m2") for r in rows]))
    for by in [(), ("day",), ("model_id",), ("model_id", "user_id"), ("day", "action")]:
        got = ledger.facts(FactQuery("team_a", start, end, by=by))
        assert sum(got["events"].to_pylist()) == 2 * 3, by  # start, start + 1 µs, end - 1 µs, twice


def test_an_unknown_team_or_an_empty_window_totals_one_row_of_zeros_and_groups_nothing(ledger):
    ledger.write_events(table([event(i, BASE + timedelta(hours=i)) for i in range(10)]))
    zero = {m: Decimal(0) if m.endswith(("cu", "discount")) else 0 for m in FACT_MEASURES}
    for q in (
        FactQuery("team_z", BASE, BASE + timedelta(days=1)),
        FactQuery("team_a", BASE + timedelta(hours=3), BASE + timedelta(hours=3)),
        FactQuery("team_a", BASE, BASE + timedelta(days=1), project_ids=()),
        FactQuery("team_a", BASE, BASE + timedelta(days=1), user_ids=("nobody",)),
    ):
        assert ledger.facts(q).to_pylist() == [zero], q
        for by in (("day",), ("user_id",), ("day", "model_id"), ("label",)):
            assert ledger.facts(FactQuery(q.team_id, q.start, q.end, by, q.project_ids, q.user_ids)).num_rows == 0


def test_filter_values_are_matched_exactly_whatever_their_characters(ledger):
    odd = ["O'Neil", "back\\slash", "100%_x", "é ü", "' OR '1'='1", ""]
    rows = [event(i, BASE + timedelta(minutes=i), user_id=u, project_id=u, model_id=u) for i, u in enumerate(odd)]
    ledger.write_events(table(rows))
    for u in odd:
        for by in ((), ("day",), ("user_id",), ("model_id",)):
            kw = {"project_ids": (u,), "user_ids": (u,), "model_ids": (u,)}
            q = FactQuery("team_a", BASE, BASE + timedelta(days=1), by=by, **kw)
            assert sum(ledger.facts(q)["events"].to_pylist()) == 1, (u, by)


def test_fact_columns_are_the_dimensions_then_the_measures_with_fixed_types(ledger):
    ledger.write_events(table([event(1, BASE, nsfw=["gore"], asset_kind="image")]))
    money = pa.decimal128(38, 6)
    measures = {m: money if m.endswith(("cu", "discount")) else pa.int64() for m in FACT_MEASURES}
    for by in [(), *((d,) for d in DIMENSIONS), ("day", "model_id", "user_id")]:
        got = ledger.facts(FactQuery("team_a", BASE, BASE + timedelta(days=1), by=by))
        assert got.column_names == [*by, *FACT_MEASURES], by
        dims = {d: pa.timestamp("us") if d == "day" else pa.string() for d in by}
        assert dict(zip(got.column_names, got.schema.types, strict=True)) == dims | measures, by


def test_the_day_column_keeps_its_place_in_by(ledger):
    ledger.write_events(table([event(1, BASE)]))
    got = ledger.facts(FactQuery("team_a", BASE, BASE + timedelta(days=1), by=("action", "day")))
    assert got.column_names[:2] == ["action", "day"]


def test_many_small_batches_and_maintenance_change_no_figure(ledger):
    rows = [
        event(i, BASE + timedelta(minutes=7 * i), user_id=f"u{i % 13}", model_id=f"m{i % 5}", cu=Decimal(i % 17) / 4)
        for i in range(3000)
    ]
    ledger.write_events(table(rows))
    q = FactQuery("team_a", BASE, BASE + timedelta(days=30), by=("model_id",))
    before = ledger.facts(q).to_pylist()
    for start in range(0, 3000, 100):
        more = [dict(r, id=f"x{start}-{j}") for j, r in enumerate(rows[start : start + 100])]
        ledger.write_events(table(more))
    doubled = ledger.facts(q).to_pylist()
    ledger.maintain()
    assert ledger.facts(q).to_pylist() == doubled
    assert [r["cu"] for r in doubled] == [2 * r["cu"] for r in before]


def test_an_unknown_bucket_is_refused_with_the_accepted_ones():
    with pytest.raises(ValueError, match="per: '2m' is not a bucket; use one of day, hour, 1m, 5m, 15m, 30m"):
        FactQuery("team_a", BASE, BASE, ("day",), per="2m")
