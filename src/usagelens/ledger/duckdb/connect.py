"""Opening and closing a DuckDB store: the connection, the schema version, safe release.

Callers can rely on: ``connect`` turns a lock held by another process into one ``Unavailable``
sentence naming it and how to go on (``IN_USE_FIX``: stop it, or go through the server with
``--url``); ``check_schema`` upgrades a store of the previous schema version in place (one
transaction) or refuses with a sentence saying what to do; ``Resources.release`` waits for a
running background compaction before closing the connection (closing under it, or leaving it
running at interpreter exit, aborted the process).
"""

from __future__ import annotations

import logging
import os
import re
import secrets
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import duckdb

from usagelens.errors import InvalidArgument, Unavailable
from usagelens.ledger.duckdb import sql as q
from usagelens.ledger.duckdb.entities import migrate_sql
from usagelens.model import ENTITY_KINDS

__all__ = [
    "IN_USE_FIX",
    "MEMORY_DEFAULT",
    "MIGRATES_FROM",
    "Resources",
    "change_keys",
    "check_schema",
    "connect",
    "dicts",
    "roomy",
]

log = logging.getLogger("usagelens.ledger")
#: Stores of this schema version are upgraded in place when opened read-write.
MIGRATES_FROM = "5"
#: What to do when another process holds the store: DuckDB lets no other process open it at all.
IN_USE_FIX = (
    "stop it, or, if it is usagelens serve, run the command through it with --url http://HOST:PORT "
    "(or USAGELENS_URL) and an admin key --key key:secret (or USAGELENS_KEY); "
    "usage, ingest, stats, keys, teams, mcp, void, export and backup accept --url"
)


#: DuckDB's memory limit while the store answers (``USAGELENS_DUCKDB_MEMORY``): its buffer pool
#: otherwise keeps every block a scan read, up to 80% of the machine (a 100M-event store held
#: 830 MB after one scan of its events). Bulk writes and ``maintain`` lift it (``roomy``).
MEMORY_DEFAULT = "512MB"
_MEMORY_ENV = "USAGELENS_DUCKDB_MEMORY"


def _memory_limit() -> str:
    return os.environ.get(_MEMORY_ENV, "").strip() or MEMORY_DEFAULT


def _limit(con: duckdb.DuckDBPyConnection) -> None:
    value = _memory_limit()
    try:
        con.execute(f"SET memory_limit = {q.quote(value)}")
    except duckdb.Error:
        raise InvalidArgument(
            f"{_MEMORY_ENV}: '{value[:40]}' is not a memory size; set it to e.g. 512MB or 4GB, or unset it.",
            field=_MEMORY_ENV,
        ) from None


@contextmanager
def roomy(con: duckdb.DuckDBPyConnection, location: str) -> Iterator[None]:
    """DuckDB's own memory limit (80% of the machine) for a bulk write or a merge, then back to
    ``USAGELENS_DUCKDB_MEMORY`` (1M events ingested at ~230k events/s under 512 MB, ~380k
    without a limit: its aggregation spills). ``location`` is the store's path (``:memory:``
    is never limited)."""
    con.execute("RESET memory_limit")
    try:
        yield
    finally:
        if location != ":memory:":
            _limit(con)


def connect(path: str, read_only: bool) -> duckdb.DuckDBPyConnection:
    """A connection to the store at ``path``, DuckDB's memory limited (``USAGELENS_DUCKDB_MEMORY``);
    ``Unavailable`` when it cannot be opened, ``InvalidArgument`` for a bad limit."""
    try:
        con = duckdb.connect(path, read_only=read_only)
    except duckdb.IOException as e:
        m = re.search(r"held in (\S+) \(PID (\d+)\)", str(e))
        if m:
            raise Unavailable(
                f"the store {path} is in use by another process (PID {m.group(2)}, {Path(m.group(1)).name}); "
                + IN_USE_FIX
            ) from None
        raise Unavailable(f"cannot open the store {path}: {e}") from None
    try:
        if path != ":memory:":  # an in-memory store's data lives in that memory: no limit
            _limit(con)
    except InvalidArgument:
        con.close()
        raise
    return con


def check_schema(con: duckdb.DuckDBPyConnection, location: str, read_only: bool) -> None:
    """Accept a new or current store, upgrade a schema-5 one, refuse any other version."""
    tables = {r[0] for r in con.execute("SELECT table_name FROM duckdb_tables()").fetchall()}
    if "meta" not in tables:
        return
    rows = con.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchall()
    found = rows[0][0] if rows else None
    if found is None or found == q.SCHEMA_VERSION:
        return
    if found == MIGRATES_FROM and not read_only:
        _migrate(con, location)
        return
    fix = (
        "open it once without read-only to upgrade it"
        if found == MIGRATES_FROM
        else "export its events and ingest them into a new store"
    )
    raise Unavailable(
        f"the store {location} has schema version {found}, this usagelens needs {q.SCHEMA_VERSION}; {fix}"
    )


def _migrate(con: duckdb.DuckDBPyConnection, location: str) -> None:
    """Schema 5 → 6: entities gain an owner; every stored name becomes the shared default."""
    con.execute("BEGIN")
    try:
        for kind in ENTITY_KINDS:
            for stmt in migrate_sql(kind):
                con.execute(stmt)
        con.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'", [q.SCHEMA_VERSION])
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
    log.info("upgraded %s to schema version %s (per-team entities)", location, q.SCHEMA_VERSION)


class Resources:
    """What a ledger must release, held apart from it so that a finalizer can reach it."""

    def __init__(self, con: duckdb.DuckDBPyConnection) -> None:
        self.con = con
        self.compaction: threading.Thread | None = None

    def release(self) -> None:
        """Wait for a running compaction, then close the connection (called once)."""
        if self.compaction is not None:
            self.compaction.join()
        self.con.close()


def dicts(con: duckdb.DuckDBPyConnection, sql: str, params: dict[str, object]) -> list[dict[str, Any]]:
    """The rows of ``sql`` as dicts keyed by column name (on a cursor of its own)."""
    cur = con.cursor()
    try:
        res = cur.execute(sql, params)
        names = [d[0] for d in res.description]
        return [dict(zip(names, row, strict=True)) for row in res.fetchall()]
    finally:
        cur.close()


def change_keys(con: duckdb.DuckDBPyConnection, sql: str, params: list[Any]) -> int:
    """Run one change of the keys table with a fresh ``keys_token``, in one transaction; the rows
    changed. The caller holds the write lock."""
    cur = con.cursor()
    try:
        cur.execute("BEGIN")
        (n,) = cur.execute(sql, params).fetchall()[0]
        cur.execute(
            "INSERT INTO meta VALUES ('keys_token', ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            [secrets.token_hex(16)],
        )
        cur.execute("COMMIT")
    except BaseException:
        cur.execute("ROLLBACK")
        raise
    finally:
        cur.close()
    return int(n)
