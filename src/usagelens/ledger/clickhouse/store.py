"""The ClickHouse ledger: the same protocols as DuckDB's, on a server, a cluster or chDB.

Callers can rely on: the same answers as ``DuckDBLedger`` for the same events (the equivalence
suite compares them byte for byte); writes idempotent per ``(team_id, id)`` and, once they
return, durable on the server; a retried insert converging exactly once; every driver failure
as one ``Unavailable`` sentence (``connect.guard``). What differs from DuckDB: a write is atomic
per month of events (ClickHouse's block and partition), not per batch; see the README.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import AbstractContextManager, nullcontext
from datetime import UTC, datetime
from typing import Any, NoReturn, cast

import pyarrow as pa
import pyarrow.compute as pc

from usagelens.errors import Conflict, Unavailable
from usagelens.ledger.base import (
    FACT_MEASURES,
    Activity,
    ActivityQuery,
    EventRow,
    FactQuery,
    KeyRecord,
    StoreStats,
    Team,
)
from usagelens.ledger.clickhouse import voids as v
from usagelens.ledger.clickhouse import write as w
from usagelens.ledger.clickhouse.activity import activity_sql, team_activity
from usagelens.ledger.clickhouse.connect import Target, client_for, guard
from usagelens.ledger.clickhouse.contents import entity_rows_sql, entity_table, events_sql, stored_events
from usagelens.ledger.clickhouse.control import ClaimsMixin
from usagelens.ledger.clickhouse.entities import Entities
from usagelens.ledger.clickhouse.facts import fact_sql
from usagelens.ledger.clickhouse.schema import SCHEMA_VERSION, schema_sql
from usagelens.ledger.rollups import ROLLUPS, plan
from usagelens.ledger.shape import split_api, split_results
from usagelens.model import ENTITY_KINDS, EVENT_SCHEMA, VOID_SCHEMA, VoidResult, WriteResult

__all__ = ["ClickHouseLedger"]

_INSERT = {"insert_deduplicate": 1, "deduplicate_blocks_in_dependent_materialized_views": 1}


def _plain(v: Any) -> Any:
    return v.astimezone(UTC).replace(tzinfo=None) if isinstance(v, datetime) and v.tzinfo else v


def _naive(table: pa.Table) -> pa.Table:
    """Arrow as the protocol gives it: naive UTC timestamps, plain strings."""
    cols = []
    for name, col in zip(table.column_names, table.columns, strict=True):
        t = col.type
        if pa.types.is_dictionary(t):
            col, t = col.cast(t.value_type), t.value_type
        if pa.types.is_timestamp(t):
            col = col.cast(pa.timestamp("us", tz="UTC")).cast(pa.timestamp("us"))
        elif pa.types.is_large_string(t) or pa.types.is_binary(t) or pa.types.is_large_binary(t):
            col = col.cast(pa.string())
        cols.append((name, col))
    return pa.table(dict(cols))


class ClickHouseLedger(ClaimsMixin):
    """A ledger in one ClickHouse database (or chDB directory); a context manager that closes it."""

    backend = "clickhouse"

    def __init__(
        self, target: Target, *, read_only: bool = False, must_exist: bool = False, cluster: str | None = None
    ) -> None:
        self.location = target.location
        self.db = target.database
        self._target = target
        self._client: Any = None
        # one chDB handle is not shared between threads; a server client is (no session id)
        self._call_lock: AbstractContextManager[Any] = threading.Lock() if target.chdb_path else nullcontext()
        self._write_lock = threading.Lock()
        self._client = client_for(target)
        self._entities = Entities(self.db, self._dicts, self._insert)
        self.backend = "clickhouse" if target.chdb_path is None else "chdb"
        try:
            self._open(read_only, must_exist, cluster)
        except BaseException:
            self.close()
            raise

    def _open(self, read_only: bool, must_exist: bool, cluster: str | None) -> None:
        exists = self._query(
            "SELECT count() FROM system.tables WHERE database = {db:String} AND name = 'meta'", {"db": self.db}
        )
        if not exists[0][0] and (read_only or must_exist):
            raise Unavailable(
                f"--db: {self.location} holds no usagelens store; create one with usagelens init --db "
                "(or usagelens ingest / demo)"
            )
        if not read_only:
            for stmt in schema_sql(self.db, cluster):
                self._command(stmt)
            if self.get_meta("schema_version") is None:
                self.set_meta("schema_version", SCHEMA_VERSION)
        found = self.get_meta("schema_version")
        if found not in (None, SCHEMA_VERSION):
            raise Unavailable(
                f"the store {self.location} has schema version {found}, this usagelens needs {SCHEMA_VERSION}"
            )

    def __enter__(self) -> ClickHouseLedger:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- the driver, behind one guard ---------------------------------------------------------

    def _query(self, sql: str, params: dict[str, Any]) -> list[tuple[Any, ...]]:
        with guard(self._target), self._call_lock:
            return [tuple(_plain(v) for v in row) for row in self._client.query(sql, parameters=params).result_rows]

    def _dicts(self, sql: str, params: dict[str, Any]) -> list[dict[str, Any]]:
        with guard(self._target), self._call_lock:
            res = self._client.query(sql, parameters=params)
            names = res.column_names
            return [{n: _plain(v) for n, v in zip(names, row, strict=True)} for row in res.result_rows]

    def _arrow(self, sql: str, params: dict[str, Any]) -> pa.Table:
        with guard(self._target), self._call_lock:
            return _naive(self._client.query_arrow(sql, parameters=params))

    def _command(self, sql: str, settings: dict[str, Any] | None = None, params: dict[str, Any] | None = None) -> None:
        with guard(self._target), self._call_lock:
            self._client.command(sql, parameters=params, settings=settings)

    def _insert(self, table: str, data: pa.Table, settings: dict[str, Any] | None = None) -> None:
        with guard(self._target), self._call_lock:
            self._client.insert_arrow(f"`{self.db}`.{table}", data, settings=settings)

    # -- writes -----------------------------------------------------------------------------

    def write_events(self, batch: pa.Table) -> WriteResult:
        """Store the new events of ``batch``; see ``UsageWriter.write_events``."""
        return self.write_events_many([batch])[0]

    def write_events_many(self, batches: list[pa.Table]) -> list[WriteResult]:
        """``write_events`` of several batches, as if written in order (atomic per month of events)."""
        if not batches:
            return []
        batches = [b.select(EVENT_SCHEMA.names).cast(EVENT_SCHEMA) for b in batches]
        combined = pa.concat_tables(batches) if len(batches) > 1 else batches[0]
        if combined.num_rows == 0:
            return [WriteResult(0, 0) for _ in batches]
        w.check_times(combined)
        with self._write_lock:
            keep = w.new_rows(combined, self._query, self.db)
            if keep.any():
                new = combined if keep.all() else combined.filter(pa.array(keep))
                for block, token in w.insert_plan(new):
                    self._insert("events", block, _INSERT | {"insert_deduplication_token": token})
        return split_results(batches, keep)

    def write_events_stream(self, batches: Iterable[pa.Table]) -> WriteResult:
        """``write_events`` of every batch of ``batches`` as one (atomic per month of events); see
        ``UsageWriter.write_events_stream``. ClickHouse has no transaction across inserts, so the
        stream is read whole before anything is inserted — an exception it raises writes nothing —
        and its rows are held in memory until the write (as ``write_events_many`` holds its batches)."""
        held = list(batches)
        results = self.write_events_many(held)
        return WriteResult(sum(r.written for r in results), sum(r.duplicates for r in results))

    def void_events(
        self, team_id: str, ids: list[str], *, reason: str, by: str, replacements: pa.Table | None = None
    ) -> VoidResult:
        """Void events by id, then write the replacements; see ``UsageWriter.void_events``. Not one
        transaction here: a void interrupted midway is completed by retrying it (``clickhouse/voids.py``)."""
        if replacements is not None:
            replacements = replacements.select(EVENT_SCHEMA.names).cast(EVENT_SCHEMA)
            w.check_times(replacements)
        with self._write_lock:
            todo, before = v.plan(self._query, self.db, team_id, ids)
            if todo:
                params = {"t": team_id, "ids": todo, "at": datetime.now(UTC).replace(tzinfo=None), "by": by}
                params["reason"] = reason
                for n, (sql, tokened) in enumerate(v.void_sql(self.db)):
                    settings = _INSERT | {"insert_deduplication_token": v.token(team_id, todo, n)} if tokened else None
                    self._command(sql, settings, params)
        written = WriteResult(0, 0)
        if replacements is not None and replacements.num_rows:
            written = self.write_events(replacements)
        return VoidResult(tuple(todo), tuple(before), written)

    def put_voids(self, rows: pa.Table) -> int:
        """Store void records as they are (copies); see ``UsageWriter.put_voids``."""
        if rows.num_rows == 0:
            return 0
        rows = rows.select(VOID_SCHEMA.names).cast(VOID_SCHEMA)
        with self._write_lock:
            held = {(t, i) for t, i in self._query(f"SELECT team_id, id FROM `{self.db}`.voids FINAL", {})}
            pairs = zip(rows["team_id"].to_pylist(), rows["id"].to_pylist(), strict=True)
            new = rows.filter(pa.array([p not in held for p in pairs], pa.bool_()))
            if new.num_rows:
                self._insert("voids", v.stored_voids(new))
                ids = new.select(["team_id", "id"])
                self._insert("event_ids", ids)  # their ids stay taken here too
        return new.num_rows

    def voids(self, team: str | None = None) -> pa.Table:
        """The audit trail of voids; see ``StoreContents.voids``."""
        return v.void_table(self._arrow(*v.voids_sql(self.db, team)))

    def warm(self) -> None:
        """Nothing to load: the duplicate check reads the server by key."""

    def maintain(self) -> None:
        """Merge the rollups' parts now (answers are exact either way)."""
        self._command(f"OPTIMIZE TABLE `{self.db}`.rollups FINAL")

    def upsert_entities(self, kind: str, batch: pa.Table, team: str | None = None) -> int:
        """Write ``team``'s view of entities of ``kind``; see ``UsageWriter.upsert_entities``."""
        with self._write_lock:
            return self._entities.upsert(kind, batch, team)

    # -- reads ------------------------------------------------------------------------------

    def cache_token(self) -> object:
        """Changes with every insert into this database, by any server: the sum over tables and
        partitions of the highest block number (merges keep it; every insert raises one). The
        control tables (``meta``, ``api_keys``, ``claims``) are left out: they change no answer."""
        rows = self._query(
            "SELECT sum(m), count() FROM (SELECT max(max_block_number) AS m FROM system.parts "
            "WHERE database = {db:String} AND active AND table NOT IN ('meta', 'api_keys', 'claims') "
            "GROUP BY table, partition_id)",
            {"db": self.db},
        )
        return (self.db, *rows[0])

    def facts(self, query: FactQuery) -> pa.Table:
        """Grouped sums over the window; see ``UsageReader.facts``."""
        rollup, pieces = plan(query)
        sql, params = fact_sql(self.db, query, rollup, pieces)
        rows = self._arrow(sql, params)
        if query.by:  # a group whose events were all voided sums to nothing
            rows = rows.filter(pc.not_equal(rows["events"], 0))
        keys = (["day"] if "day" in query.by else []) + [d for d in query.by if d != "day"]
        return split_api(rows, keys).select([*query.by, *FACT_MEASURES])

    def activity(self, query: ActivityQuery) -> list[EventRow]:
        """One page of events, newest first; see ``UsageReader.activity``."""
        sql, params = activity_sql(self.db, query)
        rows = self._dicts(sql, params)
        for r in rows:
            if r.pop("nsfw_null"):
                r["nsfw"] = None
        return cast(list[EventRow], rows)

    def entities(self, kind: str, ids: list[str], team: str | None) -> list[dict[str, Any]]:
        """``team``'s view of the entities of ``kind`` among ``ids``; see ``UsageReader.entities``."""
        return self._entities.lookup(kind, ids, team, self.cache_token())

    def teams(self) -> list[Team]:
        """Every team with its projects, each in that team's view, sorted by id."""
        return self._entities.teams(self.cache_token())

    def team_activity(self) -> dict[str, Activity]:
        """Identities seen and first events per team and project; see ``UsageReader.team_activity``."""
        return team_activity(self.db, self._dicts)

    def stats(self) -> StoreStats:
        """Counts of what the store holds."""
        db = f"`{self.db}`"
        row = self._query(
            f"SELECT count(), min(time), max(time), uniqExact(team_id), uniqExact(team_id, project_id), "
            "uniqExact(user_id), uniqExact(model_id), uniqExact(action), countIf(is_api_key), sum(cu) "
            f"FROM {db}.events",
            {},
        )[0]
        entities = {k: self._query(f"SELECT count() FROM {db}.{k} FINAL", {})[0][0] for k in ENTITY_KINDS}
        counts = dict(self._query(f"SELECT kind, count() FROM {db}.rollups GROUP BY kind", {}))
        empty = row[0] == 0
        return StoreStats(
            backend=self.backend,
            location=self.location,
            events=row[0],
            first_event=None if empty else row[1],
            last_event=None if empty else row[2],
            teams=row[3],
            projects=row[4],
            users=row[5],
            models=row[6],
            actions=row[7],
            api_key_events=row[8],
            total_cu=row[9],
            entities=entities,
            rollup_rows={r.name: counts.get(r.code, 0) for r in ROLLUPS},
        )

    # -- whole contents -----------------------------------------------------------------------

    def events(
        self, team: str | None = None, start: datetime | None = None, end: datetime | None = None
    ) -> Iterator[pa.Table]:
        """Stored events in batches; see ``StoreContents.events``."""
        after = None
        while True:
            page = self._arrow(*events_sql(self.db, team, start, end, after))
            if page.num_rows == 0:
                return
            yield stored_events(page)
            last = page.slice(page.num_rows - 1).to_pylist()[0]
            after = (last["team_id"], last["time"], last["id"])

    def entity_rows(self, kind: str) -> pa.Table:
        """Every stored row of ``kind`` with its owner; see ``StoreContents.entity_rows``."""
        return entity_table(kind, self._arrow(entity_rows_sql(self.db, kind), {}))

    def meta_items(self) -> dict[str, str]:
        """Every value of the ``meta`` table."""
        return dict(self._query(f"SELECT key, value FROM `{self.db}`.meta FINAL ORDER BY key", {}))

    # -- control store ------------------------------------------------------------------------

    def get_meta(self, key: str) -> str | None:
        """The value stored under ``key``, or None."""
        rows = self._query(f"SELECT value FROM `{self.db}`.meta FINAL WHERE key = {{k:String}}", {"k": key})
        return rows[0][0] if rows else None

    def set_meta(self, key: str, value: str) -> None:
        """Store ``value`` under ``key`` (one insert: atomic; the newest write wins)."""
        self._insert(
            "meta", pa.table({"key": [key], "value": [value], "version": pa.array([time.time_ns()], pa.uint64())})
        )

    def put_key(self, record: KeyRecord) -> None:
        """Store an API key record, then a new ``keys_token``."""
        if self._key(record["key_id"]) is not None:
            raise Unavailable(f"an API key with id {record['key_id']} already exists")
        self._put_key(dict(record))

    def _put_key(self, record: dict[str, Any]) -> None:
        cols = {c: [record.get(c)] for c in ("key_id", "secret_hash", "salt", "team_id", "kind", "project_id", "label")}
        cols["created_at"] = pa.array([record["created_at"]], pa.timestamp("us"))
        cols["revoked_at"] = pa.array([record.get("revoked_at")], pa.timestamp("us"))
        cols["version"] = pa.array([time.time_ns()], pa.uint64())
        self._insert("api_keys", pa.table(cols))
        self.set_meta("keys_token", secrets.token_hex(16))

    def _key(self, key_id: str) -> dict[str, Any] | None:
        rows = self._dicts(
            f"SELECT * EXCEPT version FROM `{self.db}`.api_keys FINAL WHERE key_id = {{k:String}}", {"k": key_id}
        )
        return rows[0] if rows else None

    def api_keys(self) -> list[KeyRecord]:
        """Every API key record, oldest first."""
        rows = self._dicts(f"SELECT * EXCEPT version FROM `{self.db}`.api_keys FINAL ORDER BY created_at, key_id", {})
        return cast(list[KeyRecord], rows)

    def keys_token(self) -> str:
        """A value that changes whenever a key is created or revoked (kept in ``meta``)."""
        return self.get_meta("keys_token") or ""

    def revoke_key(self, key_id: str, when: datetime) -> bool:
        """Mark a live key revoked (and store a new ``keys_token``)."""
        with self._write_lock:
            row = self._key(key_id)
            if row is None or row["revoked_at"] is not None:
                return False
            self._put_key(row | {"revoked_at": when})
        return True

    def close(self) -> None:
        """Close the client (a second call does nothing)."""
        client, self._client = self._client, None
        if client is not None:
            client.close()

    def backup(self, path: str) -> NoReturn:
        """Refused with one sentence (``StoreBackup.backup``): a ClickHouse database is backed up
        by ClickHouse itself, on the server's disks, or copied into a DuckDB file by ``migrate``."""
        raise Conflict(
            f"the store {self.location} is a ClickHouse database: back it up with ClickHouse's own BACKUP "
            f"(BACKUP DATABASE {self.db} TO Disk('backups', '{self.db}.zip'), or TO S3(…)), or copy it into a "
            "DuckDB file with usagelens migrate --from URL --to FILE.duckdb"
        )
