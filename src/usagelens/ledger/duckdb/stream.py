"""A stream of event batches as ``DuckDBLedger.write_events_stream`` reads it.

Each batch is cast to ``EVENT_SCHEMA`` when it is read and dropped once the writer has moved on;
what the entity views need after the commit (``EntityViews.events_written``: each team, project
and user with its first event time) is kept per batch as a few grouped rows, never the batch.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import numpy as np
import pyarrow as pa

from usagelens.model import EVENT_SCHEMA

__all__ = ["Stream"]

_WHO = ["team_id", "project_id", "user_id"]


class Stream:
    """``batches`` read one at a time (empty ones skipped), with ``peek`` to read a few ahead."""

    def __init__(self, batches: Iterable[pa.Table]) -> None:
        self._source = iter(batches)
        self._ahead: list[pa.Table] = []
        #: Per batch read: its distinct (team, project, user) with their first ``time``.
        self._seen: list[pa.Table] = []

    def peek(self, n: int) -> int:
        """Read until ``n`` batches are held ahead (fewer when the stream ends); returns how many
        are. They are still given by iteration; an exception of the source propagates."""
        while len(self._ahead) < n and (batch := self._next()) is not None:
            self._ahead.append(batch)
        return len(self._ahead)

    def __iter__(self) -> Iterator[pa.Table]:
        while self._ahead:
            yield self._ahead.pop(0)
        while (batch := self._next()) is not None:
            yield batch
            del batch  # not held while the next one is read

    def _next(self) -> pa.Table | None:
        for batch in self._source:
            if batch.num_rows:
                batch = batch.select(EVENT_SCHEMA.names).cast(EVENT_SCHEMA)
                who = batch.select([*_WHO, "time"]).group_by(_WHO, use_threads=False).aggregate([("time", "min")])
                self._seen.append(who.rename_columns([*_WHO, "time"]))
                return batch
        return None

    def written(self, masks: list[np.ndarray]) -> pa.Table | None:
        """What ``EntityViews.events_written`` needs of the rows written (``masks``: per batch read,
        which of its rows were), or None when a batch was written only in part: its rows are not
        held, so the views must reload (``EntityViews.invalidate``)."""
        whole = []
        for seen, keep in zip(self._seen, masks, strict=True):
            if keep.all():
                whole.append(seen)
            elif keep.any():
                return None
        return pa.concat_tables(whole) if whole else None
