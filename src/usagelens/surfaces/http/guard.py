"""The outermost layer of ``usagelens serve``: a pure ASGI middleware in front of every path
(REST, ``/mcp``, the dashboard, ``/docs``, and the answers of the error handlers).

Callers can rely on:

- **Security headers** on every HTTP response: ``X-Content-Type-Options: nosniff``,
  ``X-Frame-Options: DENY``, ``Referrer-Policy: no-referrer``, ``Cross-Origin-Resource-Policy:
  same-origin`` and ``Content-Security-Policy: frame-ancestors 'none'`` (a response that sets its
  own policy keeps it).
- **Browsers of other origins are refused** (403 ``forbidden``), with or without keys: a request
  whose ``Origin`` is not the origin it is sent to, or that a browser marks ``Sec-Fetch-Site:
  cross-site``/``same-site`` — except a plain navigation (a link followed to ``/`` or ``/docs``,
  ``GET``/``HEAD`` with ``Sec-Fetch-Mode: navigate``), which cannot read or write anything on the
  page's behalf. usagelens sends no CORS headers, so no legitimate cross-origin use is lost.
- **Keyless on loopback, loopback names only** (``loopback_hosts``): the ``Host`` must be
  ``localhost``, ``127.x.x.x`` or ``[::1]`` (any port), else 403 — no DNS-rebinding reads.
- **A body limit** (``max_body``): a ``Content-Length`` over it is answered 413 before any byte
  of the body is read; a chunked body is counted as it streams and answered 413 the moment it
  passes the limit (the rest is never read). Everything in the one error shape.
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from usagelens.errors import BodyTooLarge, Forbidden, InvalidArgument, UsageError
from usagelens.query_parse import shown

__all__ = ["DEFAULT_MAX_BODY", "LOGGED", "SECURITY_HEADERS", "Guard", "is_loopback_name", "max_body_bytes", "refusal"]

#: Set in a request's scope by the 500 handler once it has answered and logged the failure.
LOGGED = "usagelens.logged"

#: 16 MiB: 10,000 events of a realistic size (about 400 bytes each) with room to spare.
DEFAULT_MAX_BODY = 16 * 1024 * 1024
SECURITY_HEADERS: tuple[tuple[bytes, bytes], ...] = (
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (b"cross-origin-resource-policy", b"same-origin"),
    (b"content-security-policy", b"frame-ancestors 'none'"),
)
ErrorResponse = Callable[[int, UsageError], Any]


def max_body_bytes() -> int:
    """The largest request body accepted: ``$USAGELENS_MAX_BODY_BYTES`` or 16 MiB."""
    raw = os.environ.get("USAGELENS_MAX_BODY_BYTES", "").strip()
    if not raw:
        return DEFAULT_MAX_BODY
    if not raw.isdigit() or int(raw) < 1:
        raise InvalidArgument(
            f"USAGELENS_MAX_BODY_BYTES: '{shown(raw)}' is not a number of bytes; set a whole number such as 16777216."
        )
    return int(raw)


def _hostname(host: str) -> str:
    """The name of a ``Host`` header without its port (``[::1]:8000`` → ``::1``)."""
    if host.startswith("["):
        return host[1 : host.find("]")] if "]" in host else ""
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


def is_loopback_name(host: str) -> bool:
    """Whether a ``Host`` header names this machine's loopback interface."""
    name = _hostname(host.strip().lower()).rstrip(".")
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def refusal(scope: Scope, loopback_hosts: bool) -> UsageError | None:
    """Why a request must be refused before it reaches an endpoint (None: it may go on)."""
    headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
    host = headers.get("host", "")
    if loopback_hosts and not is_loopback_name(host):
        return Forbidden(
            f"Host '{host[:60]}' is not a loopback name; without API keys usagelens answers only "
            "localhost, 127.0.0.1 or [::1] (create a key with usagelens keys create to serve other names)."
        )
    origin = headers.get("origin")
    if origin is not None:
        parts = urlsplit(origin)
        if parts.scheme not in ("http", "https") or parts.netloc.lower() != host.lower():
            return Forbidden(
                f"requests from a page of another origin ('{origin[:60]}') are refused; call the API "
                "from its own origin or without a browser."
            )
    site = headers.get("sec-fetch-site")
    navigation = scope.get("method") in ("GET", "HEAD") and headers.get("sec-fetch-mode") == "navigate"
    if site in ("cross-site", "same-site") and not navigation:
        return Forbidden(
            f"requests from a page of another site (Sec-Fetch-Site: {site}) are refused; call the API "
            "from its own origin or without a browser."
        )
    return None


def _content_length(scope: Scope) -> int | None:
    for k, v in scope.get("headers", []):
        if k.lower() == b"content-length":
            return int(v) if v.strip().isdigit() else None
    return None


class Guard:
    """The middleware (see the module's docstring). ``error(status, error)`` renders the one
    error shape as an ASGI response."""

    def __init__(self, app: ASGIApp, *, max_body: int, loopback_hosts: bool, error: ErrorResponse) -> None:
        self.app, self.max_body, self.loopback_hosts, self.error = app, max_body, loopback_hosts, error

    def _too_large(self, length: int | None) -> BodyTooLarge:
        size = f"of {length:,} bytes " if length is not None else ""
        return BodyTooLarge(
            f"the request body {size}is larger than the {self.max_body:,} bytes this server accepts "
            "(USAGELENS_MAX_BODY_BYTES); split it into smaller requests."
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Refuse, or pass on with a body limit and the security headers.

        Long because the wrapped ``receive`` and ``send`` share one request's state; split
        apart they would pass it around for no reader's benefit."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        state = {"started": False, "refused": False, "read": 0}

        async def guarded_send(message: Message) -> None:
            if state["refused"]:
                return  # the 413 is already out; the app's own answer is dropped
            if message["type"] == "http.response.start":
                state["started"] = True
                present = {k.lower() for k, _ in message.get("headers", [])}
                extra = [(k, v) for k, v in SECURITY_HEADERS if k not in present]
                message = {**message, "headers": [*message.get("headers", []), *extra]}
            await send(message)

        async def limited_receive() -> Message:
            message = await receive()
            if message["type"] == "http.request":
                state["read"] += len(message.get("body", b""))
                if state["read"] > self.max_body:
                    error = self._too_large(None)
                    if not state["started"]:
                        await self.error(413, error)(scope, receive, guarded_send)
                        state["refused"] = True
                    raise error
            return message

        problem = refusal(scope, self.loopback_hosts)
        if problem is None and (_content_length(scope) or 0) > self.max_body:
            problem = self._too_large(_content_length(scope))
        if problem is not None:
            await self.error(413 if isinstance(problem, BodyTooLarge) else 403, problem)(scope, receive, guarded_send)
            return
        try:
            await self.app(scope, limited_receive, guarded_send)
        except BodyTooLarge:
            if not state["refused"]:
                raise
        except Exception:
            if not scope.get(LOGGED):
                raise
            # answered and logged by the 500 handler (off the event loop): not logged again
