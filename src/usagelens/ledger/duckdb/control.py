"""The DuckDB store's small documents and claims (``ControlStore.put_doc``/``claim``): budgets,
grants, alert deliveries, alerts raised. A mixin of ``DuckDBLedger`` (its connection, write lock
and version), kept apart so the store module stays about events."""

from __future__ import annotations

import itertools
import threading
from typing import Any

import duckdb

__all__ = ["DocsMixin"]


class DocsMixin:
    """``put_doc``, ``docs``, ``claim`` and ``claims`` over the ``docs`` and ``claims`` tables."""

    _con: duckdb.DuckDBPyConnection
    _write_lock: threading.Lock
    version: int
    _VERSIONS: itertools.count[int]

    def _rows(self, sql: str, params: list[Any]) -> list[tuple[Any, ...]]:
        cur = self._con.cursor()
        try:
            return cur.execute(sql, params).fetchall()
        finally:
            cur.close()

    def put_doc(self, kind: str, doc_id: str, doc: str | None) -> None:
        """Store (or, with None, delete) one document; see ``ControlStore.put_doc``."""
        with self._write_lock:
            if doc is None:
                self._rows("DELETE FROM docs WHERE kind = ? AND id = ?", [kind, doc_id])
            else:
                self._rows(
                    "INSERT INTO docs VALUES (?, ?, ?) ON CONFLICT (kind, id) DO UPDATE SET doc = excluded.doc",
                    [kind, doc_id, doc],
                )
            self.version = next(self._VERSIONS)  # budgets show in answers: cached answers go
            self.__dict__["_docs_version"] = self.__dict__.get("_docs_version", 0) + 1

    def docs(self, kind: str) -> dict[str, str]:
        """Every document of ``kind``; see ``UsageReader.docs``. Kept in memory until the next
        ``put_doc`` (every answer and write asks for the budgets); callers must not change it."""
        cache: dict[str, tuple[int, dict[str, str]]] = self.__dict__.setdefault("_docs_cache", {})
        version = self.__dict__.get("_docs_version", 0)  # one writer per file: only put_doc changes docs
        hit = cache.get(kind)
        if hit is not None and hit[0] == version:
            return hit[1]
        try:
            got = dict(self._rows("SELECT id, doc FROM docs WHERE kind = ? ORDER BY id", [kind]))
        except duckdb.CatalogException:  # a store of an earlier version opened read-only: no documents
            got = {}
        cache[kind] = (version, got)
        return got

    def claim(self, kind: str, claim_id: str, doc: str) -> str:
        """Insert once; the holder's document. One writer per file: the primary key decides."""
        with self._write_lock:
            self._rows("INSERT INTO claims VALUES (?, ?, ?) ON CONFLICT DO NOTHING", [kind, claim_id, doc])
            return str(self._rows("SELECT doc FROM claims WHERE kind = ? AND id = ?", [kind, claim_id])[0][0])

    def claims(self, kind: str) -> dict[str, str]:
        """Every claim of ``kind``; see ``ControlStore.claims``."""
        return dict(self._rows("SELECT id, doc FROM claims WHERE kind = ? ORDER BY id", [kind]))
