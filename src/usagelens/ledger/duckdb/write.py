"""The DuckDB write path: duplicate checks, the atomic insert, rollup upkeep and compaction.

One ``Writer`` per store, used under the ledger's write lock. It keeps in memory what every
write would otherwise ask the database for (the id hashes, the known team/project pairs, the
rollup bookkeeping) and persists the bookkeeping in the same transaction as each insert.

Where the time goes (1M events into an empty store, ``docs/benchmarks.md``): DuckDB's insert of
the raw events (~0.6 s) and the rollup statement (~0.95 s: its hash aggregations, 1.2 CPU-s,
then the insert of ~1.6M rollup rows), then — far behind — the duplicate check (a semi-join
on the ids, 0.1-0.3 s into a 10M-event store) and hashing. A 1,000-event batch is bound by
statements, not rows: each DuckDB statement costs ~1-2 ms however few rows it reads, and
the commit's fsync of the WAL (~400 KB: the events and ~2,500 rollup rows) ~3 ms; the hashes
(numpy), the duplicate check (in memory) and the rollup rows (Arrow) take no statement. A
write of several batches (``write_many``) is one transaction that reads the batches one at a
time, so a file of any size is written in bounded memory.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable

import duckdb
import numpy as np
import pyarrow as pa

from usagelens.ledger.duckdb import sql as q
from usagelens.ledger.duckdb.dedupe import STORED_IDS, Probe, Written, hashes, new_rows, stored_by_join, stored_in
from usagelens.ledger.duckdb.keyset import KeySet
from usagelens.ledger.duckdb.rollup_rows import rollup_rows
from usagelens.ledger.duckdb.voids import Void, VoidPlan, apply_void, plan_void

__all__ = ["COMPACT_AT", "Writer"]

#: Rows in ``rollups_recent`` that trigger a compaction into the sorted main tables. Every
#: query also scans the recent rows, so this bounds what a query pays for unsorted data.
COMPACT_AT = 50_000
#: Batches smaller than this get their rollup rows from Arrow (``rollup_rows``), larger ones
#: from one parallel DuckDB statement (measured crossover: 20k-30k events).
ARROW_ROLLUP_BELOW = 20_000
#: Rows written per step of one transaction: DuckDB's memory for the rollup aggregation and the
#: insert stays bounded however large a batch is.
SLICE_ROWS = 1 << 20
#: A write of at least this many rows into a store whose id set is not loaded checks them with a
#: semi-join instead of loading the set (``dedupe``).
JOIN_ROWS = 50_000


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
            got = cur.execute(f"SELECT hash(team_id, id) AS k FROM ({STORED_IDS}) ORDER BY k").fetchnumpy()
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

    def cached(self, con: duckdb.DuckDBPyConnection) -> tuple[int, bool]:
        """``recent_rows`` and ``has_voids``, a cursor of ``con`` opened only when one is not
        cached (a cursor costs ~25 µs on a file store, and an answer asked for ten)."""
        recent, voids = self._recent, self._voids  # a write may reset them meanwhile: read once
        if recent is None or voids is None:
            cur = con.cursor()
            try:
                recent, voids = self.recent_rows(cur), self.has_voids(cur)
            finally:
                cur.close()
        return recent, voids

    # -- writing ---------------------------------------------------------------------------

    def write(self, cur: duckdb.DuckDBPyConnection, batch: pa.Table) -> np.ndarray:
        """Write the new rows of ``batch`` (already in ``EVENT_SCHEMA``) in one transaction;
        returns which rows were. A large batch goes in slices of ``SLICE_ROWS`` (bounded work
        memory; the same rows, the same transaction)."""
        slices = [batch.slice(i, SLICE_ROWS) for i in range(0, batch.num_rows, SLICE_ROWS)] or [batch]
        # one large write into a store whose id set is not loaded: ask the store, load nothing
        join = self._keys is None and len(slices) == 1 and batch.num_rows >= JOIN_ROWS
        return np.concatenate(self.write_many(cur, slices, join=join))

    def write_many(
        self, cur: duckdb.DuckDBPyConnection, batches: Iterable[pa.Table], *, join: bool = False
    ) -> list[np.ndarray]:
        """Write the new rows of each batch, as if written in order, in one transaction; returns
        which rows of each were written. ``batches`` is read one batch at a time, inside the
        transaction: an exception it raises rolls everything back. ``join``: check stored ids
        with a semi-join in the store instead of the in-memory id set (``dedupe``)."""
        stored = stored_by_join(cur) if join else stored_in(self.keys(cur).contains_sorted)
        recent, known = self.recent_rows(cur), self._known_pairs(cur)
        written = Written()
        masks = []
        cur.execute("BEGIN")
        try:
            for batch in batches:
                masks.append(self._write_one(cur, batch, stored, known, written))
            cur.execute("COMMIT")
        except BaseException:
            _rollback(cur)
            raise
        self._recent = recent + written.added
        known.update(written.pairs)
        if written.hashes and self._keys is not None:
            added, is_sorted = written.all_hashes()
            self._keys.add(added, is_sorted=is_sorted)
        return masks

    def _write_one(
        self,
        cur: duckdb.DuckDBPyConnection,
        batch: pa.Table,
        stored: Probe,
        known: set[tuple[str, str]],
        written: Written,
    ) -> np.ndarray:
        k = hashes(cur, batch)
        ordered = np.sort(k)
        keep = new_rows(cur, batch, k, ordered, stored, written)
        if not keep.any():
            return keep
        new = batch if keep.all() else batch.filter(pa.array(keep))
        written.added += self._insert(cur, new, known, written.pairs)
        written.hashes.append(ordered if keep.all() else np.sort(k[keep]))
        return keep

    def _insert(
        self, cur: duckdb.DuckDBPyConnection, new: pa.Table, known: set[tuple[str, str]], fresh: set[tuple[str, str]]
    ) -> int:
        """Insert ``new`` and its rollup rows inside the caller's transaction; new (team,
        project) pairs are registered and added to ``fresh``. Returns the rollup rows added."""
        pairs = new.group_by(["team_id", "project_id"], use_threads=False).aggregate([])
        found = zip(pairs["team_id"].to_pylist(), pairs["project_id"].to_pylist(), strict=True)
        unseen = [p for p in found if p not in known and p not in fresh]
        labels = new["nsfw"].null_count < new.num_rows
        # the statements read ``_new`` (and ``_rollup``) by name from this frame (a replacement
        # scan): a table registered inside a transaction stays alive until its commit
        _new = new  # read by DuckDB, by name
        cols = ", ".join(q.EVENT_COLUMNS)
        cur.execute(f"INSERT INTO events ({cols}) SELECT {cols} FROM _new")
        if unseen:
            _register_pairs(cur, unseen)
            fresh.update(unseen)
        if new.num_rows >= ARROW_ROLLUP_BELOW:
            (added,) = cur.execute(q.rollup_append_sql("_new", with_labels=labels)).fetchall()[0]
            return int(added)
        _rollup = rollup_rows(new, with_labels=labels)
        cur.execute("INSERT INTO rollups_recent SELECT * FROM _rollup")
        return int(_rollup.num_rows)

    def void(self, cur: duckdb.DuckDBPyConnection, team: str, ids: list[str], record: Void) -> VoidPlan:
        """Move the stored events of ``team`` among ``ids`` to ``voids``, subtract them from every
        rollup and write ``record.replacements``, in one transaction; see ``Ledger.void_events``."""
        plan = plan_void(cur, team, ids)
        recent = self.recent_rows(cur)
        known = self._known_pairs(cur)
        keep = self._new_rows_of(cur, record.replacements)
        new = record.replacements.filter(pa.array(keep)) if record.replacements is not None else None
        fresh: set[tuple[str, str]] = set()
        cur.execute("BEGIN")
        try:
            added = apply_void(cur, team, plan.voided, record)
            if new is not None and new.num_rows:
                added += self._insert(cur, new, known, fresh)
            cur.execute("COMMIT")
        except BaseException:
            _rollback(cur)
            raise
        self._recent = recent + added
        known.update(fresh)
        self._voids = self._voids or bool(plan.voided)
        if new is not None and new.num_rows:
            self.keys(cur).add(hashes(cur, new))
        plan.kept = keep
        return plan

    def _new_rows_of(self, cur: duckdb.DuckDBPyConnection, batch: pa.Table | None) -> np.ndarray:
        if batch is None or batch.num_rows == 0:
            return np.zeros(0, dtype=bool)
        k = hashes(cur, batch)
        return new_rows(cur, batch, k, np.sort(k), stored_in(self.keys(cur).contains_sorted), Written())

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
            _rollback(cur)
            raise
        self._recent = 0

    def forget(self) -> None:
        """Drop cached state (after a failed write, the database is the truth)."""
        self._recent = None
        self._pairs = None


def _rollback(cur: duckdb.DuckDBPyConnection) -> None:
    """Roll back the open transaction; a failure to do so must not hide the first error."""
    with contextlib.suppress(duckdb.Error):
        cur.execute("ROLLBACK")


def _register_pairs(cur: duckdb.DuckDBPyConnection, pairs: list[tuple[str, str]]) -> None:
    teams = sorted({t for t, _ in pairs})
    cur.execute("INSERT INTO teams (id) SELECT unnest($t) ON CONFLICT DO NOTHING", {"t": teams})
    cur.execute(
        "INSERT INTO projects (team_id, id) SELECT unnest($t), unnest($p) ON CONFLICT DO NOTHING",
        {"t": [t for t, _ in pairs], "p": [p for _, p in pairs]},
    )
