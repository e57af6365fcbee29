"""What the REST read endpoints share: JSON bodies, the service, the reading caller and the refusal
of query parameters an endpoint does not take."""

from __future__ import annotations

from typing import Any

from fastapi import Request
from fastapi.responses import Response

from usagelens.auth import Caller
from usagelens.errors import Forbidden, InvalidArgument
from usagelens.jsonout import dumps
from usagelens.query_parse import shown

__all__ = ["json_response", "only", "reader", "service"]


def json_response(body: Any) -> Response:
    """``body`` as compact JSON (Decimals exact)."""
    return Response(dumps(body), media_type="application/json")


def service(request: Request) -> Any:
    """The app's ``Service`` (the store, the keys, how a request becomes a ``Caller``)."""
    return request.app.state.service


def only(request: Request, names: tuple[str, ...]) -> None:
    """Refuse a query parameter the endpoint does not take (a misspelled ``start=`` must not
    silently answer the default window)."""
    for given in request.query_params:
        if given not in names:
            accepted = f"use any of: {', '.join(names)}" if names else "it takes none"
            raise InvalidArgument(
                f"{shown(given)} is not a query parameter of {request.url.path}; {accepted}.", field=shown(given)
            )


def reader(request: Request) -> Caller:
    """The request's caller, who must be allowed to read (an ingest key is refused)."""
    caller = service(request).caller(request)
    if not caller.can_read:
        raise Forbidden("this key can only write events; use an analytics or project key to read usage")
    return caller
