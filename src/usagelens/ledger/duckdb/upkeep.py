"""Rollup upkeep of the DuckDB store: compaction (in the background after writes, or forced)
and the merge of the main tables, with the compaction generation readers of memory rely on.

Callers can rely on: ``generation`` is even between upkeep runs and odd while one moves rows
into the main tables, and changes with each run (``factreader`` answers from memory only at a
stable, even generation); every run holds the ledger's write lock; a failed background
compaction leaves the rows in ``rollups_recent`` (answers stay exact) and is retried later.
"""

from __future__ import annotations

import logging
import threading

import duckdb

from usagelens.ledger.duckdb import sql as q
from usagelens.ledger.duckdb.connect import Resources, roomy
from usagelens.ledger.duckdb.write import Writer

__all__ = ["Upkeep"]

log = logging.getLogger("usagelens.ledger")


class Upkeep:
    """Compaction and merging for one store."""

    def __init__(
        self, con: duckdb.DuckDBPyConnection, location: str, writer: Writer, write_lock: threading.Lock, res: Resources
    ) -> None:
        self._con = con
        self._location = location
        self._writer = writer
        self._write_lock = write_lock
        self._res = res
        self._lock = threading.Lock()
        self.generation = 0

    def after_write(self) -> None:
        """Compact in a background thread once enough rows wait: writes return as soon as they
        are durable (their rollup rows already answer queries from ``rollups_recent``); the move
        into the sorted main tables only makes later queries cheaper. Writes wait for it."""
        if not self._writer.wants_compaction():
            return
        with self._lock:
            running = self._res.compaction
            if running is not None and running.is_alive():
                return
            thread = threading.Thread(target=self._quietly, name="usagelens-compact", daemon=True)
            self._res.compaction = thread
            thread.start()

    def _quietly(self) -> None:
        try:
            with self._write_lock:
                self._compact(force=False)
        except Exception:  # the rows stay in rollups_recent: answers remain exact
            log.exception("background compaction failed; it will be retried after the next write")
            self._writer.forget()

    def compact(self) -> None:
        """Move every rollup row appended since the last compaction into the main tables."""
        with self._write_lock:
            self._compact(force=True)

    def maintain(self) -> None:
        """``compact()``, then merge the main tables' rows of one key and bucket (``sql.merge_sql``:
        seconds at 10M events; for after bulk loads)."""
        with self._write_lock, roomy(self._con, self._location):
            self._compact(force=True)
            self._in_transaction(q.merge_sql())

    def _compact(self, *, force: bool) -> None:
        cur = self._con.cursor()
        try:
            if self._writer.recent_rows(cur) == 0:
                return
            self.generation += 1
            try:
                self._writer.compact(cur, force=force)
            finally:
                self.generation += 1
        finally:
            cur.close()

    def _in_transaction(self, statements: list[str]) -> None:
        self.generation += 1
        cur = self._con.cursor()
        try:
            cur.execute("BEGIN")
            try:
                for stmt in statements:
                    cur.execute(stmt)
                cur.execute("COMMIT")
            except BaseException:
                cur.execute("ROLLBACK")
                raise
        finally:
            cur.close()
            self.generation += 1
