"""Storage backends behind the ``Ledger`` protocol, and the one place that picks one."""

from __future__ import annotations

import os

from usagelens.ledger.base import ActivityQuery, FactQuery, Ledger, StoreStats

__all__ = ["DEFAULT_DB", "ActivityQuery", "FactQuery", "Ledger", "StoreStats", "open_ledger"]

DEFAULT_DB = "usagelens.duckdb"


def open_ledger(path: str | None = None, *, read_only: bool = False) -> Ledger:
    """Open the store at ``path``, else ``$USAGELENS_DB``, else ``./usagelens.duckdb``."""
    from usagelens.ledger.duckdb import DuckDBLedger

    return DuckDBLedger(path or os.environ.get("USAGELENS_DB") or DEFAULT_DB, read_only=read_only)
