"""The demo workload: deterministic for a seed, and realistic in the ways the issue lists."""

from __future__ import annotations

import hashlib
from collections import Counter
from datetime import datetime, timedelta
from decimal import Decimal

import pyarrow as pa

from conftest import SMALL_DEMO
from usagelens.demo import DemoSpec, demo_entities, demo_events
from usagelens.model import AssetKind


def _digest(t: pa.Table) -> str:
    return hashlib.sha256(str(t.to_pylist()).encode()).hexdigest()


def test_the_same_seed_gives_the_same_events_and_another_seed_does_not():
    a = pa.concat_tables(list(demo_events(SMALL_DEMO)))
    b = pa.concat_tables(list(demo_events(SMALL_DEMO, chunk=7_000)))
    c = pa.concat_tables(list(demo_events(DemoSpec(seed=12, events=20_000, days=60, end=SMALL_DEMO.end))))
    assert _digest(a) == _digest(b)
    assert _digest(a) != _digest(c)


def test_the_workload_has_the_shape_the_product_needs(small_demo_events):
    rows = small_demo_events.to_pylist()
    assert len(rows) == SMALL_DEMO.events
    times = [r["time"] for r in rows]
    assert times == sorted(times)
    end = datetime(2026, 5, 1)
    assert end - timedelta(days=60) <= times[0] and times[-1] < end
    assert {r["asset_kind"] for r in rows} - {None} == {k.value for k in AssetKind}
    assert any(r["cu"] < 0 and r["action"] == "refunds" for r in rows)
    assert any(r["discount"] > 0 for r in rows)
    assert any(r["nsfw"] for r in rows)
    assert any(r["cu"] != r["cu"].to_integral_value() for r in rows)  # decimal CU
    assert {r["is_api_key"] for r in rows} == {True, False}
    assert len({r["team_id"] for r in rows}) == 4
    assert len({r["project_id"] for r in rows}) >= 20
    assert len({r["user_id"] for r in rows}) >= 200
    assert len({r["model_id"] for r in rows}) >= 300
    # skewed: the busiest user does far more than the median one
    per_user = sorted(Counter(r["user_id"] for r in rows).values())
    assert per_user[-1] > 20 * per_user[len(per_user) // 2]
    # weekday/weekend rhythm
    days = Counter(r["time"].weekday() for r in rows)
    assert min(days[0], days[1], days[2], days[3], days[4]) > 1.5 * max(days[5], days[6])
    # discounts: charged CU is what is left after the discount
    assert all(r["discount"] >= 0 for r in rows)
    assert sum((r["cu"] for r in rows), Decimal(0)) > 0


def test_entities_name_every_team_project_user_and_model(small_demo_events):
    ents = demo_entities(SMALL_DEMO)
    for kind, col in (
        ("teams", "team_id"),
        ("projects", "project_id"),
        ("users", "user_id"),
        ("models", "model_id"),
    ):
        known = set(ents[kind]["id"].to_pylist())
        used = set(small_demo_events[col].to_pylist()) - {None}
        assert used <= known, kind
    api = {r["id"]: r["is_api_key"] for r in ents["users"].to_pylist()}
    assert all(api[r["user_id"]] == r["is_api_key"] for r in small_demo_events.to_pylist())
