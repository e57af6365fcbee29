"""``usagelens serve`` as a process: durability across kill -9, the CLI's --url mode, binding rules."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import httpx
import pytest

from http_server import free_port
from test_cli_store import CLI, run
from usagelens.ledger.duckdb import DuckDBLedger

EVENT = {
    "time": "2026-04-10T10:00:00Z",
    "teamId": "team_a",
    "projectId": "p1",
    "userId": "u1",
    "action": "upscale",
    "creativeUnitsCost": "1.25",
}


def _start(db: str, *extra: str) -> tuple[subprocess.Popen, str]:
    port = free_port()
    proc = subprocess.Popen(
        [*CLI, "serve", "--db", db, "--port", str(port), *extra],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=dict(os.environ),
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(url + "/healthz", timeout=1).status_code == 200:
                return proc, url
        except httpx.HTTPError:
            time.sleep(0.05)
        if proc.poll() is not None:
            raise RuntimeError(proc.communicate()[1])
    proc.kill()
    proc.communicate()
    raise RuntimeError("usagelens serve did not start")


def test_acknowledged_events_survive_kill_9(store_path):
    proc, url = _start(store_path)
    try:
        for batch in range(5):
            events = [dict(EVENT, id=f"k{batch}-{i}") for i in range(200)]
            assert httpx.post(url + "/v1/usage-events", json=events).json() == {"written": 200, "duplicates": 0}
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.communicate()
    led = DuckDBLedger(store_path)  # the file opens again, with every acknowledged event
    assert led.stats().events == 1000
    assert str(led.stats().total_cu) == "1250.000000"
    led.close()


def test_the_cli_talks_to_a_running_server(store_path, tmp_path):
    proc, url = _start(store_path)
    try:
        f = tmp_path / "ev.jsonl"
        f.write_text("".join(json.dumps(dict(EVENT, id=f"c{i}")) + "\n" for i in range(25)))
        env_url = ["--url", url]
        res = run("ingest", str(f), *env_url)
        assert res.returncode == 0, res.stderr
        assert res.stdout.startswith("read 25, written 25, duplicates 0, rejected 0")
        again = run("ingest", str(f), *env_url)
        assert again.stdout.startswith("read 25, written 0, duplicates 25, rejected 0")
        usage = run("usage", "--start", "2026-04-01", "--end", "2026-04-30", "--format", "json", *env_url)
        assert json.loads(usage.stdout)["totals"]["totalCU"] == 31.25
        stats = run("stats", "--format", "json", *env_url)
        assert json.loads(stats.stdout)["events"] == 25
        # while the server owns the file, opening it directly names the server's process
        direct = run("stats", db=store_path)
        assert direct.returncode == 2 and f"(PID {proc.pid}" in direct.stderr
    finally:
        proc.terminate()
        proc.communicate(timeout=10)  # and close its pipes


def test_a_public_address_needs_keys_or_insecure(store_path):
    res = subprocess.run(
        [*CLI, "serve", "--db", store_path, "--host", "0.0.0.0", "--port", str(free_port())],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert res.returncode == 2
    assert res.stderr.strip().startswith("error: --host: refusing to serve 0.0.0.0 without API keys")


@pytest.mark.skipif(sys.platform != "linux", reason="uses a loopback port")
def test_a_demo_key_is_created_once_and_printed(store_path, tmp_path):
    keyfile = tmp_path / "demo-key.json"
    assert run("demo", "--events", "500", "--end", "2026-04-30", db=store_path).returncode == 0
    proc, url = _start(store_path, "--demo-key", str(keyfile))
    try:
        saved = json.loads(keyfile.read_text())
        auth = (saved["key"], saved["secret"])
        assert httpx.get(url + "/v1/teams", auth=auth).status_code == 200
        assert httpx.get(url + "/v1/teams").status_code == 401
        admin = (saved["admin"]["key"], saved["admin"]["secret"])
        assert httpx.get(url + "/v1/stats", auth=admin).json()["events"] == 500  # the admin key: every team
        assert httpx.get(url + "/v1/stats", auth=auth).status_code == 403
    finally:
        proc.terminate()
        out = proc.communicate(timeout=10)[1]
    assert f"{saved['key']}:{saved['secret']}" in out and "/mcp" in out
    assert f"admin key  {admin[0]}:{admin[1]}" in out


def test_mcp_is_served_at_slash_mcp_with_the_same_keys(store_path, tmp_path):
    import asyncio

    import httpx2
    from mcp import Client
    from mcp.client.streamable_http import streamable_http_client

    keyfile = tmp_path / "k.json"
    assert run("demo", "--events", "800", "--end", "2026-04-30", db=store_path).returncode == 0
    proc, url = _start(store_path, "--demo-key", str(keyfile))
    saved = json.loads(keyfile.read_text())
    try:
        refused = httpx.post(
            url + "/mcp",
            json={"jsonrpc": "2.0", "id": 1, "method": "ping"},
            headers={"accept": "application/json, text/event-stream"},
        )
        assert refused.status_code == 401 and refused.json()["error"]["code"] == "unauthorized"

        async def call() -> dict:
            headers = {"authorization": f"Bearer {saved['key']}:{saved['secret']}"}
            async with (
                httpx2.AsyncClient(headers=headers, timeout=30) as http,
                Client(streamable_http_client(url + "/mcp", http_client=http)) as c,
            ):
                result = await c.call_tool("usage", {"start_date": "2026-04-01", "end_date": "2026-04-30"})
                return result.structured_content

        data = asyncio.run(call())
        assert data["scope"]["teamId"] == saved["team"] and data["totals"]["totalCU"] > 0
    finally:
        proc.terminate()
        proc.communicate(timeout=10)  # and close its pipes
