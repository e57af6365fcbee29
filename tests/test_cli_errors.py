"""Every way a command line can be wrong is one line on stderr, ``error: …``, naming the flag as
typed, with exit 2 (issue 17); ``--version`` and the MCP server report the package's version."""

from __future__ import annotations

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
