"""The MCP server over streamable HTTP, behind the API keys of the REST API (CONTRACT §4).

Two ways to serve it:

- ``build_http_app(ledger, keys, require_key)``: a complete Starlette app serving ``/mcp`` with its
  own lifespan, as ``usagelens mcp --http`` runs it under uvicorn.
- ``build_mcp_endpoint(ledger, keys, require_key)``: the bare ASGI endpoint, for a parent app (the
  REST server mounts it at ``/mcp`` of ``usagelens serve``); the parent must run
  ``endpoint.lifespan()`` in its own lifespan (see ``MCPEndpoint``).

Every HTTP request is authenticated by ``KeyAuth`` before it reaches the SDK: HTTP Basic
``key:secret`` (Scenario's scheme), ``Authorization: Bearer key:secret`` or ``X-API-Key: key:secret``.
The request's ``Caller`` travels to the tools in a context variable (the SDK carries the sender's
context along with each message), so each call sees exactly what that request's key may see.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from contextvars import ContextVar
from datetime import datetime

from mcp.server.streamable_http_manager import StreamableHTTPASGIApp, StreamableHTTPSessionManager
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.responses import JSONResponse
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from usagelens.auth import Caller, KeyStore
from usagelens.errors import Forbidden, TooManyRequests, Unauthorized, UsageError
from usagelens.ledger.base import UsageReader
from usagelens.surfaces.mcp import build_server

__all__ = ["MCP_PATH", "KeyAuth", "MCPEndpoint", "build_http_app", "build_mcp_endpoint", "request_caller"]

MCP_PATH = "/mcp"
_METHODS = ["GET", "POST", "DELETE"]
_caller: ContextVar[Caller | None] = ContextVar("usagelens_mcp_caller", default=None)


def request_caller() -> Caller:
    """The caller of the HTTP request being served (the tools' ``caller_provider``)."""
    caller = _caller.get()
    if caller is None:  # only reachable if the endpoint is served without KeyAuth
        raise Unauthorized("this request carries no verified API key")
    return caller


def _error(status: int, error: UsageError) -> JSONResponse:
    """The one error shape of the REST API (``{"error": {"code", "message"}}``)."""
    headers = {"WWW-Authenticate": 'Basic realm="usagelens"'} if status == 401 else {}
    if isinstance(error, TooManyRequests):
        headers["Retry-After"] = str(error.retry_after)
    return JSONResponse({"error": {"code": error.code, "message": str(error)}}, status_code=status, headers=headers)


class KeyAuth:
    """ASGI middleware: the request's API key decides its ``Caller``, or the request gets 401.

    With ``require_key`` false (a store without keys, served on loopback), a request without
    credentials gets the local view; credentials that are given are still checked. A key that can
    only write events (ingest) is refused with 403: the tools only read.
    """

    def __init__(self, app: ASGIApp, keys: KeyStore, require_key: bool) -> None:
        self.app = app
        self.keys = keys
        self.require_key = require_key

    def _caller(self, scope: Scope) -> Caller:
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        given = headers.get("authorization") or headers.get("x-api-key")
        if not given and not self.require_key:
            return Caller.local()
        client = scope.get("client")
        caller = self.keys.caller(headers, client[0] if client else None)
        if not caller.can_read:
            raise Forbidden("this key can only write events; the MCP tools need an analytics or project key")
        return caller

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        try:
            caller = self._caller(scope)
        except Unauthorized as e:
            await _error(401, e)(scope, receive, send)
            return
        except Forbidden as e:
            await _error(403, e)(scope, receive, send)
            return
        except TooManyRequests as e:
            await _error(429, e)(scope, receive, send)
            return
        token = _caller.set(caller)
        try:
            await self.app(scope, receive, send)
        finally:
            _caller.reset(token)


class MCPEndpoint:
    """The MCP streamable HTTP endpoint as one path-agnostic ASGI app, behind ``KeyAuth``.

    A parent app serves it at one path and runs its lifespan, for example with Starlette/FastAPI::

        mcp = build_mcp_endpoint(ledger, KeyStore(ledger), require_key=True, host=host)
        app.router.routes.append(Route("/mcp", endpoint=mcp, methods=["GET", "POST", "DELETE"]))

        @asynccontextmanager
        async def lifespan(app):
            async with mcp.lifespan():
                yield

    ``app.mount("/mcp", mcp)`` works as well (clients then use ``/mcp/``). Mounted sub-apps'
    own lifespans are not run by Starlette, hence ``lifespan()``: it starts the SDK's session
    manager (once per endpoint; an endpoint cannot be restarted).
    """

    def __init__(self, session_manager: StreamableHTTPSessionManager, keys: KeyStore, require_key: bool) -> None:
        self.session_manager = session_manager
        self.app = KeyAuth(StreamableHTTPASGIApp(session_manager), keys, require_key)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.app(scope, receive, send)

    def lifespan(self) -> AbstractAsyncContextManager[None]:
        """Run the SDK's session manager for as long as the parent app serves."""
        return self.session_manager.run()


def build_mcp_endpoint(
    ledger: UsageReader,
    keys: KeyStore,
    require_key: bool,
    *,
    host: str = "127.0.0.1",
    now: Callable[[], datetime] | None = None,
) -> MCPEndpoint:
    """The ``usagelens`` MCP server as an ASGI endpoint with API-key auth, for any mount path.

    ``require_key``: refuse requests without a valid key (401); without it, requests without
    credentials see the whole store (only for a store without keys, served on loopback).
    ``host``: the address the parent binds; on loopback the SDK also checks Host and Origin
    headers against DNS rebinding.
    """
    server = build_server(ledger, request_caller, now=now)
    server.streamable_http_app(host=host)  # creates the session manager the endpoint drives
    return MCPEndpoint(server.session_manager, keys, require_key)


def build_http_app(
    ledger: UsageReader,
    keys: KeyStore,
    require_key: bool,
    *,
    host: str = "127.0.0.1",
    path: str = MCP_PATH,
    now: Callable[[], datetime] | None = None,
    max_body: int | None = None,
) -> Starlette:
    """A standalone ASGI app serving the MCP endpoint at ``path`` (``/mcp``), lifespan included,
    behind the same ``Guard`` as ``usagelens serve`` (security headers, the body limit, no
    browsers of other origins; loopback ``Host`` names only without keys on loopback)."""
    from usagelens.surfaces.http.guard import Guard, is_loopback_name, max_body_bytes

    endpoint = build_mcp_endpoint(ledger, keys, require_key, host=host, now=now)

    @asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        async with endpoint.lifespan():
            yield

    guard = Middleware(
        Guard,
        max_body=max_body or max_body_bytes(),
        loopback_hosts=not require_key and is_loopback_name(host),
        error=_error,
    )
    app = Starlette(routes=[Route(path, endpoint=endpoint, methods=_METHODS)], lifespan=lifespan, middleware=[guard])
    app.state.mcp = endpoint
    return app
