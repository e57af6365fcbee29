"""A store and a real server for the Scenario-wire tests: events whose sums the tests compute
themselves, served to the official SDK (scenario-sdk 2.4.0) in strict mode.

Team ``TEAM`` has 400 events in March 2026 (every 113 minutes, the last ones on April 1) and one
event per ``AGES`` entry before the store's ``now``; its project p2 is used by u0 and u1 only,
p1 by u0 … u6. Team ``OTHER`` has five events. Part of the store is compacted, part is not.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from scenario_sdk import Scenario

from conftest import event, table
from http_server import serving
from usagelens.auth import KeyStore
from usagelens.ledger.duckdb import DuckDBLedger
from usagelens.surfaces.http import create_app

TEAM, OTHER = "team_w", "team_x"
MARCH = datetime(2026, 3, 1)
#: Ages (before the store's ``now``) of the recent events: every 283 s from 3 minutes to 22.8
#: hours, none from 55 to 65 minutes old, so no event sits near an edge of ``last-hour``,
#: ``last-day`` or ``last-three-days`` however long the tests take.
AGES = [
    age
    for age in (timedelta(minutes=3) + i * timedelta(seconds=283) for i in range(290))
    if not timedelta(minutes=55) <= age <= timedelta(minutes=65)
]


@dataclass
class Wire:
    url: str
    rows: list[dict[str, Any]]
    now: datetime  # when the recent events were stamped (naive UTC)
    creds: dict[str, tuple[str, str]]
    ledger: DuckDBLedger
    clients: dict[str, Scenario] = field(default_factory=dict)

    def sdk(self, who: str = "analytics") -> Scenario:
        """The strict SDK client of ``who``'s key (one per key, closed when the server stops)."""
        if who not in self.clients:
            key, secret = self.creds[who]
            url = f"{self.url}/v1"
            self.clients[who] = Scenario(api_key=key, api_secret=secret, base_url=url, _strict_response_validation=True)
        return self.clients[who]

    def close(self) -> None:
        for client in self.clients.values():
            client.close()


def _event(eid: str, t: datetime, i: int) -> dict[str, Any]:
    """A ``TEAM`` event: project p2 is used by u0 and u1 only, p1 by u0 … u6."""
    project = "p2" if i % 3 == 1 else "p1"
    return event(
        eid,
        t,
        team_id=TEAM,
        project_id=project,
        user_id=f"u{i % 2}" if project == "p2" else f"u{i % 7}",
        action=("images-generation", "upscale")[i % 2],
        cu=Decimal(i % 17) + Decimal("0.012345"),
        discount=Decimal(i % 3) / 1000,
        is_api_key=i % 5 == 0,
        model_id=f"model_{i % 3}",
    )


def rows_at(now: datetime) -> list[dict[str, Any]]:
    march = [_event(f"m{i}", MARCH + timedelta(minutes=113 * i + 7, seconds=i % 60), i) for i in range(400)]
    recent = [_event(f"r{i}", now - age, i) for i, age in enumerate(AGES)]
    other = [
        event(f"x{i}", MARCH + timedelta(days=i), team_id=OTHER, project_id="q1", user_id=f"v{i}") for i in range(5)
    ]
    return march + recent + other


@contextmanager
def serve() -> Iterator[Wire]:
    """A fresh store of ``rows_at(now)`` with three keys (``analytics`` and ``project`` p2 of
    ``TEAM``, ``analytics`` of ``OTHER``), served until the block ends."""
    led = DuckDBLedger(":memory:")
    now = datetime.now(UTC).replace(tzinfo=None, microsecond=0)
    rows = rows_at(now)
    led.write_events(table(rows[:300]))
    led.compact()  # part of the store in the compacted rollups, the rest in recent rows
    led.write_events(table(rows[300:]))
    store = KeyStore(led)
    keys = {
        "analytics": store.create(TEAM, "analytics"),
        "project": store.create(TEAM, "project", project="p2"),
        "other": store.create(OTHER, "analytics"),
    }
    try:
        with serving(create_app(led, require_keys=True)) as url:
            wire = Wire(url, rows, now, {k: (v.key, v.secret) for k, v in keys.items()}, led)
            try:
                yield wire
            finally:
                wire.close()
    finally:
        led.close()


def exact_json(raw: Any) -> dict[str, Any]:
    """The response JSON with exact numbers, once the SDK's strict parse has accepted it."""
    raw.parse()
    return json.loads(raw.text(), parse_float=Decimal)


def instant(text: str) -> datetime:
    """A wire bound or point time as naive UTC (a plain date is its midnight)."""
    return datetime.fromisoformat(text if "T" in text else text + "T00:00:00Z").astimezone(UTC).replace(tzinfo=None)
