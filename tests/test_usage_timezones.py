"""Daily buckets follow the query's timezone, through DST changes (23- and 25-hour days)."""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta
from decimal import Decimal

import pytest

from conftest import event, table
from reference import local_day_start
from usagelens.auth import Caller
from usagelens.query import UsageArgs
from usagelens.service import usage


@pytest.mark.parametrize(
    ("tz", "day", "hours", "until"),
    [
        ("America/New_York", "2026-03-08", 23, "2026-03-09T04:00:00Z"),  # spring forward
        ("America/New_York", "2026-11-01", 25, "2026-11-02T05:00:00Z"),  # fall back
        ("Europe/Paris", "2026-03-29", 23, "2026-03-29T22:00:00Z"),
        ("Europe/Paris", "2026-10-25", 25, "2026-10-25T23:00:00Z"),
    ],
)
def test_a_dst_day_has_its_real_length(ledger, tz, day, hours, until):
    d0 = datetime.fromisoformat(day)
    # one event every 30 minutes, 3 days either side, 0.5 CU each
    rows = [
        event(i, d0 - timedelta(days=3) + timedelta(minutes=30 * i), cu=Decimal("0.5") + i % 3)
        for i in range(2 * 24 * 7)
    ]
    ledger.write_events(table(rows))
    args = UsageArgs(start_date=day, end_date=day, timezone=tz, include=["usages", "usages.daily"])
    data = usage(ledger, Caller.local(), args, now=datetime(2026, 12, 1)).data
    assert data["totals"]["window"]["until"] == until
    (series,) = data["usages.daily"]
    (point,) = series["points"]
    assert point["count"] == 2 * hours
    assert point["time"] == local_day_start(d0 + timedelta(hours=12), tz).isoformat() + "Z"
    # a week around it: each local day's count matches an independent count
    week = UsageArgs(
        start_date=(d0 - timedelta(days=2)).date().isoformat(),
        end_date=(d0 + timedelta(days=2)).date().isoformat(),
        timezone=tz,
        include=["usages.daily"],
    )
    got = {
        p["time"]: p["count"]
        for p in usage(ledger, Caller.local(), week, now=datetime(2026, 12, 1)).data["usages.daily"][0]["points"]
    }
    want = Counter(local_day_start(r["time"], tz).isoformat() + "Z" for r in rows)
    assert got == {k: want[k] for k in got} and len(got) == 5
