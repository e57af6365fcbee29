"""Window tiling: pieces cover the window exactly once, at the coarsest grain that fits."""

from __future__ import annotations

import itertools
from datetime import datetime, timedelta

import pytest

from usagelens.ledger.rollups import buckets, choose_rollup
from usagelens.ledger.tiling import day_starts, tile


def _covered(pieces):
    return sorted((p.start, p.end) for p in pieces)


@pytest.mark.parametrize(
    ("start", "end"),
    [
        (datetime(2026, 3, 1), datetime(2026, 4, 1)),
        (datetime(2026, 3, 1, 5, 30), datetime(2026, 3, 9, 18, 45)),
        (datetime(2026, 3, 1, 5, 7, 3), datetime(2026, 3, 1, 5, 9)),
    ],
)
def test_pieces_tile_the_window_without_gaps_or_overlaps(start, end):
    pieces = tile(start, end, ("day", "hour"))
    spans = _covered(pieces)
    assert spans[0][0] == start and spans[-1][1] == end
    assert all(a[1] == b[0] for a, b in itertools.pairwise(spans))


def test_a_month_in_utc_is_whole_days():
    pieces = tile(datetime(2026, 3, 1), datetime(2026, 4, 1), ("day", "hour"))
    assert [(p.grain, p.start, p.end) for p in pieces] == [("day", datetime(2026, 3, 1), datetime(2026, 4, 1))]
    assert len(buckets(pieces)) == 31


def test_a_paris_month_is_days_plus_edge_hours():
    # 2026-03-01 00:00 Paris = 2026-02-28 23:00 UTC; 2026-04-01 00:00 Paris (CEST) = 03-31 22:00
    pieces = tile(datetime(2026, 2, 28, 23), datetime(2026, 3, 31, 22), ("day", "hour"))
    assert [(p.grain, p.start, p.end) for p in pieces] == [
        ("hour", datetime(2026, 2, 28, 23), datetime(2026, 3, 1)),
        ("day", datetime(2026, 3, 1), datetime(2026, 3, 31)),
        ("hour", datetime(2026, 3, 31), datetime(2026, 3, 31, 22)),
    ]


def test_half_hour_zones_read_only_the_half_hours_raw():
    pieces = tile(datetime(2026, 3, 1, 18, 30), datetime(2026, 3, 2, 18, 30), ("day", "hour"))
    raw = [(p.start, p.end) for p in pieces if p.grain is None]
    assert raw == [
        (datetime(2026, 3, 1, 18, 30), datetime(2026, 3, 1, 19)),
        (datetime(2026, 3, 2, 18), datetime(2026, 3, 2, 18, 30)),
    ]


def test_day_labels_follow_local_midnights_across_dst():
    # New York springs forward on 2026-03-08: that day is 23 hours long
    starts = day_starts(datetime(2026, 3, 7, 5), datetime(2026, 3, 10, 4), "America/New_York")
    assert starts == [datetime(2026, 3, 8, 5), datetime(2026, 3, 9, 4)]
    pieces = tile(datetime(2026, 3, 7, 5), datetime(2026, 3, 10, 4), ("day", "hour"), "America/New_York")
    hours = {}
    for p in pieces:
        hours[p.label] = hours.get(p.label, timedelta()) + (p.end - p.start)
    assert hours == {
        datetime(2026, 3, 7, 5): timedelta(hours=24),
        datetime(2026, 3, 8, 5): timedelta(hours=23),
        datetime(2026, 3, 9, 4): timedelta(hours=24),
    }


def test_a_day_whose_midnight_does_not_exist_starts_at_the_jump():
    # Santiago springs forward at 24:00 on 2026-09-05: 2026-09-06 starts at 01:00 local
    starts = day_starts(datetime(2026, 9, 5, 4), datetime(2026, 9, 7, 4), "America/Santiago")
    assert starts == [datetime(2026, 9, 6, 4), datetime(2026, 9, 7, 3)]


def test_each_query_uses_the_narrowest_rollup_that_holds_its_dimensions():
    assert choose_rollup(set()).name == "action"
    assert choose_rollup({"day", "action"}).name == "action"
    assert choose_rollup({"model_id"}).name == "model"
    assert choose_rollup({"user_id", "project_id"}).name == "user"
    assert choose_rollup({"label"}).name == "nsfw"
    assert choose_rollup({"model_id", "user_id"}) is None  # raw events
