"""The ClickHouse backend in its own processes: the stdio MCP server answers like DuckDB, and events
acknowledged by a process killed with ``kill -9`` are stored (chDB in the child; this test process
keeps its own chDB directory, one engine per process)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from mcp import Client, StdioServerParameters

from mcp_support import text
from usagelens.auth import Caller
from usagelens.ledger import open_ledger
from usagelens.query import UsageArgs
from usagelens.service import usage

pytestmark = pytest.mark.anyio
CLI = [sys.executable, "-m", "usagelens.surfaces"]
DEMO = ["demo", "--events", "4000", "--days", "30", "--seed", "5", "--end", "2026-04-30"]
MONTH = {"team_id": "team_5_0", "start_date": "2026-04-01", "end_date": "2026-04-30", "include": ["usages.daily"]}


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def _run(*args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("USAGELENS_KEY", "USAGELENS_DB")}
    return subprocess.run([*CLI, *args], capture_output=True, text=True, env=env, timeout=120)


async def test_the_stdio_mcp_server_on_clickhouse_answers_like_duckdb(tmp_path: Path):
    house, duck = f"chdb:///{tmp_path}/ch", str(tmp_path / "d.duckdb")
    for db in (house, duck):
        done = _run(*DEMO, "--db", db)
        assert done.returncode == 0, done.stderr
    params = StdioServerParameters(command=CLI[0], args=[*CLI[1:], "mcp", "--db", house])
    async with Client(params) as c:
        month = await c.call_tool("usage", MONTH)
    with open_ledger(duck, read_only=True) as led:
        want = usage(led, Caller.local(), UsageArgs(**MONTH)).text
    assert not month.is_error and text(month) == want


def test_events_acknowledged_before_a_kill_9_are_stored(tmp_path: Path):
    url = f"chdb:///{tmp_path}/ch"
    writer = textwrap.dedent(
        f"""
        import sys, time
        from datetime import datetime, timedelta
        sys.path.insert(0, {str(Path(__file__).parent)!r})
        from conftest import event, table
        from usagelens.ledger import open_ledger
        led = open_ledger({url!r})
        for b in range(5):
            rows = [event(f"{{b}}-{{i}}", datetime(2026, 4, 1) + timedelta(minutes=i)) for i in range(200)]
            led.write_events(table(rows))
            print("acknowledged", (b + 1) * 200, flush=True)
        time.sleep(60)
        """
    )
    child = subprocess.Popen([sys.executable, "-c", writer], stdout=subprocess.PIPE, text=True)
    assert child.stdout is not None
    acknowledged = 0
    while acknowledged < 1000:
        acknowledged = int(child.stdout.readline().split()[1])
    child.send_signal(signal.SIGKILL)
    child.wait()
    child.stdout.close()
    stats = _run("stats", "--format", "json", "--db", url)
    assert stats.returncode == 0, stats.stderr
    assert json.loads(stats.stdout)["events"] == 1000
