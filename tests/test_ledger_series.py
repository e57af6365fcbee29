"""Sub-hour buckets and team activity of the DuckDB ledger equal plain Python over the same events."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import event, table
from reference import facts as reference
from test_ledger_facts import BASE, events_st
from test_ledger_facts import _rows as rows_of
from usagelens.ledger.base import FactQuery
from usagelens.ledger.duckdb import DuckDBLedger

MINUTES = {"1m": 1, "5m": 5, "15m": 15, "30m": 30, "hour": 60}
OTHERS = [(), ("action",), ("model_id",), ("label",), ("user_id",), ("project_id", "asset_kind")]


def _floor(t: datetime, minutes: int) -> datetime:
    """The start of the ``minutes``-long bucket holding ``t``, counted from the UTC hour."""
    return t.replace(minute=t.minute - t.minute % minutes, second=0, microsecond=0)


def _store(rows: list[dict], batches: int, compacted: bool) -> DuckDBLedger:
    led = DuckDBLedger(":memory:")
    step = max(1, len(rows) // batches)
    for i in range(0, len(rows), step):
        led.write_events(table(rows[i : i + step]))
        if compacted and i == 0:
            led.compact()
    return led


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    spec=events_st,
    per=st.sampled_from(list(MINUTES)),
    others=st.sampled_from(OTHERS),
    start_s=st.integers(0, 20 * 24 * 3600),
    length_s=st.integers(0, 3 * 24 * 3600),
    zone=st.sampled_from(["UTC", "Asia/Kolkata"]),
    projects=st.sampled_from([None, ("p1", "p3")]),
    compacted=st.booleans(),
)
def test_sub_hour_buckets_equal_the_raw_events_summed_per_bucket(
    spec, per, others, start_s, length_s, zone, projects, compacted
):
    rows = rows_of(spec)
    led = _store(rows, 2, compacted)
    start = BASE + timedelta(seconds=start_s)
    end = start + timedelta(seconds=length_s)
    by = ("day", *others)
    q = FactQuery("team_a", start, end, by=by, project_ids=projects, timezone=zone, per=per)
    got = {tuple(r[d] for d in by): {k: v for k, v in r.items() if k not in by} for r in led.facts(q).to_pylist()}
    want = {}
    step = timedelta(minutes=MINUTES[per])
    for b in sorted({_floor(r["time"], MINUTES[per]) for r in rows}):
        part = reference(rows, "team_a", max(b, start), min(b + step, end), others, projects=projects)
        want.update({(b, *k): v for k, v in part.items() if v["events"]})
    assert got == want
    led.close()


def test_an_unknown_bucket_is_refused_with_the_accepted_ones():
    with pytest.raises(ValueError, match="per: '2m' is not a bucket; use one of day, hour, 1m, 5m, 15m, 30m"):
        FactQuery("team_a", BASE, BASE, ("day",), per="2m")


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(spec=events_st, batches=st.integers(1, 3), compacted=st.booleans(), late=st.integers(0, 60))
def test_team_activity_counts_identities_and_first_events(spec, batches, compacted, late):
    rows = rows_of(spec)
    # a project that starts weeks later, in a week of its own
    rows.append(event("late", BASE + timedelta(days=30 + late, minutes=late), team_id="team_a", project_id="p9"))
    led = _store(rows, batches, compacted)
    want: dict = {}
    for team in {r["team_id"] for r in rows}:
        mine = [r for r in rows if r["team_id"] == team]
        want[team] = {
            "users_count": len({r["user_id"] for r in mine}),
            "created_at": min(r["time"] for r in mine),
            "projects": {
                p: {
                    "users_count": len({r["user_id"] for r in mine if r["project_id"] == p}),
                    "created_at": min(r["time"] for r in mine if r["project_id"] == p),
                }
                for p in {r["project_id"] for r in mine}
            },
        }
    assert led.team_activity() == want
    led.close()


def test_team_activity_follows_writes(ledger):
    assert ledger.team_activity() == {}
    ledger.write_events(table([event(1, datetime(2026, 4, 2, 10, 30, 5), user_id="u1")]))
    first = ledger.team_activity()["team_a"]
    assert first["users_count"] == 1 and first["created_at"] == datetime(2026, 4, 2, 10, 30, 5)
    ledger.write_events(table([event(2, datetime(2026, 3, 1, 0, 0, 1), user_id="u2", project_id="p2")]))
    again = ledger.team_activity()["team_a"]
    assert again["users_count"] == 2 and again["created_at"] == datetime(2026, 3, 1, 0, 0, 1)
    assert again["projects"]["p2"] == {"users_count": 1, "created_at": datetime(2026, 3, 1, 0, 0, 1)}
