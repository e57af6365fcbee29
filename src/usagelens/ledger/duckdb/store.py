"""The embedded DuckDB ledger: raw events, narrow rollups kept in the same transaction, entities.

Callers can rely on: writes are atomic (one transaction per call) and idempotent per
``(team_id, id)``; reads are exact (rollups are only used where their buckets tile the window,
the rest comes from raw events); the object is safe to share between threads (one writer at a
time, a cursor per read); entities are per-team views (``entities.py``). Use it as a
context manager, or call ``close()``; a ledger left open is closed safely when it is garbage
collected or the interpreter exits (a running background compaction is waited for first).
"""

from __future__ import annotations

import itertools
import logging
import threading
import warnings
import weakref
from collections.abc import Callable, Iterable, Iterator
from contextlib import nullcontext
from datetime import UTC, datetime
from typing import Any, TypeVar, cast

import duckdb
import numpy as np
import pyarrow as pa

from usagelens.ledger.base import (
    Activity,
    ActivityQuery,
    EventRow,
    FactQuery,
    KeyRecord,
    StoreStats,
    Team,
)
from usagelens.ledger.duckdb import contents
from usagelens.ledger.duckdb import sql as q
from usagelens.ledger.duckdb.backup import BackupInfo, snapshot
from usagelens.ledger.duckdb.connect import Resources, change_keys, check_schema, connect, dicts, roomy
from usagelens.ledger.duckdb.control import DocsMixin
from usagelens.ledger.duckdb.entities import EntityViews
from usagelens.ledger.duckdb.factreader import FactReader
from usagelens.ledger.duckdb.stats import read_stats
from usagelens.ledger.duckdb.stream import Stream
from usagelens.ledger.duckdb.upkeep import Upkeep
from usagelens.ledger.duckdb.voids import Void, put_voids, read_voids
from usagelens.ledger.duckdb.write import Writer
from usagelens.ledger.shape import split_results
from usagelens.model import EVENT_SCHEMA, VoidResult, WriteResult

__all__ = ["DuckDBLedger"]

log = logging.getLogger("usagelens.ledger")
_VERSIONS = itertools.count(1)
#: Writes of at least this many events run under DuckDB's own memory limit (``connect.roomy``).
_BULK = 100_000
_ACTIVITY_COLUMNS = (
    "time, id, user_id, project_id, action, cu, discount, model_id, job_id, asset_id, collection_id, asset_kind, "
    "nsfw, is_api_key"
)


_T = TypeVar("_T")


class DuckDBLedger(DocsMixin):
    """A ledger in one DuckDB file (or ``:memory:``); a context manager that closes it."""

    backend = "duckdb"
    #: Answers over this store are computed in this process (mostly Python over facts held in
    #: memory): ``service`` computes them one at a time.
    answers_in_process = True
    _VERSIONS = _VERSIONS

    def __init__(self, path: str = ":memory:", *, read_only: bool = False) -> None:
        self.location = path
        self._con = connect(path, read_only)
        self._con.execute("SET TimeZone = 'UTC'")
        # facts() reads Arrow from cursor.execute(): the "extra copy" DuckDB warns about costs
        # less than the .sql() relation path (measured ~0.8 ms per query)
        warnings.filterwarnings("ignore", message="Arrow output on a DB-API result", category=UserWarning)
        self._write_lock = threading.Lock()
        self._writer = Writer(self._con)
        self._res = Resources(self._con)
        # at exit or collection: a compaction thread still running at interpreter shutdown
        # aborted the process (exit 134), so it is joined before the connection is closed
        self._finalizer = weakref.finalize(self, self._res.release)
        self._entities = EntityViews(lambda sql: self._dicts(sql, {}))
        self._upkeep = Upkeep(self._con, path, self._writer, self._write_lock, self._res)
        self._facts = FactReader(self._con, self._writer, lambda: self.version, lambda: self._upkeep.generation)
        #: Unique to this store's current content (across every store of the process): a cache
        #: keyed by it is never stale, even when another store reuses this object's id.
        self.version = next(_VERSIONS)
        try:
            check_schema(self._con, path, read_only)
        except BaseException:
            self.close()
            raise
        if not read_only:
            for stmt in q.schema_sql():
                self._con.execute(stmt)
            self._con.execute(
                "INSERT INTO meta VALUES ('schema_version', ?) ON CONFLICT DO NOTHING",
                [q.SCHEMA_VERSION],
            )

    def __enter__(self) -> DuckDBLedger:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- writes -----------------------------------------------------------------------------

    def write_events(self, batch: pa.Table) -> WriteResult:
        """Store new events of ``batch`` atomically; see ``Ledger.write_events``."""
        return self.write_events_many([batch])[0]

    def write_events_many(self, batches: list[pa.Table]) -> list[WriteResult]:
        """Store several batches in one transaction (a group commit), as if written in order.

        All or nothing for the group; each batch gets its own counts. Used by the HTTP ingest
        endpoint to write concurrent requests together.
        """
        if not batches:
            return []
        batches = [b.select(EVENT_SCHEMA.names).cast(EVENT_SCHEMA) for b in batches]
        combined = pa.concat_tables(batches) if len(batches) > 1 else batches[0]
        if combined.num_rows == 0:
            return [WriteResult(0, 0) for _ in batches]
        bulk = combined.num_rows >= _BULK
        keep = self._locked_write(lambda cur: self._writer.write(cur, combined), bulk=bulk)
        if keep.any():
            written = combined if keep.all() else combined.filter(pa.array(keep))
            self._changed(written.select(["team_id", "project_id", "user_id", "time"]))
        return split_results(batches, keep)

    def write_events_stream(self, batches: Iterable[pa.Table]) -> WriteResult:
        """Store every batch of ``batches`` in one transaction read batch by batch (a file of any
        size in the memory of about two batches); see ``UsageWriter.write_events_stream``.

        The first two batches are read before the write lock is taken (so a ``warm`` running in
        another thread overlaps them); a stream of one batch is written as ``write_events``
        writes it (one large batch into a store whose id set is not loaded is checked by a
        semi-join, ``Writer.write``), a longer one against the id set, loaded once."""
        stream = Stream(batches)
        ahead = stream.peek(2)
        if not ahead:
            return WriteResult(0, 0)

        def write(cur: duckdb.DuckDBPyConnection) -> list[np.ndarray]:
            if ahead == 1:
                return [self._writer.write(cur, next(iter(stream)))]
            return self._writer.write_many(cur, stream)

        masks = self._locked_write(write, bulk=True)
        written = sum(int(m.sum()) for m in masks)
        if written:
            self._changed(stream.written(masks))  # None (a batch written in part): the views reload
        return WriteResult(written, sum(len(m) for m in masks) - written)

    def _locked_write(self, write: Callable[[duckdb.DuckDBPyConnection], _T], *, bulk: bool) -> _T:
        """``write(cursor)`` under the write lock (and DuckDB's lifted memory limit when ``bulk``);
        a failure drops the writer's cached state (the database is the truth)."""
        with self._write_lock, roomy(self._con, self.location) if bulk else nullcontext():
            cur = self._con.cursor()
            try:
                return write(cur)
            except BaseException:
                self._writer.forget()
                raise
            finally:
                cur.close()

    def void_events(
        self, team_id: str, ids: list[str], *, reason: str, by: str, replacements: pa.Table | None = None
    ) -> VoidResult:
        """Void events by id, with replacements, in one transaction; see ``Ledger.void_events``."""
        if replacements is not None:
            replacements = replacements.select(EVENT_SCHEMA.names).cast(EVENT_SCHEMA)
        record = Void(reason, by, datetime.now(UTC).replace(tzinfo=None), replacements)
        with self._write_lock:
            cur = self._con.cursor()
            try:
                plan = self._writer.void(cur, team_id, ids, record)
            except BaseException:
                self._writer.forget()
                raise
            finally:
                cur.close()
        if plan.voided or plan.kept.any():
            self._changed()
        written = int(plan.kept.sum())
        n = 0 if replacements is None else replacements.num_rows
        return VoidResult(tuple(plan.voided), tuple(plan.already), WriteResult(written, n - written))

    def put_voids(self, rows: pa.Table) -> int:
        """Store void records as they are (copies); see ``Ledger.put_voids``."""
        with self._write_lock:
            cur = self._con.cursor()
            try:
                n = put_voids(cur, rows)
            finally:
                cur.close()
            self._writer.forget_ids()
        if n:
            self._changed()
        return n

    def voids(self, team: str | None = None) -> pa.Table:
        """The audit trail of voids; see ``StoreContents.voids``."""
        cur = self._con.cursor()
        try:
            return read_voids(cur, team)
        finally:
            cur.close()

    def _changed(self, written: pa.Table | None = None) -> None:
        """After a write: ``written`` new events only (the entity views update what they hold),
        else anything (voids: first events and identities may have gone; they reload)."""
        if written is None:
            self._entities.invalidate()
        else:
            self._entities.events_written(written)
        self.version = next(_VERSIONS)
        self._upkeep.after_write()

    def warm(self) -> None:
        """Load what writes need (the stored id hashes) ahead of a write; safe in a thread."""
        with self._write_lock:
            cur = self._con.cursor()
            try:
                self._writer.keys(cur)
            finally:
                cur.close()

    def cache_token(self) -> int:
        """This process's write version: it changes with every write through this ledger (the
        file has one writer, so no other process changes what it answers)."""
        return self.version

    def maintain(self) -> None:
        """Compact, then merge the main rollup tables (``upkeep.Upkeep.maintain``)."""
        self._upkeep.maintain()

    def compact(self) -> None:
        """Move every rollup row appended since the last compaction into the main tables."""
        self._upkeep.compact()

    def upsert_entities(self, kind: str, batch: pa.Table, team: str | None = None) -> int:
        """Write ``team``'s view of entities of ``kind`` (None: the shared default every team
        falls back to); the last record of a repeated id wins. See ``Ledger.upsert_entities``."""
        with self._write_lock:
            cur = self._con.cursor()
            try:
                written = self._entities.upsert(cur, kind, batch, team)
                self.version = next(_VERSIONS)
            finally:
                cur.close()
        return written

    # -- reads ------------------------------------------------------------------------------

    def facts(self, query: FactQuery) -> pa.Table:
        """Grouped sums over the window; see ``Ledger.facts`` (``factreader.py``)."""
        return self._facts.facts(query)

    def facts_many(self, queries: list[FactQuery]) -> list[pa.Table]:
        """``facts`` of several queries, in order, side by side where that pays."""
        return self._facts.facts_many(queries)

    def activity(self, query: ActivityQuery) -> list[EventRow]:
        """One page of events, newest first; see ``Ledger.activity``."""
        params: dict[str, object] = {"start": query.start, "end": query.end}
        where = q.filters_sql(query, "events", params)
        sql = (
            f"SELECT {_ACTIVITY_COLUMNS} FROM events WHERE {where} AND time >= $start "
            f"AND time < $end ORDER BY time DESC, id DESC LIMIT {int(query.limit)} "
            f"OFFSET {int(query.offset)}"
        )
        return cast(list[EventRow], self._dicts(sql, params))  # _ACTIVITY_COLUMNS are EventRow's

    def entities(self, kind: str, ids: list[str], team: str | None) -> list[dict[str, Any]]:
        """``team``'s view of the entities of ``kind`` among ``ids``, sorted by id; see
        ``Ledger.entities``. Users, models and projects are served from memory."""
        return self._entities.lookup(kind, ids, team)

    def teams(self) -> list[Team]:
        """Every team with its projects, each in that team's view, sorted by id (kept in
        memory between writes)."""
        return self._entities.teams()

    def team_activity(self) -> dict[str, Activity]:
        """Identities seen and first events per team and project; see ``Ledger.team_activity``."""
        return self._entities.team_activity()

    def stats(self) -> StoreStats:
        """Counts of what the store holds."""
        cur = self._con.cursor()
        try:
            return read_stats(cur, self.backend, self.location)
        finally:
            cur.close()

    def events(
        self, team: str | None = None, start: datetime | None = None, end: datetime | None = None
    ) -> Iterator[pa.Table]:
        """Stored events in batches; see ``StoreContents.events``."""
        return contents.events(self._con, team, start, end)

    def entity_rows(self, kind: str) -> pa.Table:
        """Every stored row of ``kind`` with its owner; see ``StoreContents.entity_rows``."""
        return contents.entity_rows(self._con, kind)

    def meta_items(self) -> dict[str, str]:
        """Every value of the ``meta`` table."""
        return {r["key"]: r["value"] for r in self._dicts("SELECT key, value FROM meta ORDER BY key", {})}

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

    def put_key(self, record: KeyRecord) -> None:
        """Store an API key record (and a new ``keys_token``, in the same transaction)."""
        cols = ", ".join(record)
        marks = ", ".join("?" * len(record))
        self._key_change(f"INSERT INTO api_keys ({cols}) VALUES ({marks})", list(record.values()))

    def api_keys(self) -> list[KeyRecord]:
        """Every API key record, oldest first."""
        return cast(list[KeyRecord], self._dicts("SELECT * FROM api_keys ORDER BY created_at, key_id", {}))

    def keys_token(self) -> str:
        """A value that changes whenever a key is created or revoked (kept in ``meta``)."""
        rows = self._dicts("SELECT value FROM meta WHERE key = 'keys_token'", {})
        return rows[0]["value"] if rows else ""

    def revoke_key(self, key_id: str, when: datetime) -> bool:
        """Mark a live key revoked (and store a new ``keys_token``, in the same transaction)."""
        sql = "UPDATE api_keys SET revoked_at = ? WHERE key_id = ? AND revoked_at IS NULL"
        return self._key_change(sql, [when, key_id]) > 0

    def _key_change(self, sql: str, params: list[Any]) -> int:
        with self._write_lock:
            return change_keys(self._con, sql, params)

    def _dicts(self, sql: str, params: dict[str, object]) -> list[dict[str, Any]]:
        return dicts(self._con, sql, params)

    def close(self) -> None:
        """Wait for a running compaction, then close the file (a second call does nothing)."""
        self._finalizer()

    def backup(self, path: str) -> BackupInfo:
        """A consistent copy of the store in the new file ``path`` while it serves (writers wait
        for a file's checkpoint and copy: 0.1–1 s at 1M events); see ``StoreBackup.backup``."""
        return snapshot(self._con, self.location, self._write_lock, path)
