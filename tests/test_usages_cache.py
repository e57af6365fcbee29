"""Scenario's ``GET /v1/usages`` answers through the core (``service.usage_list``): a repeated call
is served from the answer cache, a write makes the next call compute again, and its answers never
stand in for ``usage``'s (nor the other way round)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

import anyio
import httpx
import pytest

from conftest import CountingLedger, event, table
from usagelens.auth import Caller
from usagelens.ledger.duckdb import DuckDBLedger
from usagelens.query import UsageArgs
from usagelens.service import usage, usage_list
from usagelens.surfaces.http import create_app

APRIL = {"startDate": "2026-04-01", "endDate": "2026-04-30"}


@pytest.fixture
def counting(april: DuckDBLedger) -> CountingLedger:
    return CountingLedger(april)


def _get(ledger: CountingLedger, params: dict[str, str]) -> dict[str, Any]:
    """``GET /v1/usages`` on the real app, in process, as a loopback client without keys."""

    async def get() -> httpx.Response:
        transport = httpx.ASGITransport(app=create_app(ledger))  # type: ignore[arg-type]
        async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1:8000") as c:
            return await c.get("/v1/usages", params=params)

    r = anyio.run(get)
    assert r.status_code == 200, r.text
    return r.json()


def _total(body: dict[str, Any]) -> Decimal:
    return sum((Decimal(str(c["value"])) for c in body["consumption"]), Decimal(0))


def test_a_repeated_call_is_served_from_the_cache_until_a_write(counting):
    first = _get(counting, {**APRIL, "type": "consumption,usages"})
    computed = counting.facts_calls
    assert computed > 0 and _total(first) == sum(range(1, 31))

    again = _get(counting, {**APRIL, "type": "usages,consumption"})  # the same sections, in another order
    assert again == first and counting.facts_calls == computed

    counting.write_events(table([event("late", datetime(2026, 4, 20, 12), cu=Decimal(1000))]))
    after = _get(counting, {**APRIL, "type": "consumption,usages"})
    assert counting.facts_calls > computed
    assert _total(after) == _total(first) + 1000


def test_other_sections_or_zero_points_are_other_answers(counting):
    both = _get(counting, {**APRIL, "type": "usages"})
    calls = counting.facts_calls
    dropped = _get(counting, {**APRIL, "type": "usages", "dropZeroPoints": "true"})
    assert counting.facts_calls > calls
    assert len(dropped["usages"][0]["points"]) < len(both["usages"][0]["points"]) == 30


def test_the_wire_body_and_the_summary_never_share_a_cache_entry(counting):
    args = UsageArgs(start_date="2026-04-01", end_date="2026-04-30")
    wire = usage_list(counting, Caller.local(), args, {"consumption"})
    summary = usage(counting, Caller.local(), args)
    assert "totals" in summary.data and "totals" not in wire.data
    assert usage_list(counting, Caller.local(), args, {"consumption"}) is wire
    assert usage(counting, Caller.local(), args) is summary


def test_a_reader_without_a_cache_token_is_never_cached(counting):
    class Uncached(CountingLedger):
        def cache_token(self) -> None:
            return None

    reader = Uncached(counting.inner)
    args = UsageArgs(start_date="2026-04-01", end_date="2026-04-30")
    usage_list(reader, Caller.local(), args, {"consumption"})
    calls = reader.facts_calls
    usage_list(reader, Caller.local(), args, {"consumption"})
    assert reader.facts_calls == 2 * calls > 0
