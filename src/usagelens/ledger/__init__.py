"""Storage backends behind the ledger protocols, and the one place that picks one.

A store is named by a path or a URL (``--db`` / ``$USAGELENS_DB``): a bare path or
``duckdb:///path`` is an embedded DuckDB file (``duckdb:///relative.duckdb``,
``duckdb:////absolute/path.duckdb``, as SQLAlchemy spells file URLs; ``:memory:`` for a store that
lives as long as the process); ``clickhouse://``, ``clickhouses://``, ``http(s)://`` and ``chdb://``
URLs are a ClickHouse database (``ledger.clickhouse.connect`` spells them out). ``open_ledger`` is
the only code that reads ``$USAGELENS_DB`` and the only code outside ``ledger/`` that knows a
backend's class.
"""

from __future__ import annotations

import os

from usagelens.errors import InvalidArgument, Unavailable
from usagelens.ledger.base import (
    ActivityQuery,
    ControlStore,
    FactQuery,
    Ledger,
    StoreStats,
    UsageReader,
    UsageWriter,
)
from usagelens.query_parse import shown

__all__ = [
    "DEFAULT_DB",
    "ActivityQuery",
    "ControlStore",
    "FactQuery",
    "Ledger",
    "StoreStats",
    "UsageReader",
    "UsageWriter",
    "is_clickhouse",
    "open_ledger",
    "store_label",
    "store_location",
    "store_path",
]

DEFAULT_DB = "usagelens.duckdb"
_CLICKHOUSE = ("clickhouse://", "clickhouses://", "chdb://", "http://", "https://")


def store_location(url: str | None = None) -> str:
    """The store a command uses, as named: ``url``, else ``$USAGELENS_DB``, else the default file."""
    return url or os.environ.get("USAGELENS_DB") or DEFAULT_DB


def store_path(url: str | None = None) -> str:
    """The DuckDB file (or ``:memory:``) a store name designates; one sentence for any other name."""
    name = store_location(url)
    if name.startswith(_CLICKHOUSE):
        raise InvalidArgument(
            f"--db: '{shown(name.split('://')[0])}://' names a ClickHouse store; this command needs a DuckDB file "
            "(a path or duckdb:///path).",
            field="db",
        )
    if name.startswith("duckdb://"):
        rest = name.removeprefix("duckdb://")
        if not rest.startswith("/") or rest == "/":
            raise InvalidArgument(
                f"--db: '{shown(name)}' is not a DuckDB URL; use duckdb:///relative/path.duckdb, "
                "duckdb:////absolute/path.duckdb or a plain path.",
                field="db",
            )
        return rest[1:]
    return name


def store_label(url: str | None = None) -> str:
    """The store a command uses, for messages: as named, without a ClickHouse URL's password."""
    if is_clickhouse(url):
        from usagelens.ledger.clickhouse import parse_url

        return parse_url(store_location(url)).location
    return store_location(url)


def is_clickhouse(url: str | None = None) -> bool:
    """Whether the store a command uses (``url``, else ``$USAGELENS_DB``) is a ClickHouse one."""
    return store_location(url).startswith(_CLICKHOUSE)


def open_ledger(
    url: str | None = None, *, read_only: bool = False, must_exist: bool = False, cluster: str | None = None
) -> Ledger:
    """Open the store named ``url`` (else ``$USAGELENS_DB``, else ``./usagelens.duckdb``).

    ``must_exist``: refuse (``Unavailable``, naming the path) rather than create a new store.
    ``cluster``: create a ClickHouse schema's tables replicated on that cluster (ClickHouse only)."""
    if is_clickhouse(url):
        from usagelens.ledger.clickhouse import ClickHouseLedger, parse_url

        return ClickHouseLedger(
            parse_url(store_location(url)), read_only=read_only, must_exist=must_exist, cluster=cluster
        )
    if cluster is not None:
        raise InvalidArgument("--cluster: only a ClickHouse store (--db clickhouse://…) has clusters", field="cluster")
    path = store_path(url)
    if must_exist and path != ":memory:" and not os.path.exists(path):
        raise Unavailable(
            f"--db: the store {os.path.abspath(path)} does not exist; pass --db with the path of your "
            "store (or set USAGELENS_DB), or create one with usagelens ingest or usagelens demo"
        )
    from usagelens.ledger.duckdb import DuckDBLedger

    return DuckDBLedger(path, read_only=read_only)
