"""The default answer fits 3,072 bytes for every store; any answer fits 64 KiB."""

from __future__ import annotations

from datetime import date, datetime

import pyarrow as pa
import pytest

from conftest import event, table
from usagelens.auth import Caller
from usagelens.demo import DemoSpec, demo_entities, demo_events
from usagelens.ledger.duckdb import DuckDBLedger
from usagelens.query import UsageArgs
from usagelens.report.jsonout import dumps
from usagelens.service import usage

NOW = datetime(2026, 5, 1, 12)
STORES = [
    DemoSpec(seed=21, events=10, days=30, end=date(2026, 4, 30)),
    DemoSpec(seed=22, events=2_000, days=60, end=date(2026, 4, 30)),
    DemoSpec(seed=23, events=100_000, days=120, end=date(2026, 4, 30), users=10_000, models=5_000),
    DemoSpec(seed=24, events=1_000_000, days=120, end=date(2026, 4, 30), users=10_000, models=5_000),
]


def _size(d) -> int:
    return len(dumps(d).encode())


@pytest.fixture(scope="module", params=STORES, ids=lambda s: f"{s.events}ev-{s.users}u-{s.models}m")
def store(request):
    spec = request.param
    led = DuckDBLedger(":memory:")
    for kind, t in demo_entities(spec).items():
        led.upsert_entities(kind, t)
    for batch in demo_events(spec):
        led.write_events(batch)
    yield spec, led
    led.close()


@pytest.mark.parametrize(
    "window",
    [
        {},
        {"start_date": "2026-01-01", "end_date": "2026-04-30"},
        {"start_date": "2026-04-30", "end_date": "2026-04-30"},
    ],
)
@pytest.mark.parametrize("tz", ["UTC", "Asia/Kathmandu"])
def test_the_default_answer_fits_3072_bytes(store, window, tz):
    spec, led = store
    for team in demo_entities(spec)["teams"]["id"].to_pylist():
        d = usage(led, Caller.local(), UsageArgs(team_id=team, timezone=tz, **window), now=NOW).data
        assert _size(d) <= 3072, (team, _size(d))
        rows = len(d["consumption"]), len(d["modelUsages"])
        assert all(
            n >= min(3, total) for n, total in zip(rows, (d["totals"]["users"], d["totals"]["models"]), strict=True)
        )


def test_any_answer_with_expansions_fits_64_kib(store):
    spec, led = store
    team = demo_entities(spec)["teams"]["id"].to_pylist()[0]
    args = UsageArgs(
        team_id=team,
        start_date="2026-01-01",
        end_date="2026-04-30",
        include=[
            "consumption",
            "modelUsages",
            "usages",
            "usages.daily",
            "modelUsages.daily",
            "nsfwUsages",
            "activity",
            "entities",
        ],
    )
    d = usage(led, Caller.local(), args, now=NOW).data
    assert _size(d) <= 64 * 1024
    for key, cut in d["sections"].items():
        if "dropped" in cut:
            assert cut["shown"] == len(d[key]) and cut["shown"] + cut["dropped"] == cut["total"]


def test_long_names_are_shortened_and_the_budget_holds(ledger):
    rows = [event(i, datetime(2026, 4, 10, i), user_id=f"u{i}", model_id=f"m{i}") for i in range(10)]
    ledger.write_events(table(rows))
    ledger.upsert_entities(
        "models",
        pa.table({"id": [f"m{i}" for i in range(10)], "name": ["Ω" * 300] * 10, "short_description": [None] * 10}),
    )
    ledger.upsert_entities(
        "users",
        pa.table(
            {
                "id": [f"u{i}" for i in range(10)],
                "full_name": ["é" * 500] * 10,
                "email": [None] * 10,
                "is_api_key": [False] * 10,
            }
        ),
    )
    d = usage(ledger, Caller.local(), UsageArgs(), now=NOW).data
    assert d["modelUsages"][0]["modelName"] == "Ω" * 39 + "…"
    assert d["consumption"][0]["name"] == "é" * 39 + "…"
    assert _size(d) <= 3072
