"""``usagelens mcp --url`` as an agent runs it: a stdio subprocess spoken to by the official client,
answering from a running server exactly as ``usagelens mcp --db`` answers from the store."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from contextlib import ExitStack
from typing import Any

import anyio
import anyio.to_thread
import pytest
from mcp import Client, StdioServerParameters

from http_server import free_port, serving
from mcp_support import make_store, text
from usagelens.auth import KeyStore
from usagelens.ledger import open_ledger
from usagelens.surfaces.http import create_app

pytestmark = pytest.mark.anyio
CLI = [sys.executable, "-m", "usagelens.surfaces"]
MONTH = {"team_id": "team_5_0", "start_date": "2026-04-01", "end_date": "2026-04-30"}
MINE = {"start_date": "2026-04-01", "end_date": "2026-04-30"}  # a team key's own team
CALLS: list[tuple[str, dict[str, Any]]] = [
    ("usage", MONTH),
    ("usage", {**MONTH, "include": ["usages", "activity", "entities"]}),
    ("usage", {**MONTH, "response_format": "markdown"}),
    ("usage", {**MONTH, "include": "usages"}),  # not a list: an isError result
    ("usage", {**MONTH, "start_date": "2026-13-01"}),
    ("teams_list", {}),
    ("projects_list", {"team_id": "team_5_1"}),
]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="module")
def stores(tmp_path_factory) -> tuple[str, str, dict]:
    """Two copies of one store with the same keys: one for local stdio, one held by the server."""
    where = tmp_path_factory.mktemp("proxy")
    local, served = str(where / "local.duckdb"), str(where / "served.duckdb")
    keys = make_store(local, {"admin": (None, "admin"), "b": ("team_5_1", "analytics")})
    shutil.copy(local, served)
    return local, served, keys


def _params(*args: str, key: str | None = None) -> StdioServerParameters:
    env = {k: v for k, v in os.environ.items() if not k.startswith("USAGELENS_")}
    if key:
        env["USAGELENS_KEY"] = key
    return StdioServerParameters(command=CLI[0], args=[*CLI[1:], "mcp", *args], env=env)


async def _answers(params: StdioServerParameters, calls: list[tuple[str, dict[str, Any]]]) -> list[tuple]:
    async with Client(params) as c:
        tools = [(t.name, t.input_schema, t.output_schema) for t in (await c.list_tools()).tools]
        results = [await c.call_tool(name, args) for name, args in calls]
    return [tools, *((r.is_error, r.content, r.structured_content) for r in results)]


@pytest.mark.parametrize("who", ["admin", "b"])
async def test_the_proxy_answers_exactly_as_local_stdio(stores, who):
    local, served, keys = stores
    key = keys[who].credential()
    calls = CALLS if who == "admin" else [("usage", MINE), ("usage", MONTH), ("teams_list", {})]
    answers: dict[str, list[tuple]] = {}

    async def ask(mode: str, *args: str) -> None:
        answers[mode] = await _answers(_params(*args, key=key), calls)

    with open_ledger(served) as led, serving(create_app(led)) as url:
        async with anyio.create_task_group() as both:  # the two subprocesses start side by side
            both.start_soon(ask, "local", "--db", local)
            both.start_soon(ask, "proxy", "--url", url)
    want, got = answers["local"], answers["proxy"]
    assert got == want
    errors = [is_error for is_error, _, _ in want[1:]]
    if who == "admin":
        assert errors == [False, False, False, True, True, False, False]
        assert text_of(want[4]).startswith("include: 'usages' is not a list;")
        assert len(want[6][2]["teams"]) == 4
    else:  # the key limits the view through the server as it does locally
        assert errors == [False, True, False]
        assert [t["id"] for t in want[3][2]["teams"]] == ["team_5_1"]


def text_of(answer: tuple) -> str:
    _, content, _ = answer
    assert len(content) == 1 and content[0].type == "text"
    return content[0].text


async def test_a_revoked_key_or_a_server_gone_makes_calls_fail_with_a_sentence(stores):
    _, served, _ = stores
    stack = ExitStack()
    led = stack.enter_context(open_ledger(served))
    keys = KeyStore(led)
    new = keys.create("team_5_1", "analytics")
    url = stack.enter_context(serving(create_app(led)))
    try:
        async with Client(_params("--url", url, key=new.credential())) as c:
            assert not (await c.call_tool("teams_list", {})).is_error
            keys.revoke(new.key)
            revoked = await c.call_tool("teams_list", {})
            await anyio.to_thread.run_sync(stack.close)
            down = await c.call_tool("teams_list", {})
    finally:
        stack.close()
    assert revoked.is_error
    assert text(revoked) == "--key: the API key or secret is wrong, or the key was revoked."
    assert down.is_error
    message = text(down)
    assert message.startswith(f"cannot reach the usagelens server at {url} (") and "Traceback" not in message
    assert message.endswith("start it (usagelens serve) or check --url (or USAGELENS_URL).")


def _start(*runs: list[str]) -> list[subprocess.CompletedProcess]:
    """``usagelens mcp`` with each list of arguments, side by side, until each exits."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("USAGELENS_")}
    procs = [
        subprocess.Popen(
            [*CLI, "mcp", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            stdin=subprocess.DEVNULL,
            text=True,
            env=env,
        )
        for args in runs
    ]
    done = []
    for proc, args in zip(procs, runs, strict=True):
        out, err = proc.communicate(timeout=60)
        done.append(subprocess.CompletedProcess(args, proc.returncode, out, err))
    return done


def test_an_unusable_server_is_one_line_at_start(stores):
    _, served, keys = stores
    nowhere = f"http://127.0.0.1:{free_port()}"
    with open_ledger(served) as led, serving(create_app(led)) as url:
        down, wrong, missing, elsewhere = _start(
            ["--url", nowhere],
            ["--url", url, "--key", f"{keys['b'].key}:wrong"],
            ["--url", url],
            ["--url", f"{url}/v1", "--key", keys["b"].credential()],
        )
    for res in (down, wrong, missing, elsewhere):
        assert res.returncode == 2 and res.stdout == "" and res.stderr.count("\n") == 1, res.stderr
    assert down.stderr.startswith(f"error: cannot reach the usagelens server at {nowhere} (")
    assert wrong.stderr == "error: --key: the API key or secret is wrong, or the key was revoked\n"
    assert missing.stderr == (
        f"error: --key: the server at {url} requires an API key; pass --key key:secret (or USAGELENS_KEY)\n"
    )
    assert "no usagelens MCP endpoint there" in elsewhere.stderr
