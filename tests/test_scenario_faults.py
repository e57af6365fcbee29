"""Upstream failures: one clear sentence each, bounded retries, and credentials never shown.

The upstream is a real HTTP server on 127.0.0.1 (our app behind a fault-injecting layer): it
answers 401/403 for real, and 429, 500, slow and malformed answers on demand.
"""

from __future__ import annotations

import base64
import gc
import logging
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import datetime

import pytest

from http_server import free_port
from scenario_upstream import FAST, Account, Fault, account
from usagelens.auth import Caller, KeyStore
from usagelens.errors import Forbidden, Unauthorized, Unavailable, UsageError
from usagelens.query import UsageArgs
from usagelens.service import usage
from usagelens.sources import ClientSettings, open_scenario

# The fault server makes the SDK abandon requests (timeouts, 5xx and 429 retries, refusals), and
# httpx sometimes leaves such a request's socket to the garbage collector even though every
# client here is closed. Collecting after each test lands that warning in this module, where it
# is expected, instead of in whichever test happens to run next.
pytestmark = [
    pytest.mark.filterwarnings("ignore:unclosed <socket.socket:ResourceWarning"),
    pytest.mark.filterwarnings("ignore:Exception ignored in. <socket.socket:pytest.PytestUnraisableExceptionWarning"),
]


@pytest.fixture(autouse=True)
def _collect_abandoned_sockets() -> Iterator[None]:
    yield
    gc.collect()


TEAM = "team_b_0"
APRIL = {"team_id": TEAM, "start_date": "2026-04-01", "end_date": "2026-04-30"}


@pytest.fixture(scope="module")
def acc(demo_ledger) -> Iterator[Account]:
    with account(demo_ledger, TEAM) as a:
        yield a


@pytest.fixture
def upstream(acc):
    acc.upstream.reset()
    yield acc.upstream
    acc.upstream.reset()


def ask(ledger) -> dict:
    return usage(ledger, Caller.local(), UsageArgs(**APRIL), now=datetime(2026, 5, 1)).data


def failure(
    acc: Account, settings: ClientSettings = FAST, secret: str | None = None, strict: bool = True
) -> UsageError:
    led = open_scenario(acc.url, acc.key, secret or acc.secret, settings=settings, strict=strict)
    try:
        with pytest.raises(UsageError) as info:
            ask(led)
    finally:
        led.close()
    message = str(info.value)
    assert "\n" not in message and acc.secret not in message and acc.key not in message
    return info.value


def test_wrong_credentials_are_one_sentence_without_the_secret(acc, upstream):
    wrong = "not-the-secret-" + acc.secret[:6]
    e = failure(acc, secret=wrong)
    assert isinstance(e, Unauthorized) and "rejected the credentials (401 Unauthorized)" in str(e)
    assert wrong not in str(e) and len(upstream.requests) == 1  # never retried


def test_a_key_that_may_not_read_gets_forbidden(acc, demo_ledger):
    ingest = KeyStore(demo_ledger).create(TEAM, "ingest")
    led = open_scenario(acc.url, ingest.key, ingest.secret, settings=FAST, strict=True)
    with pytest.raises(Forbidden, match=r"refused GET /v1/teams \(403 Forbidden\)") as info:
        ask(led)
    led.close()
    assert ingest.secret not in str(info.value)


def test_rate_limiting_is_retried_then_answers(acc, upstream, demo_ledger):
    upstream.queue = [Fault(429, b"{}", {"Retry-After": "0"}), Fault(429, b"{}", {"Retry-After": "0"})]
    led = acc.open()
    try:
        data = ask(led)
    finally:
        led.close()
    assert data["totals"]["totalCU"] == ask(demo_ledger)["totals"]["totalCU"]
    assert upstream.requests[0].path == upstream.requests[1].path == upstream.requests[2].path == "/v1/teams"


def test_constant_rate_limiting_gives_up_after_the_retries(acc, upstream):
    upstream.always = Fault(429, b'{"message": "slow down"}', {"Retry-After": "0"})
    e = failure(acc)
    assert isinstance(e, Unavailable) and "rate limiting requests (429 Too Many Requests)" in str(e)
    assert "(3 attempts)" in str(e) and len(upstream.requests) == 3


def test_a_retry_after_beyond_the_wait_budget_stops_at_once(acc, upstream):
    upstream.always = Fault(429, b"{}", {"Retry-After": "120"})
    started = time.monotonic()
    e = failure(acc)
    assert "waiting 120 s more would pass the 1 s retry budget" in str(e)
    assert len(upstream.requests) == 1 and time.monotonic() - started < 5


def test_server_errors_are_retried_then_reported(acc, upstream):
    upstream.always = Fault(500, b'{"error": {"code": "internal", "message": "boom"}}')
    e = failure(acc)
    assert isinstance(e, Unavailable) and "failed with 500 (server error)" in str(e) and len(upstream.requests) == 3


def test_a_slow_upstream_times_out(acc, upstream):
    upstream.always = Fault(200, b"{}", delay=5)
    started = time.monotonic()
    e = failure(acc, ClientSettings(timeout=0.3, max_retries=1, max_wait=1, backoff=0))
    assert isinstance(e, Unavailable) and "did not answer within 0.3 s" in str(e) and "(2 attempts)" in str(e)
    assert time.monotonic() - started < 3


@pytest.mark.parametrize(
    ("body", "content_type", "reason"),
    [
        (b'{"teams": [{"id": "t"', "application/json", "the body is not JSON"),
        (b"<html>maintenance</html>", "text/html", "the body is not JSON"),
        (b"[1, 2]", "application/json", "the body is not a JSON object"),
        (b'{"teams": [{"id": 3}]}', "application/json", "teams.0.id"),
    ],
)
def test_malformed_responses_are_reported(acc, upstream, body, content_type, reason):
    upstream.always = Fault(200, body, content_type=content_type)
    e = failure(acc)
    assert isinstance(e, Unavailable) and "malformed response to GET /v1/teams" in str(e) and reason in str(e)


def test_malformed_sections_are_reported_without_strict_validation(acc, upstream):
    led = acc.open()
    led.teams()  # the real teams, then broken usages
    upstream.always = Fault(200, b'{"usages": [{"usageName": "upscale", "points": "none"}], "modelUsages": []}')
    with pytest.raises(Unavailable, match="malformed response to GET /v1/usages"):
        ask(led)
    led.close()
    lax = open_scenario(acc.url, acc.key, acc.secret, settings=FAST, strict=False)
    upstream.always = None
    lax.teams()
    upstream.always = Fault(200, b'{"usages": [{"usageName": "upscale", "points": [{"value": "x"}]}]}')
    with pytest.raises(Unavailable, match=r"malformed response to GET /v1/usages .*'x' is not a number"):
        ask(lax)
    lax.close()


def test_a_refused_connection_is_one_sentence():
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with_user = f"http://someone:url-password@127.0.0.1:{port}"  # credentials in a URL are never shown
    settings = ClientSettings(timeout=2, max_retries=1, max_wait=1, backoff=0)
    led = open_scenario(with_user, "k", "s3cr3t-value", settings=settings)
    with pytest.raises(Unavailable) as info:
        led.teams()
    led.close()
    assert str(info.value) == (
        f"Scenario refused the connection for GET /v1/teams at {url}/v1 (2 attempts); try again later"
    )


def test_missing_credentials_are_reported_before_any_request(monkeypatch):
    for name in ("SCENARIO_SDK_API_KEY", "SCENARIO_SDK_API_SECRET"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(Unauthorized, match="set SCENARIO_SDK_API_KEY and SCENARIO_SDK_API_SECRET"):
        open_scenario("http://127.0.0.1:9")


def test_credentials_never_reach_the_logs(acc, upstream, caplog):
    upstream.queue = [Fault(429, b"{}", {"Retry-After": "0"})]
    with caplog.at_level(logging.DEBUG):
        led = acc.open()
        ask(led)
        led.close()
        failure(acc, secret="wrong-secret-value")
    basic = base64.b64encode(f"{acc.key}:{acc.secret}".encode()).decode()
    assert caplog.text and acc.secret not in caplog.text and basic not in caplog.text
    assert "wrong-secret-value" not in caplog.text


# -- the command line: exit 2, one line on stderr, no secret ------------------------------------


def cli(*args: str, url: str, key: str, secret: str) -> subprocess.CompletedProcess:
    env = dict(
        os.environ,
        SCENARIO_SDK_API_KEY=key,
        SCENARIO_SDK_API_SECRET=secret,
        USAGELENS_SCENARIO_RETRIES="1",
        USAGELENS_SCENARIO_RETRY_WAIT="2",
        SCENARIO_LOG="debug",  # the SDK's own debug logging must not leak them either
    )
    cmd = [sys.executable, "-m", "usagelens.surfaces", *args, "--scenario-url", url]
    return subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=120)


def test_cli_failures_exit_2_with_one_line_and_no_secret(acc, upstream, tmp_path):
    bad = cli("usage", "--source", "scenario", "--team", TEAM, url=acc.url, key=acc.key, secret="wrong-" + acc.secret)
    assert bad.returncode == 2 and bad.stdout == ""
    errors = [line for line in bad.stderr.splitlines() if line.startswith("error:")]
    assert errors == [
        f"error: Scenario rejected the credentials (401 Unauthorized) at {acc.url}/v1: check "
        "SCENARIO_SDK_API_KEY and SCENARIO_SDK_API_SECRET"
    ]
    assert acc.secret not in bad.stderr
    refused = f"http://127.0.0.1:{free_port()}"
    db = str(tmp_path / "s.duckdb")
    down = cli("sync", "scenario", "--since", "2026-04-01", "--db", db, url=refused, key=acc.key, secret=acc.secret)
    assert down.returncode == 2 and down.stderr.strip().splitlines()[-1].startswith(
        "error: Scenario refused the connection for GET /v1/teams"
    )
    upstream.always = Fault(429, b"{}", {"Retry-After": "0"})
    limited = cli("usage", "--source", "scenario", "--team", TEAM, url=acc.url, key=acc.key, secret=acc.secret)
    assert limited.returncode == 2 and "rate limiting requests (429 Too Many Requests)" in limited.stderr
    for r in (down, limited):
        assert acc.secret not in r.stdout + r.stderr
