"""An in-memory set of 64-bit hashes of every stored ``(team_id, id)``: the duplicate pre-check.

Why not a database index: measured on this machine, DuckDB's ART primary key made a
1M-event bulk insert into a 10M-event store take 5-10 s, and an index-less anti-join costs
~200 ms even for a 1,000-event batch. A sorted ``uint64`` array answers membership for a
batch in microseconds and costs 8 bytes per stored event.

A hash hit is only a *candidate* duplicate: the ledger confirms candidates against the
stored ids before skipping anything, so a hash collision can never drop an event. The set is
rebuilt from the store when first needed and updated only after a write commits.
"""

from __future__ import annotations

import threading

import numpy as np

__all__ = ["KeySet"]


class KeySet:
    """Membership over uint64 hashes: a sorted base array plus a small set of recent adds."""

    #: Recent additions are merged into the sorted base beyond this many.
    MERGE_AT = 1_000_000

    def __init__(self, hashes: np.ndarray, *, is_sorted: bool = False) -> None:
        hashes = hashes.astype(np.uint64, copy=False)
        self._base = hashes if is_sorted else np.sort(hashes)
        self._recent: set[int] = set()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._base) + len(self._recent)

    def contains(self, hashes: np.ndarray) -> np.ndarray:
        """A boolean mask: which of ``hashes`` may already be stored."""
        order = np.argsort(hashes)
        hit = np.empty(len(hashes), dtype=bool)
        hit[order] = self.contains_sorted(hashes[order])
        return hit

    def contains_sorted(self, hashes: np.ndarray) -> np.ndarray:
        """``contains`` for sorted ``hashes``: sorted needles walk the base in order, ~7x
        faster than random probes at 10M stored ids."""
        with self._lock:
            hit = np.zeros(len(hashes), dtype=bool)
            if len(self._base):
                pos = np.searchsorted(self._base, hashes)
                pos[pos == len(self._base)] = 0
                hit = self._base[pos] == hashes
            if self._recent:
                recent = self._recent
                hit |= np.fromiter((int(h) in recent for h in hashes), bool, len(hashes))
            return hit

    def add(self, hashes: np.ndarray, *, is_sorted: bool = False) -> None:
        """Record hashes of rows that were just committed (``is_sorted``: they are sorted)."""
        with self._lock:
            if len(hashes) >= self.MERGE_AT // 10:
                self._merge(hashes if is_sorted else np.sort(hashes.astype(np.uint64, copy=False)))
                return
            self._recent.update(hashes.tolist())
            if len(self._recent) >= self.MERGE_AT:
                self._merge(np.empty(0, np.uint64))

    def _merge(self, extra: np.ndarray) -> None:
        """Merge the recent set and the sorted ``extra`` into the base: a stable sort of sorted
        runs is a linear merge (timsort), ~60 ms for 11M hashes here."""
        recent = np.sort(np.fromiter(self._recent, np.uint64, len(self._recent)))
        merged = np.concatenate([self._base, recent, extra.astype(np.uint64, copy=False)])
        merged.sort(kind="stable")
        self._base = merged
        self._recent = set()
