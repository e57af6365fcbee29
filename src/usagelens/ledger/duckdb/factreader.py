"""Fact queries of the DuckDB backend: from memory when they can (``hot.py``), else one statement
(``facts.py``) each, several side by side.

Callers can rely on: ``facts`` returns what ``UsageReader.facts`` promises, the same table
whichever path answered (the property tests compare both); ``facts_many`` returns the tables
of several queries in order, answering the in-memory ones in the calling thread (a thread hop
costs more than they do) and running the rest concurrently (DuckDB releases the GIL).
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import cast

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from usagelens.ledger.base import FACT_MEASURES, FactQuery
from usagelens.ledger.duckdb import facts as duckdb_facts
from usagelens.ledger.duckdb import hot
from usagelens.ledger.duckdb.sql import quote
from usagelens.ledger.duckdb.write import Writer
from usagelens.ledger.rollups import Rollup, choose_rollup
from usagelens.ledger.shape import split_api
from usagelens.ledger.tiling import Piece, tile

__all__ = ["FactReader"]

_POOL: ThreadPoolExecutor | None = None


def _pool() -> ThreadPoolExecutor:
    global _POOL
    if _POOL is None:
        _POOL = ThreadPoolExecutor(max_workers=4, thread_name_prefix="usagelens-facts")
    return _POOL


class FactReader:
    """Answers fact queries for one store; ``version()`` is the store's current write version."""

    def __init__(self, con: duckdb.DuckDBPyConnection, writer: Writer, version: Callable[[], int]) -> None:
        self._con = con
        self._writer = writer
        self._version = version
        self._hot = hot.HotFacts(self._hot_rows)

    def facts(self, query: FactQuery) -> pa.Table:
        """Grouped sums over the window; see ``UsageReader.facts``."""
        got = self._from_memory(query)
        return self._finish(query, self._from_sql(query) if got is None else got)

    def facts_many(self, queries: list[FactQuery]) -> list[pa.Table]:
        """``facts`` of each query, in order."""
        got: list[pa.Table | None] = [self._from_memory(q) for q in queries]
        missing = [i for i, t in enumerate(got) if t is None]
        if len(missing) == 1:
            got[missing[0]] = self._from_sql(queries[missing[0]])
        elif missing:
            for i, t in zip(missing, _pool().map(self._from_sql, [queries[i] for i in missing]), strict=True):
                got[i] = t
        return [self._finish(q, cast(pa.Table, t)) for q, t in zip(queries, got, strict=True)]

    def clear(self) -> None:
        """Forget what is held in memory."""
        self._hot.clear()

    def _from_memory(self, query: FactQuery) -> pa.Table | None:
        rollup, pieces = _plan(query)
        if rollup is None or not _whole_hours(query, pieces):
            return None
        cur = self._con.cursor()
        try:
            if self._writer.recent_rows(cur) > 0:  # rows not compacted yet: only SQL sees them
                return None
        finally:
            cur.close()
        return self._hot.facts(query.team_id, rollup, query.by, query.start, query.end, self._version())

    def _from_sql(self, query: FactQuery) -> pa.Table:
        rollup, pieces = _plan(query)
        cur = self._con.cursor()
        try:
            recent = self._writer.recent_rows(cur) > 0
            sql, params, tables = duckdb_facts.fact_sql(query, rollup, pieces, recent)
            for name, table in tables.items():
                cur.register(name, table)
            rows = cast(pa.Table, cur.execute(sql, params).to_arrow_table())
        finally:
            cur.close()
        return split_api(rows, (["day"] if "day" in query.by else []) + [d for d in query.by if d != "day"])

    def _finish(self, query: FactQuery, got: pa.Table) -> pa.Table:
        if query.by:
            cur = self._con.cursor()
            try:
                if self._writer.has_voids(cur):  # a group whose events were all voided: gone
                    got = got.filter(pc.not_equal(got["events"], 0))
            finally:
                cur.close()
        return got.select([*query.by, *FACT_MEASURES])

    def _hot_rows(self, team: str, rollup: Rollup, day: datetime | None) -> pa.Table:
        """One entry of the in-memory facts: ``team``'s day rows of ``rollup`` (its hour rows of
        ``day``)."""
        cur = self._con.cursor()
        try:
            return cast(pa.Table, cur.execute(hot.load_sql(rollup, team, quote, day)).to_arrow_table())
        except (duckdb.OutOfRangeException, duckdb.ConversionException) as exc:
            raise OverflowError(str(exc)) from exc  # a sum past BIGINT millionths: SQL answers
        finally:
            cur.close()


def _plan(query: FactQuery) -> tuple[Rollup | None, list[Piece]]:
    """The rollup that answers ``query`` and the pieces tiling its window."""
    dims = set(query.by) | ({"user_id"} if query.user_ids is not None else set())
    dims |= {"model_id"} if query.model_ids is not None else set()
    rollup = choose_rollup(dims)
    day_tz = query.timezone if "day" in query.by else None
    pieces = tile(query.start, query.end, rollup.grains if rollup else (), day_tz, query.per)
    if not pieces:
        pieces = [Piece(None, query.start, query.start, query.start if day_tz else None)]
    return rollup, pieces


def _whole_hours(query: FactQuery, pieces: list[Piece]) -> bool:
    """Whether memory can answer: the whole team (no filter, no project or day dimension), a
    window of whole UTC hours (tiled by rollup buckets only: no raw slice)."""
    return (
        query.project_ids is None
        and "project_id" not in query.by
        and query.user_ids is None
        and query.model_ids is None
        and "day" not in query.by
        and all(p.grain is not None for p in pieces)
    )
