"""A running ``usagelens serve`` seen as a ledger, for the CLI's ``--url`` mode.

DuckDB lets one process open the store; while the server runs, ``usagelens ingest``, ``usage``
and ``stats`` talk to it over HTTP instead (``--url`` or ``USAGELENS_URL``, with
``USAGELENS_KEY=key:secret`` when the store has keys). File ingest still reads and validates
the file locally (same messages), then sends the valid events in batches of 10,000: each batch
is atomic on the server; a file larger than one batch is not.
"""

from __future__ import annotations

import base64
import json
import os
from datetime import datetime
from decimal import Decimal
from typing import Any

import httpx
import pyarrow as pa

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
from usagelens.model import ENTITY_FIELDS, EVENT_FIELDS, WriteResult

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


def _json_value(v: Any) -> Any:
    if isinstance(v, datetime):
        return v.isoformat() + "Z"
    if isinstance(v, Decimal):
        return str(v)
    return v


class RemoteLedger:
    """The subset of ``Ledger`` the CLI needs, served by a running usagelens."""

    def __init__(self, url: str, key: str | None = None, timeout: float = 120) -> None:
        headers = {}
        if key:
            headers["authorization"] = "Basic " + base64.b64encode(key.encode()).decode()
        self.location = url
        self._http = httpx.Client(base_url=url.rstrip("/"), headers=headers, timeout=timeout)

    def call(self, method: str, path: str, **kw: Any) -> httpx.Response:
        """One request; a 4xx/5xx answer becomes the ``UsageError`` it describes (one sentence),
        an unreachable server ``Unavailable``."""
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

    def write_events_many(self, batches: list[pa.Table]) -> list[WriteResult]:
        """Each batch in its own request, in order: through a server, a batch (a request) is the
        unit written all or nothing (``ingest_file`` writes one batch per file)."""
        return [self.write_events(b) for b in batches]

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
