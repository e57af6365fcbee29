"""Every way a command line can be wrong is one line on stderr, ``error: …``, naming the flag as
typed, with exit 2 (issue 17); ``--version`` and the MCP server report the package's version."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from importlib.metadata import version

import pytest
from mcp import Client

from mcp_support import server

CLI = [sys.executable, "-m", "usagelens.surfaces"]


def _run(*args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("USAGELENS_")}
    return subprocess.run([*CLI, *args], capture_output=True, text=True, env=env, timeout=60)


@pytest.mark.parametrize(
    ("args", "names"),
    [
        (["usage", "--nope"], "--nope"),
        (["demo", "--events", "-5"], "--events"),
        (["usage", "--activity-offset", "x"], "--activity-offset"),
        (["usage", "--start"], "--start"),
        (["void"], "ids"),
        (["stats", "--format", "x"], "--format"),
        (["budgets", "set", "--team", "t"], "--cu"),
    ],
)
def test_a_wrong_command_line_is_one_line_and_exit_2(args, names):
    done = _run(*args)
    assert done.returncode == 2, done
    assert done.stderr.startswith("error: ") and done.stderr.count("\n") == 1, done.stderr
    assert names in done.stderr and "╭" not in done.stderr and "Traceback" not in done.stderr
    assert done.stdout == ""


def test_version_is_the_packages():
    done = _run("--version")
    assert (done.returncode, done.stdout) == (0, f"usagelens {version('usagelens')}\n")


@pytest.mark.anyio
async def test_the_mcp_server_reports_the_packages_version(ledger):
    async with Client(server(ledger)) as client:
        assert (client.server_info.name, client.server_info.version) == ("usagelens", version("usagelens"))


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def test_usage_errors_and_hints_speak_in_flags(tmp_path):
    db = str(tmp_path / "d.duckdb")
    assert _run("demo", "--events", "3000", "--db", db).returncode == 0
    bad = _run("usage", "--team", "team_7_0", "--start", "2026-13-01", "--db", db)
    assert bad.returncode == 2 and bad.stderr.startswith("error: --start: '2026-13-01' is not a date")
    swapped = _run("usage", "--team", "team_7_0", "--start", "2026-05-01", "--end", "2026-04-01", "--db", db)
    assert "--end (2026-04-01) is before --start (2026-05-01)" in swapped.stderr
    assert "start_date" not in swapped.stderr + bad.stderr
    page = _run("usage", "--team", "team_7_0", "--include", "activity", "--db", db).stdout.strip().splitlines()[-1]
    assert page.startswith("Next activity page: --include activity with --activity-offset 100"), page


def test_a_busy_port_is_one_line_before_any_banner(tmp_path):
    import socket

    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        held.listen()
        port = held.getsockname()[1]
        done = _run("serve", "--port", str(port), "--db", str(tmp_path / "s.duckdb"))
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr == (
        f"error: --port: {port} on 127.0.0.1 cannot be served (Address already in use); stop what holds it or "
        "pick another port (--port, or make run PORT=…)\n"
    )


def test_the_command_line_does_not_load_the_http_or_mcp_stacks():
    """``usagelens --help`` and one-shot commands stay quick: the server stacks load on demand."""
    code = "import sys, usagelens.surfaces.cli.app; print(sorted({'fastapi', 'mcp', 'uvicorn'} & set(sys.modules)))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.stdout.strip() == "[]", done.stdout + done.stderr


#: Modules a command loads only when it uses them (issue 16: start-up). pydantic comes with Typer's
#: own option conversion, which ``surfaces/cli/coerce.py`` spares plain options.
SERVERS = ("fastapi", "starlette", "mcp", "uvicorn", "httpx", "anyio", "scenario_sdk")
ENGINE = ("duckdb", "pyarrow", "numpy")
HELPERS = ("pydantic", "typer._adapters", "rich.progress", "pyarrow.parquet", "clickhouse_connect", "chdb")
_LOADED = (
    "import json, sys\n"
    "from usagelens.surfaces.cli import main\n"
    "try:\n"
    "    main()\n"
    "finally:\n"
    "    print(json.dumps(sorted(sys.modules)), file=sys.stderr)"
)


def _loaded(*args: str) -> tuple[subprocess.CompletedProcess, set[str]]:
    """Run the command line in a fresh interpreter; the modules it had loaded when it ended."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("USAGELENS_")}
    done = subprocess.run([sys.executable, "-c", _LOADED, *args], capture_output=True, text=True, env=env, timeout=60)
    return done, set(json.loads(done.stderr.strip().splitlines()[-1]))


@pytest.mark.parametrize("args", [["--help"], ["keys", "--help"], ["usage", "--nope"]])
def test_help_and_refused_command_lines_load_neither_the_engine_nor_the_servers(args):
    done, loaded = _loaded(*args)
    assert done.returncode in (0, 2), done.stderr
    assert sorted(loaded & {*ENGINE, *SERVERS, *HELPERS}) == []


def test_a_one_shot_usage_loads_the_engine_and_nothing_it_does_not_use(tmp_path):
    db = str(tmp_path / "d.duckdb")
    assert _run("demo", "--events", "3000", "--days", "30", "--db", db).returncode == 0
    done, loaded = _loaded("usage", "--team", "team_7_0", "--db", db)
    assert done.returncode == 0 and done.stdout.startswith("Usage "), done.stdout + done.stderr[-2000:]
    assert {"duckdb", "pyarrow"} <= loaded
    assert sorted(loaded & {*SERVERS, *HELPERS}) == []


def test_plain_option_conversion_gives_what_typers_own_gives():
    """``surfaces/cli/coerce.py`` spares pydantic only where the result is Typer's own: on every
    option of every command, for values it takes and values it leaves to Typer."""
    import typer.main
    from typer._click import Context
    from typer._click.exceptions import BadParameter
    from typer._coercion import build_runtime_param

    from usagelens.surfaces.cli.app import app
    from usagelens.surfaces.cli.coerce import plain_options

    def convert(runtime, value, param, ctx):
        try:
            got = runtime.coerce(value, param=param, ctx=ctx)
        except BadParameter as e:
            return "refused", e.format_message()
        return type(got), got

    values = ["x", "", " a ", "5", "-5", "0", "-0", "007", " 5", "+5", "1_000", "5.0", "1e3", "abc", "3650", "3651"]
    values += ["99999999999999999999", 3, 0, -1, True, 2.5, ("a", "b"), ["a"], (), ("a", 1), None]
    root = plain_options(typer.main.get_command(app))
    groups = [c for c in root.commands.values() if hasattr(c, "commands")]
    checked = 0
    for command in [root, *root.commands.values(), *(s for g in groups for s in g.commands.values())]:
        ctx = Context(command)
        for param in command.get_params(ctx):
            ours, typers = param._runtime_param, build_runtime_param(param.type_descriptor)
            for value in values:
                want = convert(typers, value, param, ctx)
                assert convert(ours, value, param, ctx) == want, (command.name, param.name, value)
                checked += 1
    assert checked > 2000
