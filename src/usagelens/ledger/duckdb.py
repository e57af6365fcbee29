"""The embedded DuckDB ledger: raw events, narrow rollups kept in the same transaction, entities.

Callers can rely on: writes are atomic (one transaction per call) and idempotent per
``(team_id, id)``; reads are exact (rollups are only used where their buckets tile the window,
the rest comes from raw events); the object is safe to share between threads (one writer at a
time, a cursor per read).
"""

from __future__ import annotations

import itertools
import logging
import re
import threading
import warnings
from datetime import datetime
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from usagelens.errors import Unavailable
from usagelens.ledger import duckdb_facts
from usagelens.ledger import duckdb_sql as q
from usagelens.ledger.base import ActivityQuery, FactQuery, StoreStats
from usagelens.ledger.duckdb_write import Writer
from usagelens.ledger.plan import Piece, choose_rollup, tile
from usagelens.ledger.stats import read_stats
from usagelens.model import CU_TYPE, ENTITY_SCHEMAS, EVENT_SCHEMA, WriteResult

__all__ = ["DuckDBLedger"]

_BUCKETS = pa.schema([("grain", pa.uint8()), ("bucket", pa.timestamp("us")), ("label", pa.timestamp("us"))])
log = logging.getLogger("usagelens.ledger")
_CACHED = ("users", "models", "projects")
_VERSIONS = itertools.count(1)
_ACTIVITY_COLUMNS = (
    "time, id, user_id, project_id, action, cu, discount, model_id, job_id, asset_id, collection_id, asset_kind, "
    "nsfw, is_api_key"
)


def _connect(path: str, read_only: bool) -> duckdb.DuckDBPyConnection:
    try:
        return duckdb.connect(path, read_only=read_only)
    except duckdb.IOException as e:
        m = re.search(r"held in (\S+) \(PID (\d+)\)", str(e))
        if m:
            raise Unavailable(
                f"the store {path} is in use by another process (PID {m.group(2)}, "
                f"{Path(m.group(1)).name}); stop it, or set USAGELENS_URL to talk to it"
            ) from None
        raise Unavailable(f"cannot open the store {path}: {e}") from None


def _with_defaults(batch: pa.Table) -> pa.Table:
    """Absent CU, discount and API-key flag mean 0, 0 and false (CONTRACT §1)."""
    zero = pa.scalar(0, CU_TYPE)
    for name, default in (("cu", zero), ("discount", zero), ("is_api_key", pa.scalar(False))):
        col = batch[name]
        if col.null_count:
            batch = batch.set_column(batch.schema.get_field_index(name), name, pc.fill_null(col, default))
    return batch


class DuckDBLedger:
    """A ledger in one DuckDB file (or ``:memory:``)."""

    backend = "duckdb"

    def __init__(self, path: str = ":memory:", *, read_only: bool = False) -> None:
        self.location = path
        self._con = _connect(path, read_only)
        self._con.execute("SET TimeZone = 'UTC'")
        # facts() reads Arrow from cursor.execute(): the "extra copy" DuckDB warns about costs
        # less than the .sql() relation path (measured ~0.8 ms per query)
        warnings.filterwarnings("ignore", message="Arrow output on a DB-API result", category=UserWarning)
        self._write_lock = threading.Lock()
        self._writer = Writer(self._con)
        self._compaction: threading.Thread | None = None
        self._compaction_lock = threading.Lock()
        self._cache: dict[str, dict[str, dict[str, Any]]] = {}
        self._teams: list[dict[str, Any]] | None = None
        #: Unique to this store's current content (across every store of the process): a cache
        #: keyed by it is never stale, even when another store reuses this object's id.
        self.version = next(_VERSIONS)
        self._check_version()
        if not read_only:
            for stmt in q.schema_sql():
                self._con.execute(stmt)
            self._con.execute(
                "INSERT INTO meta VALUES ('schema_version', ?) ON CONFLICT DO NOTHING",
                [q.SCHEMA_VERSION],
            )

    def _check_version(self) -> None:
        tables = {r[0] for r in self._con.execute("SELECT table_name FROM duckdb_tables()").fetchall()}
        if "meta" not in tables:
            return
        row = self._con.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchall()[0]
        if row and row[0] != q.SCHEMA_VERSION:
            self._con.close()
            raise Unavailable(
                f"the store {self.location} has schema version {row[0]}, this usagelens needs "
                f"{q.SCHEMA_VERSION}; export its events and ingest them into a new store"
            )

    # -- writes -----------------------------------------------------------------------------

    def write_events(self, batch: pa.Table) -> WriteResult:
        """Store new events of ``batch`` atomically; see ``Ledger.write_events``."""
        return self.write_events_many([batch])[0]

    def write_events_many(self, batches: list[pa.Table]) -> list[WriteResult]:
        """Store several batches in one transaction (a group commit), as if written in order.

        All or nothing for the group; each batch gets its own counts. Used by the HTTP ingest
        endpoint to write concurrent requests together.
        """
        batches = [_with_defaults(b.select(EVENT_SCHEMA.names).cast(EVENT_SCHEMA)) for b in batches]
        combined = pa.concat_tables(batches) if len(batches) > 1 else batches[0]
        if combined.num_rows == 0:
            return [WriteResult(0, 0) for _ in batches]
        with self._write_lock:
            cur = self._con.cursor()
            try:
                keep = self._writer.write(cur, combined)
            except BaseException:
                self._writer.forget()
                raise
            finally:
                cur.close()
        if keep.any():
            self._teams = None  # new teams or projects may have appeared
            self.version = next(_VERSIONS)
            if self._writer.wants_compaction():
                self._compact_soon()
        results, start = [], 0
        for b in batches:
            written = int(keep[start : start + b.num_rows].sum())
            results.append(WriteResult(written, b.num_rows - written))
            start += b.num_rows
        return results

    def _compact_soon(self) -> None:
        """Compact in a background thread: writes return as soon as they are durable (their
        rollup rows already answer queries from ``rollups_recent``); the move into the sorted
        main tables only makes later queries cheaper. Writes wait for it (one writer)."""
        with self._compaction_lock:
            if self._compaction is not None and self._compaction.is_alive():
                return
            self._compaction = threading.Thread(target=self._compact_quietly, name="usagelens-compact", daemon=True)
            self._compaction.start()

    def _compact_quietly(self) -> None:
        try:
            with self._write_lock:
                cur = self._con.cursor()
                try:
                    self._writer.compact(cur, force=False)
                finally:
                    cur.close()
        except Exception:  # the rows stay in rollups_recent: answers remain exact
            log.exception("background compaction failed; it will be retried after the next write")
            self._writer.forget()

    def warm(self) -> None:
        """Load what writes need (the stored id hashes) ahead of a write; safe in a thread."""
        with self._write_lock:
            cur = self._con.cursor()
            try:
                self._writer.keys(cur)
            finally:
                cur.close()

    def compact(self) -> None:
        """Merge every rollup row appended since the last compaction with its older twins."""
        with self._write_lock:
            cur = self._con.cursor()
            try:
                self._writer.compact(cur, force=True)
            finally:
                cur.close()

    def upsert_entities(self, kind: str, batch: pa.Table) -> int:
        """Insert or replace entities of ``kind``; the last record of a repeated id wins."""
        schema = ENTITY_SCHEMAS[kind]
        batch = batch.select(schema.names).cast(schema)
        with self._write_lock:
            cur = self._con.cursor()
            try:
                cur.register("_ent", batch)
                cur.execute("BEGIN")
                cur.execute(q.entity_upsert_sql(kind, "_ent"))
                cur.execute("COMMIT")
                self._cache.pop(kind, None)
                self._teams = None
                self.version = next(_VERSIONS)
            except BaseException:
                cur.execute("ROLLBACK")
                raise
            finally:
                cur.close()
        return batch.num_rows

    # -- reads ------------------------------------------------------------------------------

    def facts(self, query: FactQuery) -> pa.Table:
        """Grouped sums over the window; see ``Ledger.facts``."""
        dims = set(query.by) | ({"user_id"} if query.user_ids is not None else set())
        dims |= {"model_id"} if query.model_ids is not None else set()
        rollup = choose_rollup(dims)
        grains = rollup.grains if rollup else ()
        day_tz = query.timezone if "day" in query.by else None
        pieces = tile(query.start, query.end, grains, day_tz, query.per)
        if not pieces:
            pieces = [Piece(None, query.start, query.start, query.start if day_tz else None)]
        cur = self._con.cursor()
        try:
            sql, params, tables = duckdb_facts.fact_sql(query, rollup, pieces, self._writer.recent_rows(cur) > 0)
            for name, table in tables.items():
                cur.register(name, table)
            rows = cur.execute(sql, params).to_arrow_table()
            keys = (["day"] if "day" in query.by else []) + [d for d in query.by if d != "day"]
            return duckdb_facts.split_api(rows, keys)
        finally:
            cur.close()

    def activity(self, query: ActivityQuery) -> list[dict[str, Any]]:
        """One page of events, newest first; see ``Ledger.activity``."""
        params: dict[str, object] = {"start": query.start, "end": query.end}
        where = q.filters_sql(query, "events", params)
        sql = (
            f"SELECT {_ACTIVITY_COLUMNS} FROM events WHERE {where} AND time >= $start "
            f"AND time < $end ORDER BY time DESC, id DESC LIMIT {int(query.limit)} "
            f"OFFSET {int(query.offset)}"
        )
        return self._dicts(sql, params)

    def entities(self, kind: str, ids: list[str]) -> list[dict[str, Any]]:
        """Stored entities of ``kind`` among ``ids``, sorted by id.

        Users, models and projects (small tables every answer names) are served from a copy
        in memory, refreshed after each upsert of that kind.
        """
        cols = ", ".join(ENTITY_SCHEMAS[kind].names)
        if kind in _CACHED:
            cache = self._cache.get(kind)
            if cache is None:
                rows = self._dicts(f"SELECT {cols} FROM {kind}", {})
                cache = self._cache[kind] = {r["id"]: r for r in rows}
            return [cache[i] for i in sorted(set(ids)) if i in cache]
        quoted = ", ".join(q.quote(i) for i in ids) or "NULL"
        return self._dicts(f"SELECT {cols} FROM {kind} WHERE id IN ({quoted}) ORDER BY id", {})

    def teams(self) -> list[dict[str, Any]]:
        """Every team with its projects, sorted by id (kept in memory between writes)."""
        if self._teams is None:
            self._teams = self._dicts(
                "SELECT t.id, t.name, coalesce(list({'id': p.id, 'name': p.name} ORDER BY p.id) "
                "FILTER (WHERE p.id IS NOT NULL), []) AS projects FROM teams t "
                "LEFT JOIN projects p ON p.team_id = t.id GROUP BY t.id, t.name ORDER BY t.id",
                {},
            )
        return self._teams

    def stats(self) -> StoreStats:
        """Counts of what the store holds."""
        cur = self._con.cursor()
        try:
            return read_stats(cur, self.backend, self.location)
        finally:
            cur.close()

    def get_meta(self, key: str) -> str | None:
        """The value stored under ``key`` in the ``meta`` table, or None."""
        rows = self._dicts("SELECT value FROM meta WHERE key = $key", {"key": key})
        return rows[0]["value"] if rows else None

    def set_meta(self, key: str, value: str) -> None:
        """Store ``value`` under ``key`` (one statement: atomic)."""
        with self._write_lock:
            self._con.cursor().execute(
                "INSERT INTO meta VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value", [key, value]
            ).close()

    def put_key(self, record: dict[str, Any]) -> None:
        """Store an API key record."""
        cols = ", ".join(record)
        with self._write_lock:
            self._con.cursor().execute(
                f"INSERT INTO api_keys ({cols}) VALUES ({', '.join('?' * len(record))})", list(record.values())
            ).close()

    def api_keys(self) -> list[dict[str, Any]]:
        """Every API key record, oldest first."""
        return self._dicts("SELECT * FROM api_keys ORDER BY created_at, key_id", {})

    def revoke_key(self, key_id: str, when: datetime) -> bool:
        """Mark a live key revoked."""
        with self._write_lock:
            cur = self._con.cursor()
            try:
                (n,) = cur.execute(
                    "UPDATE api_keys SET revoked_at = ? WHERE key_id = ? AND revoked_at IS NULL", [when, key_id]
                ).fetchall()[0]
            finally:
                cur.close()
        return n > 0

    def _dicts(self, sql: str, params: dict[str, object]) -> list[dict[str, Any]]:
        cur = self._con.cursor()
        try:
            res = cur.execute(sql, params)
            names = [d[0] for d in res.description]
            return [dict(zip(names, row, strict=True)) for row in res.fetchall()]
        finally:
            cur.close()

    def close(self) -> None:
        """Wait for a running compaction, then close the file."""
        if self._compaction is not None:
            self._compaction.join()
        self._con.close()
