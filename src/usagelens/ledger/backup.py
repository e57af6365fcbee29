"""Backups as the surfaces see them: check a backup file, restore one as a store.

A backup is a DuckDB file whatever made it (``StoreBackup.backup`` of a DuckDB store; a ClickHouse
store refuses and names ClickHouse's own ``BACKUP``), so checking and restoring are the DuckDB
backend's (``ledger/duckdb/backup.py``, ``restore.py``); this module is the door to them from
outside ``ledger/``, which never imports a backend itself.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from usagelens.ledger.duckdb.backup import BackupCheck
    from usagelens.ledger.duckdb.restore import RestoreResult

__all__ = ["KEPT_SUFFIX", "check_backup", "restore_backup"]

#: ``restore`` keeps the store it replaces at its path plus this.
KEPT_SUFFIX = ".before-restore"


def check_backup(path: str) -> BackupCheck:
    """Open the backup at ``path`` read-only and check it: a whole usagelens store of this schema
    version, every block readable, every rollup equal to the sums of the raw events, for every
    team. One ``UsageError`` sentence otherwise (``NotFound`` for a missing file)."""
    from usagelens.ledger.duckdb.backup import check_backup as check

    return check(path)


def restore_backup(
    path: str, target: str, *, force: bool = False, progress: Callable[[str], None] | None = None
) -> RestoreResult:
    """Check the backup at ``path``, then install it as the DuckDB store ``target`` atomically,
    keeping a replaced store as ``target + KEPT_SUFFIX``. Refuses (one ``UsageError`` sentence,
    ``target`` unchanged) a bad backup, a target in use by another process, and a target holding
    events or that is not a DuckDB store unless ``force``."""
    from usagelens.ledger.duckdb.restore import restore

    return restore(path, target, force=force, progress=progress)
