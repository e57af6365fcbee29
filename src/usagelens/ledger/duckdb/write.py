"""The DuckDB write path: duplicate checks, the atomic insert, rollup upkeep and compaction.

One ``Writer`` per store, used under the ledger's write lock. It keeps in memory what every
write would otherwise ask the database for (the id hashes, the known team/project pairs, the
rollup bookkeeping) and persists the bookkeeping in the same transaction as each insert.
"""

from __future__ import annotations

import duckdb
import numpy as np
import pyarrow as pa

from usagelens.ledger.duckdb import sql as q
from usagelens.ledger.duckdb.keyset import KeySet
from usagelens.ledger.duckdb.voids import Void, VoidPlan, apply_void, plan_void

__all__ = ["COMPACT_AT", "Writer"]

#: Rows in ``rollups_recent`` that trigger a compaction into the sorted main tables. Every
#: query also scans the recent rows, so this bounds what a query pays for unsorted data.
COMPACT_AT = 50_000


class Writer:
    """Writes validated event batches into one DuckDB store."""

    def __init__(self, con: duckdb.DuckDBPyConnection) -> None:
        self._con = con
        self._keys: KeySet | None = None
        self._pairs: set[tuple[str, str]] | None = None
        self._recent: int | None = None  # rows in rollups_recent
        self._voids: bool | None = None  # whether any void is stored

    # -- what the store already holds, loaded once --------------------------------------------

    def keys(self, cur: duckdb.DuckDBPyConnection) -> KeySet:
        if self._keys is None:
            # DuckDB sorts in parallel, faster than numpy at 10M rows
            # a voided id stays taken: its hash is kept too
            got = cur.execute(
                "SELECT hash(team_id, id) AS k FROM (SELECT team_id, id FROM events UNION ALL "
                "SELECT team_id, id FROM voids) ORDER BY k"
            ).fetchnumpy()
            self._keys = KeySet(np.asarray(got["k"], dtype=np.uint64), is_sorted=True)
        return self._keys

    def _known_pairs(self, cur: duckdb.DuckDBPyConnection) -> set[tuple[str, str]]:
        if self._pairs is None:
            self._pairs = set(cur.execute("SELECT team_id, id FROM projects").fetchall())
        return self._pairs

    def has_voids(self, cur: duckdb.DuckDBPyConnection) -> bool:
        """Whether the store holds any void (cached; kept current by every void)."""
        if self._voids is None:
            tables = {r[0] for r in cur.execute("SELECT table_name FROM duckdb_tables()").fetchall()}
            self._voids = "voids" in tables and bool(cur.execute("SELECT count(*) FROM voids").fetchall()[0][0])
        return self._voids

    def forget_ids(self) -> None:
        """Drop the cached id set and void flag (void records were stored behind the writer)."""
        self._keys = None
        self._voids = None

    def recent_rows(self, cur: duckdb.DuckDBPyConnection) -> int:
        """Rollup rows not yet compacted (cached; kept current by every write)."""
        if self._recent is None:
            (self._recent,) = cur.execute("SELECT count(*) FROM rollups_recent").fetchall()[0]
        return self._recent

    # -- writing ---------------------------------------------------------------------------

    def write(self, cur: duckdb.DuckDBPyConnection, batch: pa.Table) -> np.ndarray:
        """Write the new rows of ``batch`` (already in ``EVENT_SCHEMA``); returns which rows were."""
        k = _hashes(cur, batch)
        keep = self._new_rows(cur, batch, k)
        new = batch if keep.all() else batch.filter(pa.array(keep))
        if new.num_rows:
            self._append(cur, new)
            self.keys(cur).add(k[keep])
        return keep

    def _new_rows(self, cur: duckdb.DuckDBPyConnection, batch: pa.Table, k: np.ndarray) -> np.ndarray:
        """Mask of rows to write: first of their id in the batch, and not stored before."""
        keep = np.ones(len(k), dtype=bool)
        order = np.argsort(k)
        ordered = k[order]
        equal = ordered[1:] == ordered[:-1]
        if equal.any():  # some hash repeats within the batch: resolve those rows exactly
            same = np.zeros(len(k), dtype=bool)
            same[1:] |= equal
            same[:-1] |= equal
            repeated = np.sort(order[same])
            keep[repeated] = False
            keep[_exact(cur, batch, repeated, "SELECT min(_rn) FROM _c GROUP BY team_id, id")] = True
        stored = np.empty(len(k), dtype=bool)
        stored[order] = self.keys(cur).contains_sorted(ordered)
        candidates = np.nonzero(keep & stored)[0]
        if len(candidates):  # hash hits: skip only ids really stored
            sql = (
                "SELECT _rn FROM _c SEMI JOIN (SELECT team_id, id FROM events UNION ALL "
                "SELECT team_id, id FROM voids) e USING (team_id, id)"
            )
            keep[_exact(cur, batch, candidates, sql)] = False
        return keep

    def _append(self, cur: duckdb.DuckDBPyConnection, new: pa.Table) -> None:
        recent = self.recent_rows(cur)
        cur.execute("BEGIN")
        try:
            fresh, added = self._insert(cur, new)
            cur.execute("COMMIT")
        except BaseException:
            cur.execute("ROLLBACK")
            raise
        self._recent = recent + added
        self._known_pairs(cur).update(fresh)

    def _insert(self, cur: duckdb.DuckDBPyConnection, new: pa.Table) -> tuple[list[tuple[str, str]], int]:
        """Insert ``new`` and its rollup rows inside the caller's transaction; returns the
        (team, project) pairs registered and the rollup rows added."""
        pairs = new.group_by(["team_id", "project_id"]).aggregate([])
        fresh = [
            p
            for p in zip(pairs["team_id"].to_pylist(), pairs["project_id"].to_pylist(), strict=True)
            if p not in self._known_pairs(cur)
        ]
        labels = new["nsfw"].null_count < new.num_rows
        cur.register("_new", new)
        try:
            cols = ", ".join(q.EVENT_COLUMNS)
            cur.execute(f"INSERT INTO events ({cols}) SELECT {cols} FROM _new")
            if fresh:
                _register_pairs(cur, fresh)
            (added,) = cur.execute(q.rollup_append_sql("_new", with_labels=labels)).fetchall()[0]
        finally:
            cur.unregister("_new")
        return fresh, added

    def void(self, cur: duckdb.DuckDBPyConnection, team: str, ids: list[str], record: Void) -> VoidPlan:
        """Move the stored events of ``team`` among ``ids`` to ``voids``, subtract them from every
        rollup and write ``record.replacements``, in one transaction; see ``Ledger.void_events``."""
        plan = plan_void(cur, team, ids)
        recent = self.recent_rows(cur)
        keep = self._new_rows_of(cur, record.replacements)
        new = record.replacements.filter(pa.array(keep)) if record.replacements is not None else None
        cur.execute("BEGIN")
        try:
            added = apply_void(cur, team, plan.voided, record)
            fresh: list[tuple[str, str]] = []
            if new is not None and new.num_rows:
                fresh, more = self._insert(cur, new)
                added += more
            cur.execute("COMMIT")
        except BaseException:
            cur.execute("ROLLBACK")
            raise
        self._recent = recent + added
        self._known_pairs(cur).update(fresh)
        self._voids = self._voids or bool(plan.voided)
        if new is not None and new.num_rows:
            self.keys(cur).add(_hashes(cur, new))
        plan.kept = keep
        return plan

    def _new_rows_of(self, cur: duckdb.DuckDBPyConnection, batch: pa.Table | None) -> np.ndarray:
        if batch is None or batch.num_rows == 0:
            return np.zeros(0, dtype=bool)
        return self._new_rows(cur, batch, _hashes(cur, batch))

    def wants_compaction(self) -> bool:
        """Whether enough rollup rows wait in ``rollups_recent`` to move them."""
        return (self._recent or 0) >= COMPACT_AT

    def compact(self, cur: duckdb.DuckDBPyConnection, *, force: bool) -> None:
        """Move the recent rollup rows into the sorted main tables once there are enough of
        them (or whenever there are any, with ``force``). Cost: proportional to recent rows."""
        recent = self.recent_rows(cur)
        if recent == 0 or (not force and recent < COMPACT_AT):
            return
        cur.execute("BEGIN")
        try:
            for stmt in q.compact_sql():
                cur.execute(stmt)
            cur.execute("COMMIT")
        except BaseException:
            cur.execute("ROLLBACK")
            raise
        self._recent = 0

    def forget(self) -> None:
        """Drop cached state (after a failed write, the database is the truth)."""
        self._recent = None
        self._pairs = None


def _hashes(cur: duckdb.DuckDBPyConnection, batch: pa.Table) -> np.ndarray:
    """``hash(team_id, id)`` of every row of ``batch``, as the id set stores them."""
    cur.register("_batch", batch)
    try:
        got = cur.execute("SELECT hash(team_id, id) AS k FROM _batch").fetchnumpy()["k"]
    finally:
        cur.unregister("_batch")
    return np.asarray(got, dtype=np.uint64)


def _register_pairs(cur: duckdb.DuckDBPyConnection, pairs: list[tuple[str, str]]) -> None:
    teams = sorted({t for t, _ in pairs})
    cur.execute("INSERT INTO teams (id) SELECT unnest($t) ON CONFLICT DO NOTHING", {"t": teams})
    cur.execute(
        "INSERT INTO projects (team_id, id) SELECT unnest($t), unnest($p) ON CONFLICT DO NOTHING",
        {"t": [t for t, _ in pairs], "p": [p for _, p in pairs]},
    )


def _exact(cur: duckdb.DuckDBPyConnection, batch: pa.Table, rows: np.ndarray, sql: str) -> np.ndarray:
    """Run ``sql`` over the ids of ``rows`` (as table ``_c`` with row numbers ``_rn``)."""
    ids = batch.select(["team_id", "id"]).take(pa.array(rows))
    cur.register("_c", ids.append_column("_rn", pa.array(rows, pa.int64())))
    got = cur.execute(sql).fetchall()
    cur.unregister("_c")
    return np.array([r[0] for r in got], dtype=np.int64)
