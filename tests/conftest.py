"""Shared fixtures: real DuckDB stores (``:memory:`` or a temp file) and event builders."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
import schemathesis

from usagelens.demo import DemoSpec, demo_events
from usagelens.ledger.base import FactQuery
from usagelens.ledger.duckdb import DuckDBLedger
from usagelens.model import EVENT_SCHEMA


class CountingLedger:
    """A real ledger that counts the fact queries it answers, one by one or several at once
    (everything else passes through)."""

    def __init__(self, inner: DuckDBLedger) -> None:
        self.inner = inner
        self.facts_calls = 0
        #: the thread (``threading.get_ident()``) of each call
        self.threads: list[int] = []

    def facts(self, query: FactQuery) -> Any:
        self.facts_calls += 1
        self.threads.append(threading.get_ident())
        return self.inner.facts(query)

    def facts_many(self, queries: list[FactQuery]) -> Any:
        self.facts_calls += len(queries)
        self.threads.append(threading.get_ident())
        return self.inner.facts_many(queries)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


#: A fixed demo for tests: deterministic whatever today is.
SMALL_DEMO = DemoSpec(seed=11, events=20_000, days=60, end=date(2026, 4, 30))


def event(i: int | str, time: datetime, **kw: Any) -> dict[str, Any]:
    """One event row in ledger columns, with plain defaults."""
    row: dict[str, Any] = {
        "id": f"e{i}",
        "time": time,
        "team_id": "team_a",
        "project_id": "proj_1",
        "user_id": "user_1",
        "action": "images-generation",
        "cu": Decimal("1"),
        "discount": Decimal("0"),
        "is_api_key": False,
        "model_id": "model_1",
        "job_id": f"job_{i}",
        "asset_id": None,
        "collection_id": None,
        "asset_kind": None,
        "nsfw": None,
    }
    row.update(kw)
    return row


def table(rows: list[dict[str, Any]]) -> pa.Table:
    """Rows (ledger columns) as a batch for ``write_events``."""
    return pa.Table.from_pylist(rows, schema=EVENT_SCHEMA)


@pytest.fixture
def ledger() -> Iterator[DuckDBLedger]:
    led = DuckDBLedger(":memory:")
    yield led
    led.close()


@pytest.fixture
def april() -> Iterator[DuckDBLedger]:
    """A ``:memory:`` store of 30 events of team_a on 2026-04-10, one per hour mod 24, event
    ``i`` costing ``i + 1`` CU (465 in all)."""
    led = DuckDBLedger(":memory:")
    led.write_events(table([event(i, datetime(2026, 4, 10, i % 24), cu=Decimal(i + 1)) for i in range(30)]))
    yield led
    led.close()


@pytest.fixture
def store_path(tmp_path: Path) -> str:
    return str(tmp_path / "store.duckdb")


@pytest.fixture(scope="session")
def small_demo_events() -> pa.Table:
    return pa.concat_tables(list(demo_events(SMALL_DEMO)))


@pytest.fixture(scope="session")
def demo_ledger(small_demo_events: pa.Table) -> Iterator[DuckDBLedger]:
    """A read-mostly store holding ``SMALL_DEMO`` and its entities (shared by a session)."""
    from usagelens.demo import demo_entities

    led = DuckDBLedger(":memory:")
    for kind, t in demo_entities(SMALL_DEMO).items():
        led.upsert_entities(kind, t)
    led.write_events(small_demo_events)
    yield led
    led.close()


@pytest.fixture(scope="session")
def demo_rows(small_demo_events: pa.Table) -> list[dict[str, Any]]:
    """``SMALL_DEMO`` events as plain dicts, for independent computations."""
    return small_demo_events.to_pylist()


@schemathesis.serializer("application/x-ndjson")
def _ndjson(ctx: object, value: object) -> bytes:
    """NDJSON bodies for schemathesis: one line per element (the documented schema is an array of
    records); any other value as one line."""
    import json

    items = value if isinstance(value, list) else [value]
    return "".join(json.dumps(v, default=str) + "\n" for v in items).encode()
