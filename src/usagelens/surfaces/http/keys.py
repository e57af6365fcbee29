"""Key administration over REST (CONTRACT §4): ``POST /v1/keys``, ``GET /v1/keys`` and
``DELETE /v1/keys/{keyId}``, for the platform only (an ``admin`` key, or the keyless local owner).

Callers can rely on: any other key gets 403 before its body is read; a created key's secret is in
the 201 answer and nowhere else, ever (the list carries neither secrets nor hashes); a key created
or revoked here works, or stops working, at the next request of every server reading the store
(``KeyStore.verify`` re-reads the keys when the store's keys token changes). Creating a key for a
team the store has never seen is refused unless ``allowUnknown`` is true (``key_admin``).
"""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Path, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from usagelens.auth import Caller
from usagelens.errors import Forbidden, InvalidArgument, NotFound
from usagelens.jsonout import dumps, instant
from usagelens.key_admin import REST_SPELLING, create_key
from usagelens.query_parse import shown
from usagelens.surfaces.http.common import json_response, only, service
from usagelens.surfaces.http.docs import READ_ERRORS, ErrorBody

__all__ = ["KeyBody", "KeyList", "KeyRequest", "NewKeyBody", "key_json", "router"]

router = APIRouter()
#: The errors every key endpoint may answer (all in the one error shape).
_ERRORS: dict[int | str, dict[str, Any]] = {s: READ_ERRORS[s] for s in (400, 401, 403, 500)}
_NOT_LIVE: dict[int | str, dict[str, Any]] = {404: {"model": ErrorBody, "description": "Not a live key"}}
KeyId = Annotated[str, Path(alias="keyId", description="A key id (ul_…), as GET /v1/keys lists them.")]


class KeyRequest(BaseModel):
    """The body of ``POST /v1/keys`` (documentation; the handler checks the body itself, after the key)."""

    kind: str = Field(description="admin, analytics, project or ingest.")
    teamId: str | None = Field(None, description="The key's team (leave out for an admin key).")
    projectId: str | None = Field(None, description="The project of a project key (and only of one).")
    label: str | None = Field(None, description="A note to recognise the key by (at most 200 characters).")
    allowUnknown: bool = Field(False, description="Create the key although the store has never seen the team.")


class KeyBody(BaseModel):
    """A key as ``GET /v1/keys`` lists it (never its secret nor its hash)."""

    keyId: str
    teamId: str | None = Field(description="null for an admin key (every team).")
    kind: str
    projectId: str | None
    label: str | None
    createdAt: str
    revokedAt: str | None


class KeyList(BaseModel):
    """The answer of ``GET /v1/keys``: every key, revoked ones included, oldest first."""

    keys: list[KeyBody]


class NewKeyBody(BaseModel):
    """The answer of ``POST /v1/keys``: the only time the secret is shown."""

    key: str
    secret: str = Field(description="Send key:secret (HTTP Basic, Bearer or X-API-Key); not stored, not shown again.")
    teamId: str | None
    kind: str
    projectId: str | None
    label: str | None


#: Field -> (accepted JSON types, how a right value looks).
_FIELDS: dict[str, tuple[tuple[type, ...], str]] = {
    "kind": ((str,), 'a string such as "analytics"'),
    "teamId": ((str, type(None)), "a team id string"),
    "projectId": ((str, type(None)), "a project id string"),
    "label": ((str, type(None)), "a string"),
    "allowUnknown": ((bool,), "true or false"),
}


def _platform(request: Request) -> Caller:
    """The request's caller, who must be the platform (an admin key or the local owner)."""
    only(request, ())
    caller: Caller = service(request).caller(request)
    if not caller.is_platform:
        raise Forbidden("managing keys needs an admin key (usagelens keys create --kind admin); this key is a team's")
    return caller


def _body(raw: bytes) -> dict[str, Any]:
    """The JSON object of a key request, each field of the right type; one sentence otherwise."""
    example = 'send a JSON object such as {"kind": "analytics", "teamId": "team_a"}'
    try:
        body = json.loads(raw)
    except (ValueError, RecursionError):  # UnicodeDecodeError is a ValueError
        raise InvalidArgument(f"the body is not JSON; {example}.", field="body") from None
    if not isinstance(body, dict):
        raise InvalidArgument(f"the body is a JSON {type(body).__name__}, not an object; {example}.", field="body")
    for name, value in body.items():
        if name not in _FIELDS:
            raise InvalidArgument(
                f"{shown(name)} is not a field of a key request; use any of: {', '.join(_FIELDS)}.", field=shown(name)
            )
        types, right = _FIELDS[name]
        if not isinstance(value, types):
            raise InvalidArgument(f"{name}: {shown(json.dumps(value))} is not accepted; pass {right}.", field=name)
    if "kind" not in body:
        raise InvalidArgument("kind is required: admin, analytics, project or ingest.", field="kind")
    return body


def key_json(record: dict[str, Any]) -> dict[str, Any]:
    """A stored key as the API shows it: never its secret nor its hash; ``teamId`` null for admin."""
    return {
        "keyId": record["key_id"],
        "teamId": record["team_id"] or None,
        "kind": record["kind"],
        "projectId": record["project_id"],
        "label": record["label"],
        "createdAt": instant(record["created_at"]),
        "revokedAt": instant(record.get("revoked_at")),
    }


@router.post(
    "/v1/keys",
    tags=["usagelens"],
    summary="Create an API key (admin)",
    status_code=201,
    responses={201: {"model": NewKeyBody, "description": "The new key; its secret is shown here once."}, **_ERRORS},
    openapi_extra={
        "requestBody": {"content": {"application/json": {"schema": KeyRequest.model_json_schema()}}, "required": True}
    },
)
async def create(request: Request) -> Response:
    """Create a key: `{kind, teamId?, projectId?, label?, allowUnknown?}` → 201 `{key, secret,
    teamId, kind, projectId, label}`. The secret is never shown again. A team (or project) the
    store has never seen is refused unless `allowUnknown` is true. Admin keys only."""
    _platform(request)
    body = _body(await request.body())
    svc = service(request)
    new = await run_in_threadpool(
        create_key,
        svc.keys,
        svc.ledger,
        body["kind"],
        body.get("teamId"),
        body.get("projectId"),
        body.get("label"),
        allow_unknown=body.get("allowUnknown", False),
        spell=REST_SPELLING,
    )
    answer = {
        "key": new.key,
        "secret": new.secret,
        "teamId": new.team,
        "kind": new.kind,
        "projectId": new.project,
        "label": body.get("label"),
    }
    return Response(dumps(answer), status_code=201, media_type="application/json")


@router.get(
    "/v1/keys",
    tags=["usagelens"],
    summary="List API keys (admin)",
    responses={200: {"model": KeyList, "description": "Every key."}, **_ERRORS},
)
def list_keys(request: Request) -> Response:
    """Every key, revoked ones included, oldest first: `{keys: [{keyId, teamId, kind, projectId,
    label, createdAt, revokedAt}]}` — never a secret or a hash. Admin keys only."""
    _platform(request)
    return json_response({"keys": [key_json(r) for r in service(request).keys.list()]})


@router.delete(
    "/v1/keys/{keyId}",
    tags=["usagelens"],
    summary="Revoke an API key (admin)",
    responses={200: {"model": KeyBody, "description": "The revoked key."}, **_ERRORS, **_NOT_LIVE},
)
def revoke(request: Request, key_id: KeyId) -> Response:
    """Revoke a live key: it stops working at the next request, on every server reading this
    store. Answers the revoked key as `GET /v1/keys` lists it; 404 for an id that is not a live key."""
    _platform(request)
    keys = service(request).keys
    try:
        keys.revoke(key_id)
    except NotFound:
        raise NotFound(
            f"keyId: '{shown(key_id)}' is not a live key; GET /v1/keys lists the keys and which are revoked.",
            field="keyId",
        ) from None
    record = next(r for r in keys.list() if r["key_id"] == key_id)
    return json_response(key_json(record))
