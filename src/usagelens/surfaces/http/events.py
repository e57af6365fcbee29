"""Export endpoints: ``GET /v1/usage-events`` (a team's events as JSONL, CSV or Parquet) and
``GET /v1/entities/{kind}`` (the team's view of one kind of entity), the files ``usagelens ingest``
reads back (``usagelens.export`` holds the rules).

Callers can rely on: everything that can be refused (parameters, key, team, window) is refused
before the first byte, with the one JSON error shape, and a team the key cannot see is answered
exactly as a team that does not exist; JSONL and CSV stream as they are read (one batch of at
most 100,000 events in memory), Parquet is built whole in a temporary file (spilled to disk past
16 MiB) and then sent. ``X-Total-Count`` carries the number of events the store holds for the
request when the answer starts (for progress bars; the body is what counts). A failure after the
first byte cuts the response short (the chunked body never ends properly), so a client cannot
take a partial export for a whole one.
"""

from __future__ import annotations

import re
import tempfile
from collections.abc import Iterator
from itertools import chain
from typing import IO, Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response, StreamingResponse

from usagelens.export import (
    MEDIA_TYPES,
    EventExport,
    entity_chunks,
    entity_kind,
    entity_table,
    export_scope,
    export_window,
    write_entities,
)
from usagelens.ingest.export import export_format
from usagelens.surfaces.http.common import only, reader, service
from usagelens.surfaces.http.docs import READ_ERRORS

__all__ = ["router"]

router = APIRouter()
_EVENT_PARAMS = ("teamId", "start", "end", "format")
_ENTITY_PARAMS = ("teamId", "format")
_SPOOL = 16 << 20  # bytes of a Parquet file kept in memory before it goes to disk
_READ = 1 << 20
_FILES = {
    200: {
        "description": "The file: JSONL (default), CSV or Parquet",
        "content": {media: {"schema": {"type": "string", "format": "binary"}} for media in MEDIA_TYPES.values()},
    },
    **READ_ERRORS,
}
TeamId = Annotated[
    str | None,
    Query(alias="teamId", description="The team (required when the key can see several teams)."),
]
Format = Annotated[str | None, Query(description="jsonl (default), csv or parquet.")]


def _filename(team: str, what: str, fmt: str) -> str:
    """A safe attachment name (ASCII letters, digits, ``.``, ``_`` and ``-`` only)."""
    return f'attachment; filename="{re.sub(r"[^A-Za-z0-9._-]", "_", team)[:80]}-{what}.{fmt}"'


def _spooled(write: Any) -> Iterator[bytes]:
    """Build the whole file with ``write(sink)`` now, then yield it in pieces."""
    spool: IO[bytes] = tempfile.SpooledTemporaryFile(max_size=_SPOOL)  # noqa: SIM115 (closed by the generator)
    try:
        write(spool)
        spool.seek(0)
    except BaseException:
        spool.close()
        raise

    def pieces() -> Iterator[bytes]:
        with spool:
            while block := spool.read(_READ):
                yield block

    return pieces()


def _primed(chunks: Iterator[bytes]) -> Iterator[bytes]:
    """``chunks`` with its first chunk produced now, so that a failure to start is an error answer."""
    first = next(chunks, None)
    return chain([first] if first is not None else [], chunks)


def _stream(chunks: Iterator[bytes], fmt: str, disposition: str, total: int | None = None) -> Response:
    headers = {"Content-Disposition": disposition}
    if total is not None:
        headers["X-Total-Count"] = str(total)
    return StreamingResponse(chunks, media_type=MEDIA_TYPES[fmt], headers=headers)


@router.get(
    "/v1/usage-events",
    tags=["usagelens"],
    summary="Export a team's events (JSONL, CSV or Parquet)",
    responses=_FILES,
    response_class=StreamingResponse,
)
def export_events(
    request: Request,
    team_id: TeamId = None,
    start: Annotated[
        str | None, Query(description="First day (YYYY-MM-DD, 00:00 UTC) or instant; default: the first event.")
    ] = None,
    end: Annotated[
        str | None,
        Query(description="Last day, included (YYYY-MM-DD), or the instant the export stops (exclusive)."),
    ] = None,
    format: Format = None,
) -> Response:
    """The team's events in `[start, end)`, ordered by time then id, with the fields of CONTRACT §1:
    what `POST /v1/usage-events` and `usagelens ingest` take back. A project key gets its project's
    events only; an ingest key 403."""
    only(request, _EVENT_PARAMS)
    caller = reader(request)
    fmt = export_format("jsonl" if format is None else format, None, "format")
    lo, hi = export_window(start, end)
    ledger = service(request).ledger
    scope = export_scope(ledger, caller, team_id, "teamId")
    job = EventExport(ledger, scope, lo, hi)
    total = job.total()
    disposition = _filename(scope.team_id, "events", fmt)
    if fmt == "parquet":
        return _stream(_spooled(lambda sink: job.write(fmt, sink)), fmt, disposition, total)
    return _stream(_primed(job.chunks(fmt)), fmt, disposition, total)


@router.get(
    "/v1/entities/{kind}",
    tags=["usagelens"],
    summary="Export the team's names of one kind of entity",
    responses=_FILES,
    response_class=StreamingResponse,
)
def export_entities(request: Request, kind: str, team_id: TeamId = None, format: Format = None) -> Response:
    """The team's view of `kind` (teams, projects, users, models, jobs, assets): its own record of
    each id over the shared default, for the ids its events reference and those it named itself;
    what `PUT /v1/entities/{kind}` and `usagelens ingest --entity KIND` take back."""
    only(request, _ENTITY_PARAMS)
    caller = reader(request)
    entity_kind(kind)
    fmt = export_format("jsonl" if format is None else format, None, "format")
    ledger = service(request).ledger
    scope = export_scope(ledger, caller, team_id, "teamId")
    rows = entity_table(ledger, scope, kind)
    disposition = _filename(scope.team_id, kind, fmt)
    if fmt == "parquet":
        return _stream(_spooled(lambda sink: write_entities(rows, kind, fmt, sink)), fmt, disposition)
    return _stream(entity_chunks(rows, kind, fmt), fmt, disposition)
