"""Helpers shared by the MCP tests: an in-process client session, exact numbers, readiness polling."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Callable
from datetime import datetime
from decimal import Decimal
from typing import Any

import httpx
from mcp import Client
from mcp_types import CallToolResult

from usagelens.auth import Caller
from usagelens.ledger.base import Ledger
from usagelens.surfaces.mcp import UsageLensServer, build_server

#: "Now" for the demo store (SMALL_DEMO ends 2026-04-30).
NOW = datetime(2026, 5, 1, 12)
TEAM = "team_b_0"


def server(ledger: Ledger, caller: Caller | None = None) -> UsageLensServer:
    """The product's server over ``ledger`` for ``caller`` (the local view by default), at ``NOW``."""
    who = caller or Caller.local()
    return build_server(ledger, lambda: who, now=lambda: NOW)


async def call(srv: UsageLensServer, name: str, args: dict[str, Any]) -> CallToolResult:
    """One tool call through the SDK's in-memory client."""
    async with Client(srv) as c:
        return await c.call_tool(name, args)


def text(result: CallToolResult) -> str:
    assert len(result.content) == 1 and result.content[0].type == "text"
    return result.content[0].text


def exact(obj: Any) -> Any:
    """``obj`` as a client's JSON text reads, with numbers as exact ``Decimal``s."""
    return json.loads(json.dumps(obj), parse_float=Decimal)


def compact_size(obj: Any) -> int:
    return len(json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode())


def assert_one_sentence(message: str) -> None:
    """A friendly error: one line, one sentence, no pydantic dump, URL or traceback."""
    assert "\n" not in message and message.endswith("."), message
    for bad in ("http://", "https://", "validation error", "Traceback", "input_value", "type="):
        assert bad not in message, message


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(ready: Callable[[], bool], timeout: float = 30.0, what: str = "the server") -> None:
    """Poll ``ready`` until it is true, failing after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if ready():
            return
        time.sleep(0.05)
    raise AssertionError(f"{what} was not ready after {timeout:.0f} s")


def answers(url: str) -> bool:
    """Whether an HTTP server answers at ``url`` (any status)."""
    try:
        httpx.get(url, timeout=1.0)
        return True
    except httpx.TransportError:
        return False


def make_store(path: str, keys: dict[str, tuple[str, str]] | None = None) -> dict[str, Any]:
    """A small demo store file (teams team_5_0 … team_5_3, 2026-03-22 … 2026-04-30) and its keys.

    ``keys`` maps a label to ``(team, kind)``; the result maps the label to the new key.
    """
    from datetime import date

    from usagelens.auth import KeyStore
    from usagelens.demo import DemoSpec
    from usagelens.ledger.duckdb import DuckDBLedger
    from usagelens.surfaces.cli.store import load_demo

    led = DuckDBLedger(path)
    try:
        load_demo(led, DemoSpec(seed=5, events=3000, days=40, end=date(2026, 4, 30)))
        store = KeyStore(led)
        return {label: store.create(team, kind) for label, (team, kind) in (keys or {}).items()}
    finally:
        led.close()
