"""The embedded DuckDB ledger: raw events, narrow rollups kept in the same transaction, entities.

Callers can rely on: writes are atomic (one transaction per call) and idempotent per
``(team_id, id)``; reads are exact (rollups are only used where their buckets tile the window,
the rest comes from raw events); the object is safe to share between threads (one writer at a
time, a cursor per read).
"""

from __future__ import annotations

import re
import threading
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from usagelens.errors import Unavailable
from usagelens.ledger import duckdb_sql as q
from usagelens.ledger.base import ActivityQuery, FactQuery, StoreStats
from usagelens.ledger.keyset import KeySet
from usagelens.ledger.plan import ROLLUPS, Piece, buckets, choose_rollup, tile
from usagelens.ledger.stats import read_stats
from usagelens.model import CU_TYPE, ENTITY_SCHEMAS, EVENT_SCHEMA, WriteResult

__all__ = ["DuckDBLedger"]

#: Rollup rows appended since the last compaction that trigger one (and at least 1/4 of the
#: table), so compaction cost stays proportional to what was appended.
COMPACT_MIN_ROWS = 100_000
_BUCKETS = pa.schema([("grain", pa.uint8()), ("bucket", pa.timestamp("us")), ("label", pa.timestamp("us"))])
_ACTIVITY_COLUMNS = (
    "time, id, user_id, project_id, action, cu, discount, model_id, job_id, asset_id, asset_kind, is_api_key"
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
        self._write_lock = threading.Lock()
        self._keys: KeySet | None = None
        if not read_only:
            for stmt in q.schema_sql():
                self._con.execute(stmt)
            self._con.execute(
                "INSERT INTO meta VALUES ('schema_version', ?) ON CONFLICT DO NOTHING",
                [q.SCHEMA_VERSION],
            )

    # -- writes -----------------------------------------------------------------------------

    def write_events(self, batch: pa.Table) -> WriteResult:
        """Store new events of ``batch`` atomically; see ``Ledger.write_events``."""
        batch = _with_defaults(batch.select(EVENT_SCHEMA.names).cast(EVENT_SCHEMA))
        if batch.num_rows == 0:
            return WriteResult(0, 0)
        with self._write_lock:
            cur = self._con.cursor()
            try:
                cur.register("_batch", batch)
                hashes = cur.execute("SELECT hash(team_id, id) AS k FROM _batch").fetchnumpy()
                k = np.asarray(hashes["k"], dtype=np.uint64)
                keep = self._new_rows(cur, batch, k)
                new = batch.filter(pa.array(keep))
                if new.num_rows:
                    self._append(cur, new)
            finally:
                cur.close()
            self._key_set().add(k[keep])
            return WriteResult(new.num_rows, batch.num_rows - new.num_rows)

    def _key_set(self) -> KeySet:
        if self._keys is None:
            cur = self._con.cursor()
            got = cur.execute("SELECT hash(team_id, id) AS k FROM events").fetchnumpy()
            cur.close()
            self._keys = KeySet(np.asarray(got["k"], dtype=np.uint64))
        return self._keys

    def _new_rows(self, cur: duckdb.DuckDBPyConnection, batch: pa.Table, k: np.ndarray) -> np.ndarray:
        """Mask of rows to write: first of their id in the batch, and not stored before."""
        keep = np.ones(len(k), dtype=bool)
        _, inverse, counts = np.unique(k, return_inverse=True, return_counts=True)
        repeated = np.nonzero(counts[inverse] > 1)[0]
        if len(repeated):
            keep[repeated] = False
            firsts = self._exact(cur, batch, repeated, "SELECT min(_rn) FROM _c GROUP BY team_id, id")
            keep[firsts] = True
        candidates = np.nonzero(keep & self._key_set().contains(k))[0]
        if len(candidates):
            stored = self._exact(
                cur, batch, candidates, "SELECT _rn FROM _c SEMI JOIN events e USING (team_id, id)"
            )
            keep[stored] = False
        return keep

    @staticmethod
    def _exact(cur: duckdb.DuckDBPyConnection, batch: pa.Table, rows: np.ndarray, sql: str) -> np.ndarray:
        """Run ``sql`` over the ids of ``rows`` (as table ``_c`` with row numbers ``_rn``)."""
        ids = batch.select(["team_id", "id"]).take(pa.array(rows))
        cur.register("_c", ids.append_column("_rn", pa.array(rows, pa.int64())))
        got = cur.execute(sql).fetchall()
        cur.unregister("_c")
        return np.array([r[0] for r in got], dtype=np.int64)

    def _append(self, cur: duckdb.DuckDBPyConnection, new: pa.Table) -> None:
        cur.register("_new", new)
        cur.execute("BEGIN")
        try:
            cols = ", ".join(q.EVENT_COLUMNS)
            cur.execute(f"INSERT INTO events ({cols}) SELECT {cols} FROM _new")
            cur.execute("INSERT INTO teams (id) SELECT DISTINCT team_id FROM _new ON CONFLICT DO NOTHING")
            cur.execute(
                "INSERT INTO projects (team_id, id) SELECT DISTINCT team_id, project_id FROM _new "
                "ON CONFLICT DO NOTHING"
            )
            lo = cur.execute("SELECT date_trunc('day', min(time)) FROM _new").fetchone()[0]
            for r in ROLLUPS:
                (added,) = cur.execute(q.rollup_append_sql(r, "_new")).fetchone()
                cur.execute(
                    "UPDATE rollup_state SET appends = appends + 1, "
                    "appended_rows = appended_rows + ?, "
                    "dirty_from = least(coalesce(dirty_from, ?), ?) WHERE name = ?",
                    [added, lo, lo, r.name],
                )
            cur.execute("COMMIT")
        except BaseException:
            cur.execute("ROLLBACK")
            raise
        finally:
            cur.unregister("_new")
        self._compact(cur, force=False)

    def compact(self) -> None:
        """Merge every rollup row appended since the last compaction with its older twins."""
        with self._write_lock:
            cur = self._con.cursor()
            try:
                self._compact(cur, force=True)
            finally:
                cur.close()

    def _compact(self, cur: duckdb.DuckDBPyConnection, *, force: bool) -> None:
        """Compact each rollup whose appended rows are worth merging (or all, with ``force``).

        A single append is never merged: its rows are already one per key. Merging only the
        range from the oldest touched day keeps the cost proportional to what changed.
        """
        for r in ROLLUPS:
            appends, rows, lo = cur.execute(
                "SELECT appends, appended_rows, dirty_from FROM rollup_state WHERE name = ?",
                [r.name],
            ).fetchone()
            if lo is None:
                continue
            if not force:
                (total,) = cur.execute(f"SELECT count(*) FROM {r.name}").fetchone()
                if appends < 2 or rows < max(COMPACT_MIN_ROWS, total // 4):
                    continue
            cur.execute("BEGIN")
            try:
                for stmt in q.compact_sql(r):
                    cur.execute(stmt, {"lo": lo} if "$lo" in stmt else None)
                cur.execute(
                    "UPDATE rollup_state SET appends = 0, appended_rows = 0, dirty_from = NULL "
                    "WHERE name = ?",
                    [r.name],
                )
                cur.execute("COMMIT")
            except BaseException:
                cur.execute("ROLLBACK")
                raise

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
        rollup = choose_rollup(dims)
        grains = rollup.grains if rollup else ()
        day_tz = query.timezone if "day" in query.by else None
        pieces = tile(query.start, query.end, grains, day_tz)
        if not pieces:
            pieces = [Piece(None, query.start, query.start, query.start if day_tz else None)]
        sql, params = q.fact_sql(query, rollup, pieces, "_buckets")
        mapping = pa.table(
            list(zip(*buckets(pieces), strict=True)) or [[], [], []],
            schema=_BUCKETS,
        )
        cur = self._con.cursor()
        try:
            cur.register("_buckets", mapping)
            return cur.sql(sql, params=params).to_arrow_table()
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
        """Stored entities of ``kind`` among ``ids``, sorted by id."""
        cols = ", ".join(ENTITY_SCHEMAS[kind].names)
        return self._dicts(
            f"SELECT {cols} FROM {kind} WHERE list_contains($ids, id) ORDER BY id", {"ids": ids}
        )

    def teams(self) -> list[dict[str, Any]]:
        """Every team with its projects, sorted by id."""
        return self._dicts(
            "SELECT t.id, t.name, coalesce(list({'id': p.id, 'name': p.name} ORDER BY p.id) "
            "FILTER (WHERE p.id IS NOT NULL), []) AS projects FROM teams t "
            "LEFT JOIN projects p ON p.team_id = t.id GROUP BY t.id, t.name ORDER BY t.id",
            {},
        )

    def stats(self) -> StoreStats:
        """Counts of what the store holds."""
        cur = self._con.cursor()
        try:
            return read_stats(cur, self.backend, self.location)
        finally:
            cur.close()

    def _dicts(self, sql: str, params: dict[str, object]) -> list[dict[str, Any]]:
        cur = self._con.cursor()
        try:
            res = cur.execute(sql, params)
            names = [d[0] for d in res.description]
            return [dict(zip(names, row, strict=True)) for row in res.fetchall()]
        finally:
            cur.close()

    def close(self) -> None:
        """Checkpoint and close the file."""
        self._con.close()
