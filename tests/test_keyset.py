"""The duplicate pre-check set."""

from __future__ import annotations

import numpy as np

from usagelens.ledger.duckdb.keyset import KeySet


def test_membership_covers_the_base_and_recent_additions():
    ks = KeySet(np.array([5, 1, 9], dtype=np.uint64))
    ks.add(np.array([7], dtype=np.uint64))
    got = ks.contains(np.array([1, 2, 7, 9, 10, 2**64 - 1], dtype=np.uint64))
    assert got.tolist() == [True, False, True, True, False, False]
    assert len(ks) == 4


def test_recent_additions_merge_into_the_sorted_base():
    ks = KeySet(np.empty(0, np.uint64))
    ks.MERGE_AT = 10
    ks.add(np.arange(5, dtype=np.uint64))
    ks.add(np.arange(5, 12, dtype=np.uint64))
    assert len(ks) == 12 and not ks._recent
    assert ks.contains(np.arange(14, dtype=np.uint64)).tolist() == [True] * 12 + [False] * 2
