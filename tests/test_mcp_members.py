"""The companion tools through a real MCP client session: ``team_members_list``, the
``response_format`` default of every tool, and each companion's Markdown."""

from __future__ import annotations

from datetime import datetime

import pyarrow as pa
import pytest
from mcp import Client

from conftest import event, table
from mcp_support import server, text
from usagelens.auth import Caller
from usagelens.ledger.duckdb import DuckDBLedger
from usagelens.model import ENTITY_SCHEMAS

pytestmark = pytest.mark.anyio
DAY = datetime(2026, 4, 10, 9)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def _users(rows: list[dict]) -> pa.Table:
    return pa.Table.from_pylist(rows, schema=ENTITY_SCHEMAS["users"])


@pytest.fixture
def two_teams(ledger: DuckDBLedger) -> DuckDBLedger:
    """team_a: ada (named by team_a and by default), a key, an unnamed user; team_b: bob."""
    ledger.write_events(
        table(
            [
                event(1, DAY, user_id="user_ada"),
                event(2, DAY, user_id="key_1", is_api_key=True),
                event(3, DAY, user_id="user_zed"),
                event(4, DAY, user_id="user_ada"),
                event(5, DAY, team_id="team_b", project_id="proj_b", user_id="user_bob"),
            ]
        )
    )
    ledger.upsert_entities("users", _users([{"id": "user_ada", "full_name": "Ada (default)", "email": "a@x.io"}]))
    ledger.upsert_entities(
        "users", _users([{"id": "user_ada", "full_name": "Ada Lovelace", "email": "ada@a.io"}]), "team_a"
    )
    ledger.upsert_entities("users", _users([{"id": "user_bob", "full_name": "Bob", "email": "bob@b.io"}]), "team_b")
    return ledger


async def test_team_members_list_gives_the_teams_identities_as_that_team_names_them(two_teams):
    async with Client(server(two_teams, Caller(kind="analytics", team_id="team_a"))) as c:
        r = await c.call_tool("team_members_list", {"team_id": "team_a"})
    assert not r.is_error
    assert r.structured_content == {
        "teamId": "team_a",
        "members": [
            {"id": "key_1", "fullName": None, "email": None, "isApiKey": True},
            {"id": "user_ada", "fullName": "Ada Lovelace", "email": "ada@a.io", "isApiKey": False},
            {"id": "user_zed", "fullName": None, "email": None, "isApiKey": False},
        ],
    }


async def test_another_teams_members_are_answered_like_a_team_that_does_not_exist(two_teams):
    async with Client(server(two_teams, Caller(kind="analytics", team_id="team_b"))) as c:
        other = await c.call_tool("team_members_list", {"team_id": "team_a"})
        nowhere = await c.call_tool("team_members_list", {"team_id": "team_nope"})
        mine = await c.call_tool("team_members_list", {"team_id": "team_b"})
    assert other.is_error and nowhere.is_error
    assert text(other) == "team_id: 'team_a' is not a team you can see; use one of: team_b."
    assert text(nowhere) == text(other).replace("team_a", "team_nope")
    assert "user_ada" not in text(mine)
    assert mine.structured_content["members"] == [
        {"id": "user_bob", "fullName": "Bob", "email": "bob@b.io", "isApiKey": False}
    ]


async def test_every_tool_declares_json_as_the_response_format_default(two_teams):
    async with Client(server(two_teams)) as c:
        tools = (await c.list_tools()).tools
    assert [t.name for t in tools] == ["usage", "teams_list", "projects_list", "team_members_list"]
    for t in tools:
        assert t.input_schema["properties"]["response_format"] == {
            "default": "json",
            "description": "json (default) or markdown.",
            "enum": ["json", "markdown"],
            "type": "string",
        }


async def test_each_companion_renders_markdown(two_teams):
    async with Client(server(two_teams)) as c:
        teams = await c.call_tool("teams_list", {"response_format": "markdown"})
        projects = await c.call_tool("projects_list", {"team_id": "team_a", "response_format": "markdown"})
        members = await c.call_tool("team_members_list", {"team_id": "team_a", "response_format": "markdown"})
    assert (
        text(teams)
        == "# Teams\n\n- **team_a** (`team_a`): proj_1 (`proj_1`)\n- **team_b** (`team_b`): proj_b (`proj_b`)\n"
    )
    assert text(projects) == "# Teams\n\n- **team_a** (`team_a`): proj_1 (`proj_1`)\n"
    assert text(members) == (
        "# Members of team_a\n\n- **key_1** (`key_1`): API key\n"
        "- **Ada Lovelace** (`user_ada`): ada@a.io\n- **user_zed** (`user_zed`)\n"
    )
