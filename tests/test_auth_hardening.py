"""API-key hardening (CONTRACT §4): a wrong secret of a live key id does exactly the work of an
unknown id, repeated failures from one address are slowed down (429 with ``Retry-After``), and a
revoked key stops working at once on a running server."""

from __future__ import annotations

import statistics
import time
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import httpx
import pytest

from conftest import event, table
from http_server import serving
from usagelens.auth import FailureLimiter, KeyStore
from usagelens.errors import TooManyRequests, Unauthorized
from usagelens.ledger.duckdb import DuckDBLedger
from usagelens.surfaces.http import create_app

WRONG = "the API key or secret is wrong, or the key was revoked"


class CountingLedger(DuckDBLedger):
    """A real DuckDB store that counts how often it is asked whether its keys changed."""

    key_reads = 0

    def keys_token(self) -> str:
        self.key_reads += 1
        return super().keys_token()


@pytest.fixture
def ledger() -> Iterator[CountingLedger]:
    led = CountingLedger(":memory:")
    led.write_events(table([event(i, datetime(2026, 4, 10, i % 24)) for i in range(5)]))
    yield led
    led.close()


def _refusal(store: KeyStore, key: str, secret: str) -> tuple[str, int]:
    """The message and the number of key-table reads of one failed ``verify``."""
    before = store._ledger.key_reads  # type: ignore[attr-defined]
    with pytest.raises(Unauthorized) as e:
        store.verify(key, secret)
    return str(e.value), store._ledger.key_reads - before  # type: ignore[attr-defined]


# -- the same work for a live key id with a wrong secret and an unknown id -------------------------


def test_a_wrong_secret_and_an_unknown_key_take_the_same_path(ledger):
    store = KeyStore(ledger)
    live = store.create("team_a", "analytics")
    store.verify(live.key, live.secret)  # a success before must not make the next failure cheaper
    assert _refusal(store, live.key, "wrong") == (WRONG, 1)
    assert _refusal(store, "ul_0123456789abcdef", "wrong") == (WRONG, 1)
    store.revoke(live.key)
    assert _refusal(store, live.key, live.secret) == (WRONG, 1)


def test_every_verification_reads_the_store_once(ledger):
    store = KeyStore(ledger)
    live = store.create("team_a", "analytics")
    before = ledger.key_reads
    for _ in range(5):
        assert store.verify(live.key, live.secret).team_id == "team_a"
    assert ledger.key_reads - before == 5


def test_known_and_unknown_key_ids_take_the_same_time(ledger):
    """Medians of many in-process calls: before the fix a live id was answered from a cache,
    tens of times faster than an unknown id; now the ratio stays near 1."""
    store = KeyStore(ledger)
    for i in range(20):
        store.create(f"team_{i}", "analytics")
    live = store.create("team_a", "analytics")

    def median(key: str) -> float:
        times = []
        for _ in range(150):
            start = time.perf_counter()
            with pytest.raises(Unauthorized):
                store.verify(key, "wrong")
            times.append(time.perf_counter() - start)
        return statistics.median(times)

    median(live.key)  # warm up
    known, unknown = median(live.key), median("ul_ffffffffffffffff")
    assert 1 / 3 < known / unknown < 3, (known, unknown)


# -- slowing down repeated failures ---------------------------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_an_address_is_refused_after_ten_failures_in_a_minute_until_they_age_out():
    clock = Clock()
    limiter = FailureLimiter(clock=clock)
    for _ in range(10):
        limiter.check("10.0.0.1")
        limiter.failed("10.0.0.1")
        clock.now += 1
    with pytest.raises(TooManyRequests) as e:
        limiter.check("10.0.0.1")
    assert e.value.retry_after == 50
    assert str(e.value) == "too many failed authentication attempts from this address; wait 50 s and check the API key."
    limiter.check("10.0.0.2")  # other addresses are not affected
    clock.now += 50  # the first failure is now a minute old
    limiter.check("10.0.0.1")


def test_the_failure_table_is_bounded():
    limiter = FailureLimiter(clients=100, clock=Clock())
    for i in range(1000):
        limiter.failed(f"10.0.{i // 256}.{i % 256}")
    assert len(limiter._failures) == 100


@pytest.fixture
def served(ledger) -> Iterator[tuple[str, KeyStore, Any]]:
    store = KeyStore(ledger)
    key = store.create("team_a", "analytics")
    with serving(create_app(ledger, keys=store)) as url:
        yield url, store, key


def _teams(url: str, cred: str | None) -> httpx.Response:
    return httpx.get(f"{url}/v1/teams", headers={"X-API-Key": cred} if cred else {}, timeout=30)


def test_repeated_wrong_keys_get_429_with_retry_after_even_for_the_right_key(served):
    url, _, key = served
    for _ in range(10):
        assert _teams(url, "ul_0123456789abcdef:guess").status_code == 401
    for cred in ("ul_0123456789abcdef:guess", key.credential()):
        r = _teams(url, cred)
        assert r.status_code == 429, r.text
        assert r.json()["error"]["code"] == "too_many_requests"
        assert 1 <= int(r.headers["Retry-After"]) <= 60


def test_requests_without_credentials_are_not_counted_as_failures(served):
    url, _, key = served
    for _ in range(15):
        assert _teams(url, None).status_code == 401
    assert _teams(url, key.credential()).status_code == 200


def test_mcp_answers_429_to_an_address_past_its_failures(served):
    url, _, _ = served
    post = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}
    for _ in range(10):
        r = httpx.post(f"{url}/mcp", content=b"{}", headers={**post, "X-API-Key": "ul_x:y"})
        assert r.status_code == 401
    r = httpx.post(f"{url}/mcp", content=b"{}", headers={**post, "X-API-Key": "ul_x:y"})
    assert r.status_code == 429 and r.json()["error"]["code"] == "too_many_requests"
    assert 1 <= int(r.headers["Retry-After"]) <= 60


# -- revocation -----------------------------------------------------------------------------------


def test_a_key_revoked_through_another_keystore_stops_working_at_once(served, ledger):
    url, _, key = served
    assert _teams(url, key.credential()).status_code == 200
    KeyStore(ledger).revoke(key.key)  # as `usagelens keys revoke` would, not the server's KeyStore
    r = _teams(url, key.credential())
    assert r.status_code == 401 and r.json()["error"]["message"] == WRONG


def test_a_key_revoked_in_the_store_stops_working_for_mcp_at_once(served, ledger):
    url, _, key = served
    post = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}
    init = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "initialize",
        "params": {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}},
    }
    assert httpx.post(f"{url}/mcp", json=init, headers={**post, "X-API-Key": key.credential()}).status_code == 200
    ledger.revoke_key(key.key, datetime(2026, 5, 1))
    assert httpx.post(f"{url}/mcp", json=init, headers={**post, "X-API-Key": key.credential()}).status_code == 401
