"""Hostile bodies to ``/mcp`` over streamable HTTP (a real uvicorn): deeply nested JSON, invalid
UTF-8 and lone surrogates in the arguments are a JSON-RPC parse error (400) or an ``isError``
result in one sentence, never "Error executing tool" — and the server keeps answering."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime

import httpx
import pytest

from conftest import event, table
from http_server import serving
from mcp_support import assert_one_sentence
from usagelens.ledger.duckdb import DuckDBLedger
from usagelens.surfaces.http import create_app

POST = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}
VERSION = "2025-06-18"


@pytest.fixture(scope="module")
def session() -> Iterator[tuple[httpx.Client, dict[str, str]]]:
    """A keyless ``usagelens serve`` app on 127.0.0.1 and an initialized MCP session's headers."""
    led = DuckDBLedger(":memory:")
    led.write_events(table([event(i, datetime(2026, 4, 10, i % 24)) for i in range(10)]))
    with serving(create_app(led)) as url, httpx.Client(base_url=url, timeout=30) as c:
        init = {
            "jsonrpc": "2.0",
            "id": 1,
            "method": "initialize",
            "params": {"protocolVersion": VERSION, "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}},
        }
        r = c.post("/mcp", json=init, headers=POST)
        assert r.status_code == 200, r.text
        headers = {**POST, "mcp-session-id": r.headers["mcp-session-id"], "mcp-protocol-version": VERSION}
        c.post("/mcp", json={"jsonrpc": "2.0", "method": "notifications/initialized"}, headers=headers)
        yield c, headers
    led.close()


def _call(session, arguments: bytes) -> httpx.Response:
    c, headers = session
    body = b'{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"usage","arguments":' + arguments + b"}}"
    return c.post("/mcp", content=body, headers=headers)


def _result(r: httpx.Response) -> dict:
    assert r.status_code == 200, r.text
    data = next(line for line in r.text.splitlines() if line.startswith("data: "))
    return json.loads(data.removeprefix("data: "))["result"]


def _assert_still_answers(session) -> None:
    result = _result(_call(session, b'{"team_id": "team_a", "start_date": "2026-04-01", "end_date": "2026-04-30"}'))
    assert not result.get("isError"), result


@pytest.mark.parametrize(
    "arguments",
    [
        b'{"team_id": ' + b"[" * 100_000 + b"]" * 100_000 + b"}",
        b'{"team_id": ' + b'{"a": ' * 10_000 + b"1" + b"}" * 10_000 + b"}",
        b'{"team_id": "\xff\xfe"}',
        b'{"end_date": "2026-04-01\xc0\x80"}',
        b'{"team_id": "\\ud800"}',
        b'{"user_ids": ["\\udcff"]}',
    ],
)
def test_an_unparseable_body_is_a_parse_error_and_the_server_keeps_answering(session, arguments):
    r = _call(session, arguments)
    assert r.status_code == 400, r.text
    assert r.json()["error"]["code"] == -32700
    _assert_still_answers(session)


@pytest.mark.parametrize(
    "arguments",
    [
        b'{"team_id": ' + b"[" * 50 + b"]" * 50 + b"}",
        b'{"user_ids": [' + b'{"a": ' * 50 + b"1" + b"}" * 50 + b"]}",
        b'{"end_date": "2026-02-30"}',
        b'{"timezone": "' + b"A" * 5000 + b'"}',
        b'{"include": ["activity"], "activity_offset": 1000000000000}',
        b'{"start_date": "0001-01-01", "end_date": "9999-12-31"}',
    ],
)
def test_nested_or_hostile_arguments_are_an_error_result_in_one_sentence(session, arguments):
    result = _result(_call(session, arguments))
    assert result["isError"] is True
    message = result["content"][0]["text"]
    assert not message.startswith("Error executing tool")
    assert_one_sentence(message)
