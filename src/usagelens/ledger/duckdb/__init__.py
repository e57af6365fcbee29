"""The DuckDB backend: an embedded file (or ``:memory:``) store."""

from usagelens.ledger.duckdb.store import DuckDBLedger

__all__ = ["DuckDBLedger"]
