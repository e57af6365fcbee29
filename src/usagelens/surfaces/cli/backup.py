"""``usagelens backup`` and ``usagelens restore``.

``backup PATH`` writes a consistent copy of the store while it serves: through the server with
``--url`` (``GET /v1/backup``, an admin key), else from the store itself (``--db``, when no
server holds it). The copy is written to a temporary file beside ``PATH``, checked like a restore
checks it, and only then renamed to ``PATH``: ``PATH`` never holds half a backup. ``restore PATH``
checks a backup and installs it as the store (``ledger.backup.restore_backup``).
"""

from __future__ import annotations

import json
import os
import secrets
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Annotated, NoReturn

import typer

from usagelens import errors
from usagelens.errors import Conflict, InvalidArgument, Unavailable, UsageError
from usagelens.ledger import is_clickhouse, open_ledger, store_path
from usagelens.ledger.backup import check_backup, restore_backup
from usagelens.surfaces.cli.console import err, out
from usagelens.surfaces.cli.options import DbOption, KeyOption, UrlOption
from usagelens.surfaces.cli.remote import RemoteLedger, remote_from_env

__all__ = ["backup", "download", "register", "restore"]

_BY_CODE: dict[str, type[UsageError]] = {
    c.code: c for c in (errors.InvalidArgument, errors.Unauthorized, errors.Forbidden, errors.NotFound, Conflict)
}


@contextmanager
def _status(text: str) -> Iterator[Callable[[str], None]]:
    """A one-line status on a terminal's stderr (nothing otherwise); yields a setter."""
    if not err.is_terminal:
        yield lambda _: None
        return
    with err.status(text) as status:
        yield lambda t: status.update(t)


def download(remote: RemoteLedger, path: str, progress: Callable[[str], None] | None = None) -> int:
    """Stream ``GET /v1/backup`` into the new file ``path``; the bytes written. A refusal is the
    server's sentence (its ``UsageError``); a download cut short is ``Unavailable``."""
    written = 0
    try:
        with remote._http.stream("GET", "/v1/backup") as r, open(path, "xb") as f:
            if r.status_code >= 400:
                r.read()
                _raise_refusal(remote.location, r.status_code, r.text)
            expected = int(r.headers.get("content-length", "-1"))
            for chunk in r.iter_bytes(1 << 20):
                f.write(chunk)
                written += len(chunk)
                if progress:
                    progress(f"downloading the backup: {written / 1e6:,.1f} MB")
            f.flush()
            os.fsync(f.fileno())
    except Exception as e:
        if isinstance(e, UsageError):
            raise
        raise Unavailable(f"the backup from {remote.location} did not arrive ({type(e).__name__}: {e})") from None
    if expected >= 0 and written != expected:
        raise Unavailable(f"the backup from {remote.location} stopped after {written:,} of {expected:,} bytes")
    return written


def _raise_refusal(location: str, status: int, text: str) -> NoReturn:
    """The server's error (``{"error": {"code", "message"}}``) as its ``UsageError``."""
    try:
        error = json.loads(text)["error"]
        cls = _BY_CODE.get(error["code"], Unavailable)
        message = str(error["message"])
    except (ValueError, KeyError, TypeError):
        raise Unavailable(f"the server at {location} answered {status}") from None
    raise cls(message)


def backup(
    path: Annotated[str, typer.Argument(help="The backup file to write (a DuckDB file).")],
    force: Annotated[bool, typer.Option(help="Replace PATH when it exists.")] = False,
    db: DbOption = None,
    url: UrlOption = None,
    key: KeyOption = None,
) -> None:
    """Write a consistent copy of the store to PATH while it serves (through the server with --url), then check it."""
    if os.path.isdir(path):
        raise InvalidArgument(f"{path} is a directory; name the backup file to write", field="path")
    if os.path.lexists(path) and not force:
        raise Conflict(f"{path} already exists; pass --force to replace it, or choose another name")
    if not os.path.isdir(os.path.dirname(os.path.abspath(path))):
        raise InvalidArgument(f"the directory of {path} does not exist", field="path")
    tmp = f"{path}.{secrets.token_hex(4)}.partial"
    started = time.perf_counter()
    remote = remote_from_env(url, key)
    try:
        with _status("making the backup") as say:
            if remote:
                download(remote, tmp, say)
            else:
                with open_ledger(db, must_exist=True) as ledger:
                    ledger.backup(tmp)
            say(f"checking {tmp}")
            check = check_backup(tmp)
        os.replace(tmp, path)
    finally:
        if remote:
            remote.close()
        for leftover in (tmp, tmp + ".wal"):
            if os.path.lexists(leftover):
                os.remove(leftover)
    took = time.perf_counter() - started
    out.print(f"backup {path}: {check.summary()}; {took:.1f} s", highlight=False, soft_wrap=True)


def restore(
    path: Annotated[str, typer.Argument(help="The backup file to check and install.")],
    force: Annotated[
        bool, typer.Option(help="Replace a store that holds events (it is kept as STORE.before-restore).")
    ] = False,
    db: DbOption = None,
) -> None:
    """Check a backup and install it as the store (a DuckDB file; stop the server first)."""
    if is_clickhouse(db):
        raise InvalidArgument(
            "--db: restore installs a DuckDB file; to load a backup into ClickHouse use "
            "usagelens migrate --from BACKUP --to URL",
            field="db",
        )
    target = store_path(db)
    if target == ":memory:":
        raise InvalidArgument("--db: :memory: is not a file to restore into; name the store's file", field="db")
    with _status(f"checking {path}") as say:
        result = restore_backup(path, target, force=force, progress=say)
    kept = f"; the previous file is kept as {result.kept}" if result.kept else ""
    out.print(f"restored {target}: {result.check.summary()}{kept}", highlight=False, soft_wrap=True)


def register(app: typer.Typer) -> None:
    """Add ``backup`` and ``restore`` to ``app``."""
    app.command()(backup)
    app.command()(restore)
