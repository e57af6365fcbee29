"""The ClickHouse store's small documents and claims (``ControlStore.put_doc``/``claim``): budgets,
grants, alert deliveries, alerts raised. A mixin of ``ClickHouseLedger``.

- ``docs``: ``ReplacingMergeTree(version)``, version = the write's time in ns (the newest wins); a
  delete writes a NULL document.
- ``claims``: ``ReplacingMergeTree(version)`` with version = 2⁶⁴−1 minus the time in ns, so the
  *earliest* claim of an id wins in ``FINAL``, whichever server reads. A claim first reads the id
  (claimed already: that one holds), then inserts with the id as ``insert_deduplication_token``
  (a concurrent twin within the deduplication window is dropped), then reads back who holds it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pyarrow as pa

__all__ = ["ClaimsMixin"]

_TOP = 2**64 - 1
_INSERT = {"insert_deduplicate": 1}


class ClaimsMixin:
    """``put_doc``, ``docs``, ``claim`` and ``claims`` over the ``docs`` and ``claims`` tables."""

    db: str

    _query: Callable[[str, dict[str, Any]], list[tuple[Any, ...]]]
    _insert: Callable[..., None]

    def put_doc(self, kind: str, doc_id: str, doc: str | None) -> None:
        """Store (or, with None, delete) one document; see ``ControlStore.put_doc``."""
        row = {"kind": [kind], "id": [doc_id], "doc": pa.array([doc], pa.string())}
        self._insert("docs", pa.table(row | {"version": pa.array([time.time_ns()], pa.uint64())}))

    def docs(self, kind: str) -> dict[str, str]:
        """Every document of ``kind``; see ``ControlStore.docs``."""
        sql = f"SELECT id, doc FROM `{self.db}`.docs FINAL WHERE kind = {{k:String}} AND doc IS NOT NULL ORDER BY id"
        return {r[0]: r[1] for r in self._query(sql, {"k": kind})}

    def _holder(self, kind: str, claim_id: str) -> str | None:
        sql = f"SELECT doc FROM `{self.db}`.claims FINAL WHERE kind = {{k:String}} AND id = {{i:String}}"
        rows = self._query(sql, {"k": kind, "i": claim_id})
        return rows[0][0] if rows else None

    def claim(self, kind: str, claim_id: str, doc: str) -> str:
        """Insert once; the holder's document (the earliest claim); see the module docstring."""
        held = self._holder(kind, claim_id)
        if held is not None:
            return held
        row = {"kind": [kind], "id": [claim_id], "doc": [doc]}
        version = pa.array([_TOP - time.time_ns()], pa.uint64())
        self._insert(
            "claims",
            pa.table(row | {"version": version}),
            _INSERT | {"insert_deduplication_token": f"claim\x00{kind}\x00{claim_id}"},
        )
        return self._holder(kind, claim_id) or doc

    def claims(self, kind: str) -> dict[str, str]:
        """Every claim of ``kind``; see ``ControlStore.claims``."""
        sql = f"SELECT id, doc FROM `{self.db}`.claims FINAL WHERE kind = {{k:String}} ORDER BY id"
        return {r[0]: r[1] for r in self._query(sql, {"k": kind})}
