"""The duplicate pre-check set: a sorted base plus sorted runs of recent additions."""

from __future__ import annotations

import itertools

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

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
    assert len(ks) == 12 and not ks._runs
    assert ks.contains(np.arange(14, dtype=np.uint64)).tolist() == [True] * 12 + [False] * 2


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.integers(0, 2**64 - 1), max_size=40),
    st.lists(st.lists(st.integers(0, 2**64 - 1), max_size=30), max_size=25),
    st.integers(1, 60),
    st.booleans(),
)
def test_membership_after_any_sequence_of_adds_is_the_sets(stored, adds, merge_at, presorted):
    ks = KeySet(np.array(stored, dtype=np.uint64))
    ks.MERGE_AT = merge_at
    known = set(stored)
    for batch in adds:
        values = np.array(sorted(batch) if presorted else batch, dtype=np.uint64)
        ks.add(values, is_sorted=presorted)
        known.update(batch)
        sizes = [len(r) for r in ks._runs]
        # a binary counter of sorted runs: each at least twice the next, fewer than MERGE_AT in all
        assert all(a >= 2 * b for a, b in itertools.pairwise(sizes)) and sum(sizes) < merge_at
        assert all(np.all(r[:-1] <= r[1:]) for r in [ks._base, *ks._runs])
        needles = np.array([*batch, *stored[:5], 0, 2**64 - 1, 12345], dtype=np.uint64)
        assert ks.contains(needles).tolist() == [int(v) in known for v in needles.tolist()]
    assert len(ks) == len(stored) + sum(len(b) for b in adds)  # duplicates kept: a count of hashes
