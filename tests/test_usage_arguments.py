"""One declaration of the ``usage`` arguments (``query.ARGUMENTS``): the MCP input schema, the
``GET /v1/usage`` query parameters and the ``usagelens usage`` options are all built from it."""

from __future__ import annotations

import dataclasses
import json
from datetime import datetime

import pytest
import typer
from mcp import Client

from conftest import event, table
from mcp_support import server
from test_cli_store import run
from usagelens.auth import Caller
from usagelens.errors import InvalidArgument
from usagelens.ledger.duckdb import DuckDBLedger
from usagelens.query import ARGUMENTS, UsageArgs
from usagelens.service import list_projects, list_teams, team_members
from usagelens.surfaces.cli.app import app as cli_app
from usagelens.surfaces.http import create_app
from usagelens.surfaces.signature import with_arguments

NAMES = [a.name for a in ARGUMENTS]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def test_the_declaration_names_every_field_of_usage_args_in_order():
    assert [f.name for f in dataclasses.fields(UsageArgs)] == NAMES
    assert all(a.help.endswith(".") and a.example and a.flag.startswith("--") for a in ARGUMENTS)


@pytest.mark.anyio
async def test_the_mcp_tool_publishes_each_argument_with_its_help(demo_ledger):
    async with Client(server(demo_ledger)) as c:
        tools = {t.name: t for t in (await c.list_tools()).tools}
    props = tools["usage"].input_schema["properties"]
    assert list(props) == NAMES
    assert {name: p["description"] for name, p in props.items()} == {a.name: a.help for a in ARGUMENTS}
    assert props["response_format"]["default"] == "json" and "default" not in props["timezone"]
    assert props["scope"]["enum"] == ["project", "team"] and props["activity_offset"]["minimum"] == 0
    # the companion tools' response_format is the same declared argument
    assert tools["teams_list"].input_schema["properties"]["response_format"] == props["response_format"]


def test_the_rest_endpoint_takes_each_argument_as_a_described_query_parameter():
    with DuckDBLedger(":memory:") as ledger:
        params = create_app(ledger).openapi()["paths"]["/v1/usage"]["get"]["parameters"]
    assert [p["name"] for p in params] == NAMES
    assert all(p["in"] == "query" and not p["required"] for p in params)
    assert {p["name"]: p["description"] for p in params} == {a.name: a.help for a in ARGUMENTS}


def test_the_cli_takes_each_argument_as_its_flag_with_its_help():
    command = typer.main.get_command(cli_app).commands["usage"]  # type: ignore[attr-defined]
    options = {p.name: p for p in command.params}
    for a in ARGUMENTS:
        assert options[a.name].opts == [a.flag]
        if a.name != "response_format":  # --format adds the terminal's tables
            assert options[a.name].help.startswith(a.help)
    assert options["response_format"].default == "table"
    assert [p.name for p in command.params][: len(NAMES)] == NAMES


def test_cli_lists_may_be_repeated_or_comma_separated(tmp_path):
    path = str(tmp_path / "s.duckdb")
    with DuckDBLedger(path) as ledger:
        ledger.write_events(table([event(i, datetime(2026, 4, 10, i), project_id=f"proj_{i % 3}") for i in range(12)]))
    window = ["--team", "team_a", "--start", "2026-04-01", "--end", "2026-04-30", "--format", "json"]
    repeated = run("usage", *window, "--projects", "proj_0", "--projects", "proj_1", "--include", "usages", db=path)
    commas = run("usage", *window, "--projects", "proj_0, proj_1", "--include", "usages,activity", db=path)
    assert repeated.returncode == 0 and commas.returncode == 0, repeated.stderr + commas.stderr
    first, second = json.loads(repeated.stdout), json.loads(commas.stdout)
    assert first["scope"]["projectIds"] == second["scope"]["projectIds"] == ["proj_0", "proj_1"]
    assert first["totals"]["jobs"] == 8 and "usages" in first and "activity" in second


def test_a_function_without_arguments_to_receive_them_is_refused():
    with pytest.raises(TypeError, match="must take \\*\\*arguments"):
        with_arguments(lambda a: (str, None))(lambda request: None)


@pytest.mark.parametrize(
    "call",
    [
        lambda led: list_teams(led, Caller.local(), "html"),
        lambda led: list_projects(led, Caller.local(), "team_b_0", "html"),
        lambda led: team_members(led, Caller.local(), "team_b_0", "html"),
    ],
)
def test_the_companion_answers_check_response_format_in_the_core(demo_ledger, call):
    with pytest.raises(InvalidArgument) as e:
        call(demo_ledger)
    assert str(e.value) == "response_format: 'html' is not accepted; use json or markdown."
