"""``usagelens mcp`` as an MCP client runs it: a real subprocess spoken to over stdio by the official client."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
from decimal import Decimal

import pytest
from mcp import Client, StdioServerParameters

from mcp_support import make_store, text
from usagelens.auth import Caller
from usagelens.ledger.duckdb import DuckDBLedger
from usagelens.query import UsageArgs
from usagelens.service import usage

pytestmark = pytest.mark.anyio
CLI = [sys.executable, "-m", "usagelens.surfaces"]
MONTH = {"team_id": "team_5_0", "start_date": "2026-04-01", "end_date": "2026-04-30"}


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> tuple[str, dict]:
    path = str(tmp_path_factory.mktemp("mcp") / "store.duckdb")
    keys = make_store(path, {"b": ("team_5_1", "analytics"), "ingest": ("team_5_1", "ingest")})
    return path, keys


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("USAGELENS_KEY", "USAGELENS_DB")}
    return {**env, **extra}


def _run(*args: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*CLI, *args], capture_output=True, text=True, env=_env(**env), timeout=60, stdin=subprocess.DEVNULL
    )


async def test_stdio_server_answers_the_official_client_and_stdout_holds_only_frames(store, tmp_path):
    path, _ = store
    frames = tmp_path / "stdout.jsonl"
    command = " ".join(shlex.quote(a) for a in [*CLI, "mcp", "--db", path])
    params = StdioServerParameters(command="sh", args=["-c", f"{command} | tee {shlex.quote(str(frames))}"])
    async with Client(params) as c:
        tools = [t.name for t in (await c.list_tools()).tools]
        month = await c.call_tool("usage", MONTH)
        bad = await c.call_tool("usage", {**MONTH, "include": "usages"})
        teams = await c.call_tool("teams_list", {})
    assert tools == ["usage", "teams_list", "projects_list", "team_members_list"]
    led = DuckDBLedger(path, read_only=True)
    try:
        want = usage(led, Caller.local(), UsageArgs(**MONTH))
    finally:
        led.close()
    assert not month.is_error and text(month) == want.text
    assert bad.is_error and text(bad).startswith("include: 'usages' is not a list;")
    assert len(teams.structured_content["teams"]) == 4  # no key: the local view
    lines = [line for line in frames.read_text().splitlines() if line.strip()]
    assert len(lines) >= 4
    messages = [json.loads(line, parse_float=Decimal) for line in lines]  # every line is a frame
    assert all(m.get("jsonrpc") == "2.0" for m in messages)
    answer = next(m for m in messages if "structuredContent" in m.get("result", {}) and "totals" in str(m))
    assert answer["result"]["structuredContent"] == want.data  # exact decimals on the wire


async def test_a_key_limits_the_stdio_view_to_its_team(store):
    path, keys = store
    params = StdioServerParameters(
        command=CLI[0], args=[*CLI[1:], "mcp", "--db", path], env={"USAGELENS_KEY": keys["b"].credential()}
    )
    async with Client(params) as c:
        teams = await c.call_tool("teams_list", {})
        other = await c.call_tool("usage", MONTH)
        mine = await c.call_tool("usage", {"start_date": "2026-04-01", "end_date": "2026-04-30"})
    assert [t["id"] for t in teams.structured_content["teams"]] == ["team_5_1"]
    assert other.is_error
    assert text(other) == "team_id: 'team_5_0' is not a team you can see; use one of: team_5_1 (Blue Fox Games)."
    assert mine.structured_content["scope"]["teamId"] == "team_5_1"


@pytest.mark.parametrize(
    ("args", "env", "message"),
    [
        (["--key", "ul_0000000000000000:guess"], {}, "error: the API key or secret is wrong, or the key was revoked"),
        ([], {"USAGELENS_KEY": "nocolon"}, "error: --key: the credential must be key:secret"),
        (["--key", "INGEST"], {}, "error: --key: this key can only write events; use an analytics or project key"),
        (
            ["--http", "--host", "0.0.0.0"],
            {},
            "error: --host: the store has no API key, so the server would answer anyone; serve on 127.0.0.1",
        ),
    ],
)
def test_bad_start_options_are_one_line_errors(tmp_path, store, args, env, message):
    path, keys = store
    if args[-1:] == ["INGEST"]:
        args = [*args[:-1], keys["ingest"].credential()]
    elif "--http" in args:
        path = str(tmp_path / "nokeys.duckdb")
        make_store(path)
    res = _run("mcp", "--db", path, *args, **env)
    assert res.returncode == 2, res.stderr
    assert res.stdout == ""
    assert res.stderr.startswith(message) and res.stderr.count("\n") == 1, res.stderr


def test_a_missing_store_is_named(tmp_path):
    missing = tmp_path / "nowhere.duckdb"
    res = _run("mcp", "--db", str(missing))
    assert res.returncode == 2 and res.stdout == ""
    assert res.stderr.startswith(f"error: --db: the store {missing} does not exist;")
    assert not missing.exists()
