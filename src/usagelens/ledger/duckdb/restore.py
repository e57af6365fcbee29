"""Installing a backup as a DuckDB store (``usagelens restore``).

Callers can rely on: the backup is checked (``backup.check_backup``) before anything is touched;
a target held by a running process, or holding events (without ``force``), is refused before the
backup is even read; the new store appears at once (copied to a temporary file in the target's
directory, made durable, then renamed over the target), so the target is either the old store or
the whole backup, never half of one; the previous file is kept as ``TARGET.before-restore``
(with its ``.wal``, if one was left); no write-ahead log of the old store is left beside the new
one (DuckDB would replay it into the backup).
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import duckdb

from usagelens.errors import Conflict, InvalidArgument, Unavailable
from usagelens.ledger.backup import KEPT_SUFFIX
from usagelens.ledger.duckdb.backup import BackupCheck, check_backup

__all__ = ["RestoreResult", "restore"]


@dataclass(frozen=True)
class RestoreResult:
    """What a restore did: the backup's check, the target, and what it replaced."""

    check: BackupCheck
    target: str
    replaced_events: int | None  # events the previous store held (None: no store was there)
    kept: str | None  # where the previous file is kept


def restore(
    backup: str, target: str, *, force: bool = False, progress: Callable[[str], None] | None = None
) -> RestoreResult:
    """Check ``backup`` and install it as the store ``target``; see the module docstring.

    ``progress`` is told each step ("checking …", "installing …") as it starts."""
    say = progress or (lambda _: None)
    if os.path.abspath(backup) == os.path.abspath(target):
        raise InvalidArgument(f"the backup and the target are the same file ({target})", field="db")
    if not os.path.isfile(backup):
        check_backup(backup)  # the sentence for a missing path or a directory
    _events_held(target, force, read_only=True)  # refuse early, changing nothing
    say(f"checking {backup}")
    check = check_backup(backup)
    # again, read-write: a process that only reads the store holds it too; and a write-ahead log
    # left by a crash is folded into the old file (DuckDB checkpoints when it closes)
    held = _events_held(target, force, read_only=False)
    say(f"installing into {target}")
    return RestoreResult(check, target, held, _install(backup, target, check))


def _events_held(target: str, force: bool, read_only: bool) -> int | None:
    """Events the store at ``target`` holds (None: nothing there, 0 for a file that is not a store);
    refuses a store in use, and one with events or that is not a DuckDB store unless ``force``."""
    if not os.path.lexists(target):
        if not os.path.isdir(os.path.dirname(os.path.abspath(target))):
            raise InvalidArgument(f"--db: the directory of {target} does not exist", field="db")
        return None
    if not os.path.isfile(target):
        raise InvalidArgument(f"--db: {target} is not a file", field="db")
    try:
        con = duckdb.connect(target, read_only=read_only)
    except duckdb.Error as e:
        held = re.search(r"held in (\S+) \(PID (\d+)\)", str(e))
        if held:
            raise Unavailable(
                f"the store {target} is in use by a running process (PID {held.group(2)}, "
                f"{Path(held.group(1)).name}); stop the server first, then restore"
            ) from None
        if force:
            return 0
        raise Conflict(
            f"{target} is not a DuckDB store; pass --force to replace it (it is kept as {target}{KEPT_SUFFIX})"
        ) from None
    try:
        has_events = con.execute("SELECT count(*) FROM duckdb_tables() WHERE table_name = 'events'").fetchall()
        events = int(con.execute("SELECT count(*) FROM events").fetchall()[0][0]) if has_events[0][0] else 0
    finally:
        con.close()
    if events and not force:
        raise Conflict(
            f"the store {target} holds {events:,} events; pass --force to replace it with the backup "
            f"(the current file is kept as {target}{KEPT_SUFFIX})"
        )
    return events


def _install(backup: str, target: str, check: BackupCheck) -> str | None:
    """Copy ``backup`` beside ``target``, verify the copy, keep the old file, rename into place."""
    directory = os.path.dirname(os.path.abspath(target))
    tmp = os.path.join(directory, f".{os.path.basename(target)}.{secrets.token_hex(4)}.restore")
    try:
        shutil.copyfile(backup, tmp)  # a new file: the umask's mode, or the replaced store's below
        if os.path.isfile(target):
            shutil.copymode(target, tmp)
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        _same_events(tmp, check)
        kept = _keep_previous(target)
        os.replace(tmp, target)
    except BaseException:
        for leftover in (tmp, tmp + ".wal"):
            if os.path.lexists(leftover):
                os.remove(leftover)
        raise
    _sync_dir(directory)
    return kept


def _same_events(path: str, check: BackupCheck) -> None:
    """The copy opens and holds the events the check counted (a bad copy never replaces a store)."""
    try:
        con = duckdb.connect(path, read_only=True)
        try:
            (events,) = con.execute("SELECT count(*) FROM events").fetchall()[0]
        finally:
            con.close()
    except duckdb.Error as e:
        raise Unavailable(f"the copy of the backup beside the target cannot be read ({e})") from None
    if events != check.events:
        raise Unavailable(f"the copy of the backup holds {events:,} events, the backup {check.events:,}; try again")


def _keep_previous(target: str) -> str | None:
    """Keep the current file (and any ``.wal`` left beside it) as ``TARGET.before-restore``;
    the target itself stays in place until the new file is renamed over it."""
    wal = target + ".wal"
    kept = target + KEPT_SUFFIX
    if not os.path.lexists(target):
        if os.path.lexists(wal):  # a log without its store: never replay it into the backup
            os.replace(wal, kept + ".wal")
        return None
    if os.path.lexists(kept + ".wal"):
        os.remove(kept + ".wal")
    link = kept + ".tmp"
    if os.path.lexists(link):
        os.remove(link)
    try:
        os.link(target, link)
    except OSError:  # a file system without hard links
        shutil.copy2(target, link)
    os.replace(link, kept)
    if os.path.lexists(wal):
        os.replace(wal, kept + ".wal")
    return kept


def _sync_dir(directory: str) -> None:
    """Make the renames durable (where the platform lets a directory be opened)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
