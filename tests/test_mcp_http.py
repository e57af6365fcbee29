"""The MCP server over streamable HTTP behind API keys: ``usagelens mcp --http`` under uvicorn, and the
endpoint mounted in a parent app the way the REST server mounts it at ``/mcp``."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager

import httpx
import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from starlette.applications import Starlette
from starlette.routing import Route

from mcp_support import NOW, answers, free_port, make_store, text, wait_until
from usagelens.auth import KeyStore
from usagelens.surfaces.mcp.http import build_mcp_endpoint

pytestmark = pytest.mark.anyio
MONTH = {"team_id": "team_5_0", "start_date": "2026-04-01", "end_date": "2026-04-30"}
POST = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="module")
def served(tmp_path_factory) -> Iterator[tuple[str, dict]]:
    """``usagelens mcp --http`` on 127.0.0.1 over a store with keys of two teams (and an ingest key)."""
    path = str(tmp_path_factory.mktemp("mcphttp") / "store.duckdb")
    keys = make_store(
        path, {"a": ("team_5_0", "analytics"), "b": ("team_5_1", "analytics"), "ingest": ("team_5_0", "ingest")}
    )
    port = free_port()
    log = tmp_path_factory.mktemp("mcphttp-log") / "stderr.txt"
    with log.open("w") as err:
        proc = subprocess.Popen(
            [sys.executable, "-m", "usagelens.surfaces", "mcp", "--http", "--port", str(port), "--db", path],
            stdout=subprocess.DEVNULL,
            stderr=err,
        )
    url = f"http://127.0.0.1:{port}/mcp"
    try:
        wait_until(lambda: proc.poll() is not None or answers(url), what="usagelens mcp --http")
        assert proc.poll() is None, log.read_text()
        yield url, keys
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@asynccontextmanager
async def _client(url: str, headers: dict[str, str], **kw) -> AsyncIterator[Client]:
    async with (
        httpx2.AsyncClient(headers=headers, timeout=30) as http,
        Client(streamable_http_client(url, http_client=http), **kw) as c,
    ):
        yield c


def _basic(credential: str) -> str:
    return "Basic " + base64.b64encode(credential.encode()).decode()


async def test_a_valid_key_gets_answers_with_every_header_scheme(served):
    url, keys = served
    cred = keys["a"].credential()
    for headers in ({"Authorization": f"Bearer {cred}"}, {"Authorization": _basic(cred)}, {"X-API-Key": cred}):
        async with _client(url, headers) as c:
            r = await c.call_tool("usage", MONTH)
            assert not r.is_error, text(r)
            assert r.structured_content["scope"]["teamId"] == "team_5_0"
            d = json.loads(text(r))
            assert d["totals"]["models"] == len(d["modelUsages"]) and "truncated" not in d


async def test_the_handshake_era_protocol_works_too(served):
    url, keys = served
    async with _client(url, {"Authorization": f"Bearer {keys['a'].credential()}"}, mode="legacy") as c:
        teams = await c.call_tool("teams_list", {})
    assert [t["id"] for t in teams.structured_content["teams"]] == ["team_5_0"]


@pytest.mark.parametrize(
    ("headers", "message"),
    [
        ({"Authorization": "Bearer ul_0000000000000000:guess"}, "the API key or secret is wrong"),
        ({}, "an API key is required"),
        ({"X-API-Key": "nocolon"}, "the credential must be key:secret"),
    ],
)
def test_a_wrong_or_missing_key_is_401_with_one_json_error(served, headers, message):
    url, _ = served
    body = {"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {}}
    r = httpx.post(url, json=body, headers={**POST, **headers})
    assert r.status_code == 401
    assert r.json()["error"]["code"] == "unauthorized"
    assert r.json()["error"]["message"].startswith(message)
    assert r.headers["www-authenticate"].startswith("Basic")


def test_an_ingest_key_is_forbidden(served):
    url, keys = served
    r = httpx.post(url, json={}, headers={**POST, "X-API-Key": keys["ingest"].credential()})
    assert r.status_code == 403 and r.json()["error"]["code"] == "forbidden"


async def test_a_key_of_another_team_is_not_told_the_team_exists(served):
    url, keys = served
    async with _client(url, {"Authorization": f"Bearer {keys['b'].credential()}"}) as c:
        other = await c.call_tool("usage", MONTH)
        nowhere = await c.call_tool("usage", {**MONTH, "team_id": "team_9_9"})
        projects = await c.call_tool("projects_list", {"team_id": "team_5_0"})
    assert other.is_error and projects.is_error
    assert text(other) == "team_id: 'team_5_0' is not a team you can see; use one of: team_5_1 (Blue Fox Games)."
    assert text(nowhere) == text(other).replace("team_5_0", "team_9_9")
    assert "Aurora" not in text(other) + text(projects)


def test_each_request_is_answered_for_its_own_key_even_on_a_shared_session(served):
    url, keys = served
    a = {**POST, "Authorization": f"Bearer {keys['a'].credential()}"}
    init = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "initialize",
        "params": {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}},
    }
    r = httpx.post(url, json=init, headers=a)
    assert r.status_code == 200
    a |= {"mcp-session-id": r.headers["mcp-session-id"], "mcp-protocol-version": "2025-11-25"}
    httpx.post(url, json={"jsonrpc": "2.0", "method": "notifications/initialized"}, headers=a)
    b = {**a, "Authorization": f"Bearer {keys['b'].credential()}"}
    call = {"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {"name": "teams_list", "arguments": {}}}
    seen_by_b = httpx.post(url, json=call, headers=b).text
    seen_by_a = httpx.post(url, json={**call, "id": 3}, headers=a).text
    assert "team_5_1" in seen_by_b and "team_5_0" not in seen_by_b
    assert "team_5_0" in seen_by_a and "team_5_1" not in seen_by_a


async def test_the_endpoint_mounts_in_a_parent_app_that_runs_its_lifespan(ledger):
    from usagelens.demo import DemoSpec
    from usagelens.surfaces.cli.store import load_demo

    load_demo(ledger, DemoSpec(seed=5, events=500, days=40, end=NOW.date()))
    keys = KeyStore(ledger)
    key = keys.create("team_5_2", "analytics")
    for require_key, headers, teams in (
        (True, {"Authorization": f"Bearer {key.credential()}"}, ["team_5_2"]),
        (False, {}, ["team_5_0", "team_5_1", "team_5_2", "team_5_3"]),
    ):
        endpoint = build_mcp_endpoint(ledger, keys, require_key)
        parent = Starlette(routes=[Route("/mcp", endpoint=endpoint, methods=["GET", "POST", "DELETE"])])
        transport = httpx2.ASGITransport(app=parent)
        async with (
            endpoint.lifespan(),
            httpx2.AsyncClient(transport=transport, headers=headers) as http,
            Client(streamable_http_client("http://127.0.0.1:8000/mcp", http_client=http)) as c,
        ):
            listed = await c.call_tool("teams_list", {})
        assert [t["id"] for t in listed.structured_content["teams"]] == teams
