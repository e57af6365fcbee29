"""Property: for random events, windows and timezones, the answer's identities hold and its
totals match an independent computation."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import event, table
from reference import facts as reference
from reference import local_midnight
from usagelens.auth import Caller
from usagelens.ledger.duckdb import DuckDBLedger
from usagelens.query import UsageArgs
from usagelens.service import usage

BASE = datetime(2026, 3, 1)
ZONES = ["UTC", "Europe/Paris", "America/New_York", "Asia/Kolkata", "Asia/Kathmandu", "Pacific/Apia"]

events = st.lists(
    st.tuples(
        st.integers(0, 40 * 24 * 60),
        st.sampled_from(["u1", "u2", "u3", "k1"]),
        st.sampled_from(["m1", "m2", "m3", "m4", "m5", "m6", "m7", None]),
        st.sampled_from(["images-generation", "upscale", "refunds"]),
        st.integers(-400, 9000),
        st.integers(0, 50),
        st.sampled_from([None, "image", "video", "3d"]),
    ),
    min_size=0,
    max_size=150,
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(evs=events, zone=st.sampled_from(ZONES), first=st.integers(0, 35), days=st.integers(1, 20))
def test_identities_hold_and_totals_match(evs, zone, first, days):
    rows = [
        event(
            i,
            BASE + timedelta(minutes=m),
            user_id=u,
            is_api_key=u.startswith("k"),
            model_id=mo,
            action=a,
            cu=Decimal(c) / 100,
            discount=Decimal(d) / 100,
            asset_kind=k,
        )
        for i, (m, u, mo, a, c, d, k) in enumerate(evs)
    ]
    led = DuckDBLedger(":memory:")
    if rows:
        led.write_events(table(rows))
    else:  # an empty team still answers
        led.write_events(table([event("x", BASE - timedelta(days=400))]))
    start_d = (BASE + timedelta(days=first)).date()
    end_d = start_d + timedelta(days=days - 1)
    args = UsageArgs(
        team_id="team_a",
        start_date=start_d.isoformat(),
        end_date=end_d.isoformat(),
        timezone=zone,
        include=["consumption", "modelUsages", "usages", "usages.daily", "modelUsages.daily"],
    )
    d = usage(led, Caller.local(), args, now=datetime(2026, 6, 1)).data
    start = local_midnight(start_d, zone)
    end = local_midnight(end_d + timedelta(days=1), zone)
    want = reference(rows, "team_a", start, end, ()).get((), {"cu": Decimal(0), "discount": Decimal(0)})
    t = d["totals"]
    assert t["totalCU"] == want["cu"] and t["totalDiscountCU"] == want["discount"]
    assert t["totalCU"] == sum((c["value"] for c in d["consumption"]), Decimal(0))
    assert t["totalBeforeDiscountCU"] == sum((c["total"] for c in d["consumption"]), Decimal(0))
    assert all(c["total"] == c["value"] + c["discount"] for c in d["consumption"])
    assert t["totalCU"] == sum((u["cu"] for u in d["usages"]), Decimal(0))
    by_model = {m["modelId"]: m for m in d["modelUsages"]}
    for s in d["modelUsages.daily"]:
        assert sum((p["cost"] for p in s["points"]), Decimal(0)) == by_model[s["modelId"]]["totalCU"]
    by_type = {u["usageName"]: u for u in d["usages"]}
    for s in d["usages.daily"]:
        assert sum(p["count"] for p in s["points"]) == by_type[s["usageName"]]["count"]
        assert all(p["count"] > 0 for p in s["points"])
    led.close()
