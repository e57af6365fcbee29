"""Fact queries answered from rollups (plus raw edges) equal the raw events aggregated."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import event, table
from reference import facts as reference
from usagelens.ledger.base import FactQuery
from usagelens.ledger.duckdb import DuckDBLedger

ZONES = [
    "UTC",
    "Europe/Paris",
    "America/New_York",
    "Asia/Kolkata",
    "Asia/Kathmandu",
    "America/St_Johns",
    "Australia/Eucla",
    "Pacific/Chatham",
    "America/Santiago",
]
BASE = datetime(2026, 3, 5)  # spans the EU/US spring-forward days
DIMS = [
    (),
    ("user_id",),
    ("model_id",),
    ("action", "asset_kind"),
    ("label",),
    ("day",),
    ("day", "action"),
    ("day", "model_id"),
    ("project_id", "user_id"),
    ("day", "user_id"),
]

events_st = st.lists(
    st.builds(
        dict,
        minute=st.integers(0, 30 * 24 * 60),
        second=st.integers(0, 59),
        team=st.sampled_from(["team_a", "team_b"]),
        project=st.sampled_from(["p1", "p2", "p3"]),
        user=st.sampled_from(["u1", "u2", "k1"]),
        model=st.sampled_from(["m1", "m2", None]),
        action=st.sampled_from(["images-generation", "upscale", "refunds"]),
        cents=st.integers(-500, 5000),
        disc=st.integers(0, 300),
        kind=st.sampled_from([None, "image", "video"]),
        nsfw=st.sampled_from([None, ["gore"], ["gore", "nudity"]]),
    ),
    min_size=1,
    max_size=120,
)


def _rows(spec: list[dict]) -> list[dict]:
    return [
        event(
            i,
            BASE + timedelta(minutes=s["minute"], seconds=s["second"]),
            team_id=s["team"],
            project_id=s["project"],
            user_id=s["user"],
            is_api_key=s["user"].startswith("k"),
            model_id=s["model"],
            action=s["action"],
            cu=Decimal(s["cents"]) / 100,
            discount=Decimal(s["disc"]) / 1000,
            asset_kind=s["kind"],
            nsfw=s["nsfw"],
            job_id=None if s["action"] == "upscale" and i % 2 else f"j{i}",
        )
        for i, s in enumerate(spec)
    ]


def _as_dict(tbl, by):
    return {tuple(r[d] for d in by): {k: v for k, v in r.items() if k not in by} for r in tbl.to_pylist()}


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    spec=events_st,
    zone=st.sampled_from(ZONES),
    by=st.sampled_from(DIMS),
    start_min=st.integers(-600, 20 * 24 * 60),
    length=st.integers(0, 25 * 24 * 60),
    align=st.sampled_from([1, 15, 60, 1440]),
    batches=st.integers(1, 3),
    projects=st.sampled_from([None, ("p1",), ("p1", "p3")]),
    users=st.sampled_from([None, ("u1", "k1")]),
    compacted=st.sampled_from([0, 1, 2]),
)
def test_rollup_answers_equal_raw_aggregation(
    spec, zone, by, start_min, length, align, batches, projects, users, compacted
):
    rows = _rows(spec)
    led = DuckDBLedger(":memory:")
    step = max(1, len(rows) // batches)
    for n, i in enumerate(range(0, len(rows), step)):
        led.write_events(table(rows[i : i + step]))
        if compacted == 2 or (compacted == 1 and n == 0):  # main tables, recent rows, or both
            led.compact()
    start = BASE + timedelta(minutes=start_min // align * align)
    end = start + timedelta(minutes=length // align * align)
    q = FactQuery("team_a", start, end, by=by, timezone=zone, project_ids=projects, user_ids=users)
    got = _as_dict(led.facts(q), by)
    want = reference(rows, "team_a", start, end, by, zone, projects, users)
    if not by:  # totals are one row even when nothing matched
        want = want or {(): {m: 0 for m in got[()]}}
    assert got == want
    led.close()


def test_a_window_not_aligned_to_any_bucket_is_still_exact(ledger):
    rows = [event(i, BASE + timedelta(minutes=i), cu=Decimal("0.25")) for i in range(600)]
    ledger.write_events(table(rows))
    start, end = BASE + timedelta(minutes=7, seconds=30), BASE + timedelta(hours=9, minutes=2)
    got = ledger.facts(FactQuery("team_a", start, end))
    # minutes 8 … 541 inclusive
    assert got["events"][0].as_py() == 534
    assert got["cu"][0].as_py() == Decimal("0.25") * 534
