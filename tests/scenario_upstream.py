"""Our own server as a Scenario upstream for the live-source tests, with a recorder and faults.

``Upstream`` wraps ``create_app(ledger)`` in an ASGI layer that records every request's path and
query and can answer the next requests (or all of them) with a fault instead: a status with
headers and a body, optionally after a delay (released at teardown, so nothing hangs).
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any
from urllib.parse import parse_qs

from http_server import serving
from usagelens.auth import KeyStore
from usagelens.demo import DemoSpec
from usagelens.ledger.duckdb import DuckDBLedger
from usagelens.sources import ClientSettings, ScenarioLedger, open_scenario
from usagelens.surfaces.cli.store import load_demo
from usagelens.surfaces.http import create_app

#: Fast, bounded client settings for tests (no test waits on a real backoff).
FAST = ClientSettings(timeout=5.0, max_retries=2, max_wait=1.0, backoff=0.0)


@dataclass
class Fault:
    """One canned answer."""

    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    content_type: str = "application/json"


@dataclass
class Request:
    """What the upstream received."""

    path: str
    query: dict[str, str]

    def window(self) -> tuple[datetime, datetime]:
        start, end = (datetime.fromisoformat(self.query[k]).replace(tzinfo=None) for k in ("startDate", "endDate"))
        return start, end

    @property
    def types(self) -> set[str]:
        return set(self.query.get("type", "").split(","))


class Upstream:
    """An ASGI wrapper recording requests and injecting faults before the real app."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.requests: list[Request] = []
        self.queue: list[Fault] = []
        self.always: Fault | None = None
        self.after: int | None = None  # serve this many requests normally, then ``always``
        self.release = threading.Event()
        self._lock = threading.Lock()

    def reset(self) -> None:
        with self._lock:
            self.requests.clear()
            self.queue.clear()
            self.always = None
            self.after = None

    def usages(self) -> list[Request]:
        return [r for r in self.requests if r.path.endswith("/usages")]

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        query = {k: v[-1] for k, v in parse_qs(scope.get("query_string", b"").decode()).items()}
        with self._lock:
            self.requests.append(Request(scope["path"], query))
            if self.queue:
                fault: Fault | None = self.queue.pop(0)
            elif self.after is not None:
                fault = self.always if len(self.requests) > self.after else None
            else:
                fault = self.always
        if fault is None:
            await self.app(scope, receive, send)
            return
        deadline = time.monotonic() + fault.delay
        while time.monotonic() < deadline and not self.release.is_set():
            await asyncio.sleep(0.02)
        headers = [(b"content-type", fault.content_type.encode())]
        headers += [(k.lower().encode(), v.encode()) for k, v in fault.headers.items()]
        await send({"type": "http.response.start", "status": fault.status, "headers": headers})
        await send({"type": "http.response.body", "body": fault.body})


@dataclass
class Account:
    """A served upstream: its URL, one analytics key and the recorder."""

    url: str
    key: str
    secret: str
    upstream: Upstream

    def open(self, settings: ClientSettings = FAST, **kw: Any) -> ScenarioLedger:
        return open_scenario(self.url, self.key, self.secret, settings=settings, strict=True, **kw)


@contextmanager
def account(ledger: Any, team: str) -> Iterator[Account]:
    """Serve ``ledger`` as a Scenario account seen through an analytics key of ``team``."""
    key = KeyStore(ledger).create(team, "analytics")
    upstream = Upstream(create_app(ledger, require_keys=True))
    with serving(upstream) as url:  # type: ignore[arg-type]
        try:
            yield Account(url, key.key, key.secret, upstream)
        finally:
            upstream.release.set()


def without_documented_gaps(answer: dict[str, Any]) -> dict[str, Any]:
    """The answer minus what Scenario does not expose (README: totals.jobs counts jobs on models)."""
    out = dict(answer)
    out["totals"] = {k: v for k, v in answer["totals"].items() if k != "jobs"}
    return out


#: 200 days of demo events (windows longer than Scenario's 120 days); its first team is team_c_0.
LONG_DEMO = DemoSpec(seed=12, events=30_000, days=200, end=date(2026, 4, 30))


def long_store() -> DuckDBLedger:
    """A fresh in-memory store holding ``LONG_DEMO``."""
    led = DuckDBLedger(":memory:")
    load_demo(led, LONG_DEMO)
    return led
