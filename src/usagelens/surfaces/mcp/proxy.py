"""``usagelens mcp --url``: the MCP server on stdio, answering from a running ``usagelens serve``.

While the server owns the store, no other process can open it (DuckDB); an agent that speaks
stdio (Claude Desktop, Claude Code, Cursor …) still gets the same tools and the same answers
through this proxy: a low-level ``mcp`` server named ``usagelens`` whose ``tools/list`` and
``tools/call`` are forwarded, unchanged, to the server's streamable-HTTP endpoint (``{url}/mcp``)
with the official client, the key sent as ``Authorization: Bearer key:secret``.

Callers can rely on: ``check_remote`` fails at start, with one ``UsageError`` sentence, when the
server cannot be reached, has no MCP endpoint there, or refuses the key; a tool result (errors
with ``isError`` included) arrives exactly as the server made it; a server that cannot be reached
later makes each call an ``isError`` result saying so, never a traceback; a protocol error of the
server (an unknown tool …) is passed on as that error. Each request opens its own short session,
so the proxy survives restarts of the server.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio
import anyio.to_thread
import httpx
import httpx2
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.server import Server, ServerRequestContext
from mcp.server.stdio import stdio_server
from mcp.shared.exceptions import MCPError
from mcp_types import (
    INTERNAL_ERROR,
    CallToolRequestParams,
    CallToolResult,
    ListToolsResult,
    PaginatedRequestParams,
    TextContent,
)

from usagelens.errors import Forbidden, TooManyRequests, Unauthorized, Unavailable, UsageError
from usagelens.surfaces.mcp.server import SERVER_NAME
from usagelens.version import version

__all__ = ["RemoteTools", "build_proxy", "check_remote", "serve_proxy"]

#: Where the MCP endpoint of ``usagelens serve`` (and of ``usagelens mcp --http``) lives.
_PATH = "/mcp"
_PING = {"jsonrpc": "2.0", "id": 0, "method": "ping"}


def _endpoint(url: str) -> str:
    base = url.rstrip("/")
    return base if base.endswith(_PATH) else base + _PATH


def _headers(credential: str | None) -> dict[str, str]:
    return {"authorization": f"Bearer {credential}"} if credential else {}


def _unreachable(url: str, reason: object) -> str:
    return (
        f"cannot reach the usagelens server at {url} ({reason}); start it (usagelens serve) or check --url "
        "(or USAGELENS_URL)."
    )


def check_remote(url: str, credential: str | None, timeout: float = 10.0) -> None:
    """Make sure ``url`` serves usagelens MCP and takes ``credential``: ``Unavailable`` when it cannot
    be reached or has no MCP endpoint, ``Unauthorized``/``Forbidden``/``TooManyRequests`` with the
    server's own sentence when it refuses the key."""
    endpoint = _endpoint(url)
    headers = {**_headers(credential), "accept": "application/json, text/event-stream"}
    try:
        r = httpx.post(endpoint, json=_PING, headers=headers, timeout=timeout)
    except httpx.HTTPError as e:
        raise Unavailable(_unreachable(url, e).removesuffix(".")) from None
    try:
        message = str(r.json()["error"]["message"])
    except (ValueError, KeyError, TypeError):
        message = ""
    if r.status_code == 401 and not credential:
        raise Unauthorized(f"--key: the server at {url} requires an API key; pass --key key:secret (or USAGELENS_KEY)")
    if r.status_code == 401:
        raise Unauthorized(f"--key: {message or 'the server refused the key'}")
    if r.status_code == 403:
        raise Forbidden(f"--key: {message or 'the server refused the key'}")
    if r.status_code == 429:
        raise TooManyRequests(message, retry_after=int(r.headers.get("retry-after", "60")))
    if r.status_code in (404, 405) or r.status_code >= 500:
        raise Unavailable(
            f"--url: {url} answered {r.status_code} at {endpoint}: no usagelens MCP endpoint there; "
            "pass the base URL of usagelens serve, such as http://127.0.0.1:8000"
        )


class RemoteTools:
    """The tool handlers of the proxy: each forwards one request to ``{url}/mcp``."""

    def __init__(self, url: str, credential: str | None, timeout: float = 300.0) -> None:
        self.url = url
        self.endpoint = _endpoint(url)
        self._credential = credential
        self._headers = _headers(credential)
        self._timeout = timeout

    @asynccontextmanager
    async def _client(self) -> AsyncIterator[Client]:
        http = httpx2.AsyncClient(headers=self._headers, timeout=httpx2.Timeout(30.0, read=self._timeout))
        async with http, Client(streamable_http_client(self.endpoint, http_client=http), cache=None) as client:
            yield client

    async def list_tools(self, _: ServerRequestContext, params: PaginatedRequestParams | None) -> ListToolsResult:
        """The server's tools, as it lists them (a page at a time, when it pages)."""
        try:
            async with self._client() as client:
                return await client.list_tools(cursor=params.cursor if params else None)
        except Exception as e:  # failures inside the client's task groups arrive wrapped
            cause = _innermost(e)
            if isinstance(cause, MCPError) and cause.code != INTERNAL_ERROR:
                raise cause from None
            raise MCPError(INTERNAL_ERROR, await self._failure(e)) from None

    async def call_tool(self, _: ServerRequestContext, params: CallToolRequestParams) -> CallToolResult:
        """The server's result for the call, unchanged; an ``isError`` result saying why when the
        server cannot answer it; the server's protocol errors (an unknown tool …) passed on."""
        try:
            async with self._client() as client:
                return await client.call_tool(params.name, params.arguments or {})
        except Exception as e:  # failures inside the client's task groups arrive wrapped
            cause = _innermost(e)
            if isinstance(cause, MCPError) and cause.code != INTERNAL_ERROR:
                raise cause from None
            return CallToolResult(content=[TextContent(type="text", text=await self._failure(e))], is_error=True)

    async def _failure(self, error: BaseException) -> str:
        """One sentence for a request the server did not answer: unreachable, or refused (the SDK
        reports any HTTP error status as an internal error, so the server is asked directly why:
        a key revoked since the start, a server in trouble …)."""
        cause = _innermost(error)
        if not isinstance(cause, MCPError):
            return _unreachable(self.url, _reason(cause))
        try:
            await anyio.to_thread.run_sync(check_remote, self.url, self._credential)
        except UsageError as e:
            return str(e) if str(e).endswith(".") else f"{e}."
        return f"the usagelens server at {self.url} could not answer ({cause.message}); its log has the details."


def _innermost(error: BaseException) -> BaseException:
    """The first leaf of an exception group (the error itself otherwise)."""
    while isinstance(error, BaseExceptionGroup) and error.exceptions:
        error = error.exceptions[0]
    return error


def _reason(error: BaseException) -> str:
    """A transport failure as one short phrase."""
    text = str(error).strip().splitlines()[0] if str(error).strip() else ""
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


def build_proxy(url: str, credential: str | None) -> Server:
    """The low-level ``usagelens`` server whose tools are those of the server at ``url``."""
    tools = RemoteTools(url, credential)
    return Server(SERVER_NAME, version=version(), on_list_tools=tools.list_tools, on_call_tool=tools.call_tool)


def serve_proxy(url: str, credential: str | None) -> None:
    """Check the server (one ``UsageError`` when it is unusable), then serve the proxy on stdio
    until the client closes it."""
    check_remote(url, credential)
    server = build_proxy(url, credential)

    async def run() -> None:
        async with stdio_server() as (read, write):
            await server.run(read, write, server.create_initialization_options())

    anyio.run(run)
