"""``usagelens mcp --source scenario``: an agent reads a live Scenario account over stdio."""

from __future__ import annotations

import os
from datetime import datetime

import pytest
from mcp import Client, StdioServerParameters

from mcp_support import exact
from scenario_upstream import account, without_documented_gaps
from test_cli_store import CLI
from usagelens.auth import Caller
from usagelens.query import UsageArgs
from usagelens.service import usage

TEAM = "team_b_0"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.mark.anyio
async def test_the_stdio_server_answers_from_a_live_account(demo_ledger):
    with account(demo_ledger, TEAM) as acc:
        env = dict(
            os.environ, SCENARIO_SDK_API_KEY=acc.key, SCENARIO_SDK_API_SECRET=acc.secret, SCENARIO_BASE_URL=acc.url
        )
        params = StdioServerParameters(command=CLI[0], args=[*CLI[1:], "mcp", "--source", "scenario"], env=env)
        async with Client(params) as c:
            result = await c.call_tool("usage", {"start_date": "2026-04-01", "end_date": "2026-04-30"})
    args = UsageArgs(team_id=TEAM, start_date="2026-04-01", end_date="2026-04-30")
    local = usage(demo_ledger, Caller(kind="analytics", team_id=TEAM), args, now=datetime(2026, 5, 1)).data
    assert not result.is_error
    assert without_documented_gaps(exact(result.structured_content)) == without_documented_gaps(local)
