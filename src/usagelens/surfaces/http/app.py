"""The HTTP service: one FastAPI app for the REST API (and, mounted by ``serve``, MCP and the
dashboard). It owns the store; every request reads through its own cursor.

Callers can rely on: every error is ``{"error": {"code", "message", "field"?}}`` with a 4xx
status (5xx only for real failures, never for bad input, never with a stack trace); when the
store holds API keys every ``/v1`` endpoint requires one (HTTP Basic ``key:secret`` as
Scenario's API, ``Authorization: Bearer key:secret`` or ``X-API-Key: key:secret``).
"""

from __future__ import annotations

import functools
import logging
from collections.abc import AsyncIterator, Callable, Iterator, MutableMapping
from contextlib import asynccontextmanager
from typing import Any

import anyio.to_thread
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match, Mount, Route

from usagelens.auth import Caller, KeyStore
from usagelens.budgets.delivery import Deliverer
from usagelens.budgets.watch import Watched
from usagelens.errors import InvalidInput, TooManyRequests, UsageError
from usagelens.ingest.group_commit import GroupWriter
from usagelens.jsonout import dumps
from usagelens.ledger.base import Ledger
from usagelens.query_parse import shown
from usagelens.surfaces.http import alerts as http_alerts
from usagelens.surfaces.http import backup as http_backup
from usagelens.surfaces.http import budgets as http_budgets
from usagelens.surfaces.http import docs as http_docs
from usagelens.surfaces.http import events as http_events
from usagelens.surfaces.http import ingest as http_ingest
from usagelens.surfaces.http import keys as http_keys
from usagelens.surfaces.http import read as http_read
from usagelens.surfaces.http import teams as http_teams
from usagelens.surfaces.http import voids as http_voids
from usagelens.surfaces.http.guard import LOGGED, Guard, is_loopback_name, max_body_bytes
from usagelens.surfaces.mcp.http import MCP_PATH, build_mcp_endpoint
from usagelens.version import version

__all__ = ["STATUS", "create_app", "error_response"]

log = logging.getLogger("usagelens.http")

#: HTTP status of each error code.
STATUS = {
    "invalid_argument": 400,
    "invalid_input": 422,
    "unauthorized": 401,
    "forbidden": 403,
    "not_found": 404,
    "conflict": 409,
    "too_large": 413,
    "too_many_requests": 429,
    "unavailable": 503,
}


def error_response(
    status: int,
    code: str,
    message: str,
    field: str | None = None,
    extra: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
) -> Response:
    """The one error shape of every endpoint."""
    error: dict[str, Any] = {"code": code, "message": message}
    if field:
        error["field"] = field
    error.update(extra or {})
    headers = dict(headers or {})
    if status == 401:
        headers["WWW-Authenticate"] = 'Basic realm="usagelens"'
    return Response(dumps({"error": error}), status, media_type="application/json", headers=headers)


class Service:
    """What endpoints share: the store, the keys, and how a request becomes a ``Caller``."""

    def __init__(self, ledger: Ledger, keys: KeyStore, require_keys: bool) -> None:
        self.ledger, self.keys, self.require_keys = ledger, keys, require_keys
        #: writes go through this: each is followed by the budgets' threshold check
        self.watched = Watched(ledger, self.alerted)
        self.writer = GroupWriter(self.watched)
        #: set while the app runs: what delivers alerts to webhooks (``budgets.delivery``)
        self.deliverer: Any = None

    def alerted(self) -> None:
        """A write recorded alerts: wake the deliverer."""
        if self.deliverer is not None:
            self.deliverer.notify()

    def caller(self, request: Request) -> Caller:
        """The request's caller; ``Unauthorized`` without a valid key when keys are required."""
        if not self.require_keys:
            return Caller.local()
        client = request.client.host if request.client else None
        return self.keys.caller({k.lower(): v for k, v in request.headers.items()}, client)


def _install_errors(app: FastAPI) -> None:
    @app.exception_handler(UsageError)
    async def usage_error(_: Request, e: UsageError) -> Response:
        extra = None
        if isinstance(e, InvalidInput) and e.problems:
            extra = {"problems": e.structured}
        headers = {"Retry-After": str(e.retry_after)} if isinstance(e, TooManyRequests) else None
        return error_response(STATUS.get(e.code, 400), e.code, e.message, e.field, extra, headers)

    @app.exception_handler(RequestValidationError)
    async def validation(_: Request, e: RequestValidationError) -> Response:
        first = e.errors()[0] if e.errors() else {}
        name = str(first.get("loc", ["", "request"])[-1])
        got = shown(first.get("input"))
        if str(first.get("type", "")).startswith("int"):
            message = f"{name}: '{got}' is not a whole number; pass digits such as 100."
        else:
            message = f"{name}: '{got}' is not accepted ({first.get('msg', 'invalid').lower()}); see /docs."
        return error_response(400, "invalid_argument", message, name)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, e: StarletteHTTPException) -> Response:
        code = {404: "not_found", 405: "method_not_allowed"}.get(e.status_code, "error")
        message = {
            404: f"no such endpoint: {request.url.path}",
            405: f"{request.method} is not allowed on {request.url.path}",
        }.get(e.status_code, str(e.detail))
        headers = dict(e.headers or {})
        if e.status_code == 405:  # Starlette names the first route of the path only; list them all
            allowed = {m for r in _routes(request.app.router.routes) if _partial(r, request) for m in r.methods or ()}
            headers["Allow"] = ", ".join(sorted(allowed))
        return error_response(e.status_code, code, message, headers=headers)

    @app.exception_handler(Exception)
    async def crash(request: Request, e: Exception) -> Response:
        # formatting a traceback takes long: off the event loop, so other requests go on
        report = functools.partial(log.error, "internal error on %s %s", request.method, request.url.path, exc_info=e)
        await anyio.to_thread.run_sync(report)
        request.scope[LOGGED] = True
        return error_response(500, "internal", "internal error; the server log has the details")


class _GuardedApp(FastAPI):
    """FastAPI with ``Guard`` outermost, so even the 500 handler's answers carry its headers."""

    guard_options: dict[str, Any]

    def build_middleware_stack(self) -> Any:
        return Guard(super().build_middleware_stack(), **self.guard_options)


async def _healthz() -> dict[str, str]:
    return {"status": "ok"}


def _new_app(mcp: _Restartable) -> _GuardedApp:
    """The bare app: its OpenAPI metadata, no built-in docs pages, and the MCP endpoint's lifespan
    (a mounted app's lifespan is the parent's job)."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        deliverer: Deliverer = app.state.deliverer  # alerts to webhooks, while the app runs
        deliverer.start()
        app.state.service.deliverer = deliverer  # woken by writes that raise alerts
        try:
            async with mcp.lifespan():
                yield
        finally:
            app.state.service.deliverer = None
            await anyio.to_thread.run_sync(deliverer.stop)

    return _GuardedApp(
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        title="usagelens",
        version=version(),
        description="Usage analytics for generative-AI platforms: Scenario-compatible `GET /v1/usages`, "
        "the bounded usage summary, ingest, teams. Authenticate with HTTP Basic key:secret.",
    )


def create_app(
    ledger: Ledger,
    *,
    keys: KeyStore | None = None,
    require_keys: bool | None = None,
    host: str = "127.0.0.1",
    max_body: int | None = None,
) -> FastAPI:
    """The REST app over ``ledger``, with the MCP server at ``/mcp`` and the dashboard at ``/``.

    Keys are required when the store holds any live key (or when ``require_keys`` says so);
    without, every request sees the whole store, and when ``host`` (the address served) is
    loopback only requests with a loopback ``Host`` are answered. Bodies over ``max_body`` bytes
    (default ``max_body_bytes()``) are refused with 413; browsers of other origins with 403
    (``surfaces/http/guard.py``).
    """
    keys = keys or KeyStore(ledger)
    if require_keys is None:
        require_keys = any(k["revoked_at"] is None for k in ledger.api_keys())
    mcp = _Restartable(lambda: build_mcp_endpoint(ledger, keys, require_keys, host=host))

    app = _new_app(mcp)
    app.guard_options = {
        "max_body": max_body or max_body_bytes(),
        "loopback_hosts": not require_keys and is_loopback_name(host),
        "error": lambda status, e: error_response(status, e.code, e.message, e.field),
    }
    app.state.service = Service(ledger, keys, require_keys)
    app.state.deliverer = Deliverer(ledger)  # started by the lifespan; notify() it when an alert is raised
    _install_errors(app)
    app.include_router(http_read.router)
    app.include_router(http_teams.router)
    app.include_router(http_ingest.router)
    app.include_router(http_voids.router)
    app.include_router(http_budgets.router)
    app.include_router(http_alerts.router)
    app.include_router(http_events.router)
    app.include_router(http_keys.router)
    app.include_router(http_backup.router)
    app.include_router(http_docs.router)

    app.add_api_route("/healthz", _healthz, include_in_schema=False)
    app.router.routes.append(Route(MCP_PATH, endpoint=mcp, methods=["GET", "POST", "DELETE"]))
    _mount_dashboard(app)  # last: it catches every other path
    return app


class _Restartable:
    """The MCP endpoint, rebuilt after each lifespan: its session manager runs only once, and a
    test client (or an embedding app) may start the parent's lifespan several times."""

    def __init__(self, factory: Callable[[], Any]) -> None:
        self._factory = factory
        self._current = factory()

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        await self._current(scope, receive, send)

    @asynccontextmanager
    async def lifespan(self) -> AsyncIterator[None]:
        try:
            async with self._current.lifespan():
                yield
        finally:
            self._current = self._factory()


def _mount_dashboard(app: FastAPI) -> None:
    """Serve the dashboard's static files (``usagelens/web``) at ``/``, when they are present.

    The files are public; the data they show comes from the ``/v1`` endpoints, with a key.
    """
    from pathlib import Path

    from fastapi.staticfiles import StaticFiles

    web = Path(__file__).resolve().parents[2] / "web"
    if (web / "index.html").exists():
        app.router.routes.append(_DashboardMount("/", StaticFiles(directory=web, html=True), name="dashboard"))


class _DashboardMount(Mount):
    """The dashboard's files at ``/``, except the API's own paths: a wrong method on an API path
    must get that endpoint's 405 (with its ``Allow``), not the static files' answer."""

    API = ("/v1/", "/mcp", "/docs", "/redoc", "/openapi.json", "/healthz")

    def matches(self, scope: Any) -> tuple[Match, MutableMapping[str, Any]]:
        if scope.get("type") == "http" and scope.get("path", "").startswith(self.API):
            return Match.NONE, {}
        return super().matches(scope)


def _routes(routes: list[Any]) -> Iterator[Any]:
    """Every route, those of included routers too (FastAPI keeps them nested; no prefixes here)."""
    for r in routes:
        inner = getattr(r, "original_router", None)
        yield from _routes(inner.routes) if inner is not None else (r,)


def _partial(route: Any, request: Request) -> bool:
    """Whether ``route`` serves the request's path with another method."""
    return isinstance(route, Route) and route.matches(request.scope)[0] == Match.PARTIAL
