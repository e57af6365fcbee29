"""``previousPeriod`` says when the period it compares with starts before the scope's first event
(issue 17): a "change" against half a period of data is not a change."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from decimal import Decimal

from conftest import event, table
from usagelens.auth import Caller
from usagelens.ledger.duckdb import DuckDBLedger
from usagelens.query import UsageArgs
from usagelens.service import usage


def _previous(led, start: str, end: str, **kw) -> dict:
    args = UsageArgs(team_id="team_a", start_date=start, end_date=end, **kw)
    return json.loads(usage(led, Caller.local(), args, now=datetime(2026, 5, 1)).text)["totals"]["previousPeriod"]


def test_a_previous_period_before_the_first_event_is_marked_partial():
    rows = [event(i, datetime(2026, 4, 10, 9) + timedelta(hours=6 * i), cu=Decimal(1), project_id=f"p{i % 2}")
            for i in range(80)]  # fmt: skip
    with DuckDBLedger(":memory:") as led:
        led.write_events(table(rows))
        early = _previous(led, "2026-04-15", "2026-04-20")  # compares with 04-09 … 04-14
        assert (early["partial"], early["dataFrom"]) == (True, "2026-04-10T09:00:00Z")
        late = _previous(led, "2026-04-25", "2026-04-30")  # compares with 04-19 … 04-24: all data
        assert "partial" not in late and late["changePct"] is not None
        project = _previous(led, "2026-04-12", "2026-04-14", project_id="p1")  # p1 starts 6 hours later
        assert project["dataFrom"] == "2026-04-10T15:00:00Z"
