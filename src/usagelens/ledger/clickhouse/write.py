"""The ClickHouse write path: the exact duplicate check, then inserts that a retry cannot double.

Materialized views count every row an INSERT carries, so duplicates are removed *before* it:
repeats inside the batch (first wins), then ids already stored, looked up by primary key in
``event_ids``. Each insert holds one month (one partition: ClickHouse makes an insert atomic
per block and partition) and carries an ``insert_deduplication_token`` derived from its ids, with
``deduplicate_blocks_in_dependent_materialized_views``: an insert retried after a lost answer is
dropped whole, in the events and in every view. Writers of one process are serialised by the
ledger; two processes writing the same new id at the same instant can both pass the check (the
README states this window).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from datetime import datetime
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from usagelens.errors import InvalidInput, Problem

__all__ = ["LOOKUP_CHUNK", "MAX_BLOCK", "TIME_RANGE", "insert_plan", "new_rows"]

#: Ids per duplicate-check query (they travel as one Array(String) parameter).
LOOKUP_CHUNK = 5_000
#: Rows per insert at most: below ClickHouse's max_insert_block_size, so one insert is one block.
MAX_BLOCK = 500_000
#: What a DateTime64 column holds.
TIME_RANGE = (datetime(1900, 1, 1), datetime(2299, 12, 31, 23, 59, 59, 999999))

Query = Callable[[str, dict[str, Any]], list[tuple[Any, ...]]]


def check_times(batch: pa.Table) -> None:
    """Refuse a batch with a time ClickHouse cannot hold (one sentence naming the first)."""
    times = batch["time"]
    lo, hi = pc.min_max(times).values()
    if lo.as_py() is None or (TIME_RANGE[0] <= lo.as_py() and hi.as_py() <= TIME_RANGE[1]):
        return
    bad = pc.or_(
        pc.less(times, pa.scalar(TIME_RANGE[0], times.type)), pc.greater(times, pa.scalar(TIME_RANGE[1], times.type))
    )
    i = int(pc.index(bad, True).as_py())
    raise InvalidInput(
        f"time: {batch['time'][i].as_py().isoformat()} is outside what a ClickHouse store holds "
        "(1900-01-01 to 2299-12-31)",
        problems=[
            Problem(i, "time", f"{batch['time'][i].as_py().isoformat()} is outside 1900-01-01 to 2299-12-31", "index")
        ],
        field="time",
    )


def _first_of_each(batch: pa.Table) -> np.ndarray:
    """Mask of the first row of each ``(team_id, id)`` in the batch."""
    n = batch.num_rows
    keyed = pa.table({"t": batch["team_id"], "i": batch["id"], "rn": pa.array(np.arange(n, dtype=np.int64))})
    firsts = keyed.group_by(["t", "i"], use_threads=False).aggregate([("rn", "min")])["rn_min"]
    keep = np.zeros(n, dtype=bool)
    keep[firsts.to_numpy()] = True
    return keep


def new_rows(batch: pa.Table, query: Query, db: str) -> np.ndarray:
    """Mask of the rows to insert: first of their id in the batch and not stored before."""
    keep = _first_of_each(batch)
    candidates = batch.filter(pa.array(keep)).select(["team_id", "id"])
    stored: set[tuple[str, str]] = set()
    for team_scalar in pc.unique(candidates["team_id"]):
        team = team_scalar.as_py()
        ids = candidates.filter(pc.equal(candidates["team_id"], team))["id"].to_pylist()
        for i in range(0, len(ids), LOOKUP_CHUNK):
            rows = query(
                f"SELECT id FROM `{db}`.event_ids WHERE team_id = {{team:String}} AND id IN {{ids:Array(String)}}",
                {"team": team, "ids": ids[i : i + LOOKUP_CHUNK]},
            )
            stored.update((team, r[0]) for r in rows)
    if stored:
        pairs = zip(batch["team_id"].to_pylist(), batch["id"].to_pylist(), strict=True)
        keep &= np.array([p not in stored for p in pairs], dtype=bool)
    return keep


def _token(block: pa.Table) -> str:
    h = hashlib.sha256()
    for t, i in sorted(zip(block["team_id"].to_pylist(), block["id"].to_pylist(), strict=True)):
        h.update(t.encode() + b"\x00" + i.encode() + b"\x01")
    return "usagelens-" + h.hexdigest()


def insert_plan(new: pa.Table) -> list[tuple[pa.Table, str]]:
    """The inserts that store ``new`` (``EVENT_SCHEMA``): one per month and at most ``MAX_BLOCK``
    rows, each with its deduplication token, in the shape of the ``events`` table."""
    nsfw = new["nsfw"]
    stored = new.set_column(
        new.schema.get_field_index("nsfw"), "nsfw", pc.fill_null(nsfw, pa.scalar([], nsfw.type))
    ).append_column("nsfw_null", pc.is_null(nsfw))
    months = pc.add(pc.multiply(pc.year(new["time"]), 100), pc.month(new["time"]))
    out = []
    for month in pc.unique(months).to_pylist():
        part = stored.filter(pc.equal(months, month))
        for start in range(0, part.num_rows, MAX_BLOCK):
            block = part.slice(start, MAX_BLOCK)
            out.append((block, _token(block)))
    return out
