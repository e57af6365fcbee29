"""``GET /v1/backup``: a consistent copy of the whole store, streamed back as a DuckDB file.

The snapshot is made on the server (``StoreBackup.backup``, into a temporary directory under
``$TMPDIR``) while ingest goes on, and removed from the disk before the first byte is sent: the
open file is streamed, so nothing is left behind whether the download finishes or not.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import BinaryIO

from fastapi import APIRouter, Request
from fastapi.responses import StreamingResponse
from starlette.concurrency import run_in_threadpool

from usagelens.errors import Forbidden
from usagelens.ledger.base import BackupInfo, StoreBackup
from usagelens.surfaces.http.common import only, service
from usagelens.surfaces.http.docs import ERRORS, READ_ERRORS

__all__ = ["CHUNK", "router"]

router = APIRouter()
#: Bytes per chunk of the streamed file.
CHUNK = 1 << 20
_MEDIA = "application/vnd.duckdb"
_RESPONSES: dict[int | str, dict[str, object]] = {
    200: {"content": {_MEDIA: {"schema": {"type": "string", "format": "binary"}}}, "description": "The backup"},
    400: READ_ERRORS[400],
    **ERRORS,
    409: {**ERRORS[403], "description": "This store is not backed up through usagelens (ClickHouse: its BACKUP)"},
}


def _snapshot(ledger: StoreBackup, directory: str) -> tuple[BackupInfo, BinaryIO]:
    """Make the backup in ``directory`` and open it (the caller removes the directory)."""
    info = ledger.backup(os.path.join(directory, "backup.duckdb"))
    return info, open(info.path, "rb")  # closed by the stream


def _chunks(f: BinaryIO) -> Iterator[bytes]:
    try:
        while chunk := f.read(CHUNK):
            yield chunk
    finally:
        f.close()


@router.get(
    "/v1/backup",
    tags=["usagelens"],
    summary="A consistent copy of the whole store (a DuckDB file)",
    responses=_RESPONSES,
    response_class=StreamingResponse,
)
async def backup(request: Request) -> StreamingResponse:
    """A snapshot of the whole store (events, rollups, entities, keys, voids) taken while ingest
    goes on, as a DuckDB file: every write acknowledged before the request is in it. An admin
    key (or local use without keys) only: it holds every team. `usagelens backup --url` saves
    it and checks it; `usagelens restore` installs it."""
    only(request, ())
    caller = service(request).caller(request)
    if not caller.is_platform:
        raise Forbidden("a backup holds every team's data; it needs an admin key (or local use without keys)")
    directory = tempfile.mkdtemp(prefix="usagelens-backup-")
    try:
        info, f = await run_in_threadpool(_snapshot, service(request).ledger, directory)
    finally:
        shutil.rmtree(directory, ignore_errors=True)  # the open file stays readable until closed
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    headers = {
        "content-length": str(info.bytes),
        "content-disposition": f'attachment; filename="usagelens-backup-{stamp}.duckdb"',
        "x-usagelens-events": str(info.events),
    }
    return StreamingResponse(_chunks(f), media_type=_MEDIA, headers=headers)
