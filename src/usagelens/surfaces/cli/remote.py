"""A running ``usagelens serve`` seen as a ledger, for the CLI's ``--url`` mode.

DuckDB lets one process open the store; while the server runs, ``usagelens ingest``, ``usage``,
``stats``, ``keys`` and ``teams`` talk to it over HTTP instead (``--url`` or ``USAGELENS_URL``, with
``USAGELENS_KEY=key:secret`` when the store has keys; ``keys`` and ``stats`` need an admin key).
File ingest still reads and validates the file locally (same messages), then sends the valid
events in batches of 10,000: each batch is atomic on the server; a file larger than one batch is not.
"""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Iterable
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from usagelens.auth import NewKey
from usagelens.errors import (
    Forbidden,
    InvalidArgument,
    InvalidInput,
    NotFound,
    Problem,
    Unauthorized,
    Unavailable,
    UsageError,
)
from usagelens.ledger.base import ProjectRef, Team

if TYPE_CHECKING:  # httpx and pyarrow load when a command talks to a server, not with the CLI
    import httpx
    import pyarrow as pa

    from usagelens.model import VoidResult, WriteResult

__all__ = ["RemoteLedger", "remote_from_env"]

_BATCH = 10_000
_ERRORS: dict[int, type[UsageError]] = {
    400: InvalidArgument,
    401: Unauthorized,
    403: Forbidden,
    404: NotFound,
    413: InvalidInput,
    422: InvalidInput,
    503: Unavailable,
}


def _naive(text: str | None) -> datetime | None:
    """An instant as the API writes it (``…Z``) as the naive UTC datetime the store holds."""
    return datetime.fromisoformat(text.removesuffix("Z")) if text else None


def _json_value(v: Any) -> Any:
    if isinstance(v, datetime):
        return v.isoformat() + "Z"
    if isinstance(v, Decimal):
        return str(v)
    return v


class RemoteLedger:
    """The subset of ``Ledger`` the CLI needs, served by a running usagelens."""

    def __init__(self, url: str, key: str | None = None, timeout: float = 120) -> None:
        import httpx

        headers = {}
        if key:
            headers["authorization"] = "Basic " + base64.b64encode(key.encode()).decode()
        self.location = url
        self._http = httpx.Client(base_url=url.rstrip("/"), headers=headers, timeout=timeout)

    def call(self, method: str, path: str, **kw: Any) -> httpx.Response:
        """One request; a 4xx/5xx answer becomes the ``UsageError`` it describes (one sentence),
        an unreachable server ``Unavailable``."""
        import httpx

        try:
            r = self._http.request(method, path, **kw)
        except httpx.HTTPError as e:
            raise Unavailable(f"cannot reach the server at {self.location} ({e})") from None
        if r.status_code >= 400:
            try:
                err = r.json()["error"]
            except (ValueError, KeyError, TypeError):
                raise Unavailable(f"the server at {self.location} answered {r.status_code}") from None
            problems = [Problem(p["index"], p["field"], p["message"], "index") for p in err.get("problems", [])]
            cls = _ERRORS.get(r.status_code, Unavailable)
            if cls is InvalidInput:
                raise InvalidInput(err["message"], problems=problems)
            raise cls(err["message"], field=err.get("field"))
        return r

    def _post_rows(self, path: str, rows: list[dict[str, Any]]) -> dict[str, Any]:
        body = "".join(json.dumps(r, default=_json_value) + "\n" for r in rows)
        return self.call(
            "POST" if "events" in path else "PUT",
            path,
            content=body.encode(),
            headers={"content-type": "application/x-ndjson"},
        ).json()

    def write_events(self, batch: pa.Table) -> WriteResult:
        """Send validated events in batches of 10,000 (each atomic on the server)."""
        from usagelens.model import EVENT_FIELDS, WriteResult

        names = {f.column: f.name for f in EVENT_FIELDS}
        written = duplicates = 0
        for start in range(0, batch.num_rows, _BATCH):
            rows = [
                {names[k]: v for k, v in r.items() if v is not None} for r in batch.slice(start, _BATCH).to_pylist()
            ]
            got = self._post_rows("/v1/usage-events", rows)
            written += got["written"]
            duplicates += got["duplicates"]
        return WriteResult(written, duplicates)

    def upsert_entities(self, kind: str, batch: pa.Table, team: str | None = None) -> int:
        """Upsert entities of ``kind`` through ``PUT /v1/entities/{kind}``. Whose view they are is
        the server's decision, from the key (``team`` is not sent: a client cannot choose it)."""
        from usagelens.model import ENTITY_FIELDS

        names = {f.column: f.name for f in ENTITY_FIELDS[kind]}
        rows = [{names[k]: v for k, v in r.items() if v is not None} for r in batch.to_pylist()]
        return sum(
            self._post_rows(f"/v1/entities/{kind}", rows[i : i + _BATCH])["written"]
            for i in range(0, len(rows), _BATCH)
        )

    def usage(self, params: dict[str, Any]) -> tuple[dict[str, Any] | None, str]:
        """``GET /v1/usage``: the answer's data (None for Markdown) and its text."""
        r = self.call("GET", "/v1/usage", params={k: v for k, v in params.items() if v not in (None, [], "")})
        if r.headers.get("content-type", "").startswith("text/markdown"):
            return None, r.text
        return json.loads(r.text, parse_float=Decimal), r.text

    def stats(self) -> dict[str, Any]:
        """``GET /v1/stats``."""
        return json.loads(self.call("GET", "/v1/stats").text, parse_float=Decimal)

    def teams(self) -> list[Team]:
        """``GET /v1/teams``: the teams the key can see, each with its projects (names as the
        server shows them: the id when a team or project has no name)."""
        got = self.call("GET", "/v1/teams").json()["teams"]
        return [
            Team(id=t["id"], name=t["name"], projects=[ProjectRef(id=p["id"], name=p["name"]) for p in t["projects"]])
            for t in got
        ]

    def create_key(
        self,
        team: str | None,
        kind: str,
        project: str | None = None,
        label: str | None = None,
        allow_unknown: bool = False,
    ) -> NewKey:
        """``POST /v1/keys`` (an admin key): the new key, with its secret (shown once)."""
        body = {"kind": kind, "teamId": team, "projectId": project, "label": label, "allowUnknown": allow_unknown}
        got = self.call("POST", "/v1/keys", json=body).json()
        return NewKey(got["key"], got["secret"], got["teamId"], got["kind"], got["projectId"])

    def list_keys(self) -> list[dict[str, Any]]:
        """``GET /v1/keys`` (an admin key) as ``KeyStore.list()`` gives the records: ``key_id``,
        ``team_id`` ('' for an admin key), ``kind``, ``project_id``, ``label``, ``created_at`` and
        ``revoked_at`` (naive UTC datetimes)."""
        return [
            {
                "key_id": k["keyId"],
                "team_id": k["teamId"] or "",
                "kind": k["kind"],
                "project_id": k["projectId"],
                "label": k["label"],
                "created_at": _naive(k["createdAt"]),
                "revoked_at": _naive(k["revokedAt"]),
            }
            for k in self.call("GET", "/v1/keys").json()["keys"]
        ]

    def revoke_key(self, key: str) -> None:
        """``DELETE /v1/keys/{keyId}`` (an admin key): the key stops working at once; ``NotFound``
        (worded as ``KeyStore.revoke``'s) when it is not a live key."""
        try:
            self.call("DELETE", f"/v1/keys/{quote(key, safe='')}")
        except NotFound:
            raise NotFound(f"key: '{key}' is not a live key (see usagelens keys list)") from None

    def write_events_many(self, batches: list[pa.Table]) -> list[WriteResult]:
        """Each batch in its own requests, in order: through a server, a request is the unit
        written all or nothing."""
        return [self.write_events(b) for b in batches]

    def write_events_stream(self, batches: Iterable[pa.Table]) -> WriteResult:
        """Read the whole stream, then send it as ``write_events`` sends one table (requests of
        10,000 events, each atomic on the server): a server cannot make several requests one
        transaction, so reading first is what keeps an exception of the stream (an invalid record
        of the file) from sending anything. Holds the stream's rows in memory meanwhile."""
        import pyarrow as pa

        from usagelens.model import EVENT_SCHEMA

        held = list(batches)
        return self.write_events(pa.concat_tables(held) if held else EVENT_SCHEMA.empty_table())

    def void_events(
        self, team_id: str, ids: list[str], *, reason: str, by: str, replacements: pa.Table | None = None
    ) -> VoidResult:
        """``POST /v1/usage-events/void``: one atomic request (``by`` is the server's decision,
        from the key)."""
        from usagelens.model import EVENT_FIELDS, VoidResult, WriteResult

        names = {f.column: f.name for f in EVENT_FIELDS}
        rows = [] if replacements is None else replacements.to_pylist()
        body = {
            "teamId": team_id,
            "ids": ids,
            "reason": reason,
            "replacements": [{names[k]: _json_value(v) for k, v in r.items() if v is not None} for r in rows],
        }
        got = self.call("POST", "/v1/usage-events/void", json=body).json()
        done = got["replacements"]
        return VoidResult(
            tuple(got["voided"]), tuple(got["alreadyVoided"]), WriteResult(done["written"], done["duplicates"])
        )

    def put_voids(self, rows: pa.Table) -> int:
        """Void records are copied store to store (``usagelens migrate``), not through a server."""
        raise Unavailable("void records are copied between stores with usagelens migrate, not through a server")

    def warm(self) -> None:
        """Nothing to load here: the server prepares its own writes."""

    def maintain(self) -> None:
        """Nothing to do here: the server compacts its rollups in the background."""

    def close(self) -> None:
        self._http.close()


def remote_from_env(url: str | None, key: str | None = None) -> RemoteLedger | None:
    """A ``RemoteLedger`` when ``url`` (or ``$USAGELENS_URL``) is set, with ``key`` (else
    ``$USAGELENS_KEY``), ``key:secret``."""
    url = url or os.environ.get("USAGELENS_URL")
    return RemoteLedger(url, key or os.environ.get("USAGELENS_KEY")) if url else None
