"""Fact queries of the DuckDB backend: from memory when they can (``hot.py``), else one statement
(``facts.py``) each, several side by side.

Callers can rely on: ``facts`` returns what ``UsageReader.facts`` promises, the same table
whichever path answered (the property tests compare both); ``facts_many`` returns the tables
of several queries in order, answering the in-memory ones in the calling thread (a thread hop
costs more than they do) and running the rest concurrently (DuckDB releases the GIL).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import cast

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from usagelens.ledger.base import FACT_MEASURES, FactQuery
from usagelens.ledger.duckdb import facts as duckdb_facts
from usagelens.ledger.duckdb import hot, hotrows
from usagelens.ledger.duckdb.sql import quote
from usagelens.ledger.duckdb.write import Writer
from usagelens.ledger.rollups import Rollup, plan
from usagelens.ledger.shape import split_api
from usagelens.ledger.tiling import Piece

__all__ = ["FactReader"]

_POOL: ThreadPoolExecutor | None = None
#: Teams whose rows not compacted are kept (each read once per write).
_RECENT_TEAMS = 16
Plan = tuple[Rollup | None, list[Piece]]


def _pool() -> ThreadPoolExecutor:
    global _POOL
    if _POOL is None:
        _POOL = ThreadPoolExecutor(max_workers=4, thread_name_prefix="usagelens-facts")
    return _POOL


class _Refused(Exception):
    """Memory cannot answer (a sum past BIGINT millionths among the rows not compacted)."""


class FactReader:
    """Answers fact queries for one store; ``version()`` is the store's current write version,
    ``generation()`` its compaction generation (odd while a compaction moves rows)."""

    def __init__(
        self,
        con: duckdb.DuckDBPyConnection,
        writer: Writer,
        version: Callable[[], int],
        generation: Callable[[], int],
    ) -> None:
        self._con = con
        self._writer = writer
        self._version = version
        self._generation = generation
        self._hot = hot.HotFacts(self._hot_rows)
        #: team -> ((version, generation), its rows not compacted); a few teams at most
        self._recent: OrderedDict[str, tuple[tuple[int, int], hot.Recent]] = OrderedDict()
        self._lock = threading.Lock()

    def facts(self, query: FactQuery) -> pa.Table:
        """Grouped sums over the window; see ``UsageReader.facts``."""
        planned = plan(query)
        got = self._from_memory(query, planned)
        return self._finish(query, self._from_sql(query, planned) if got is None else got)

    def facts_many(self, queries: list[FactQuery]) -> list[pa.Table]:
        """``facts`` of each query, in order."""
        plans = [plan(q) for q in queries]
        got: list[pa.Table | None] = [self._from_memory(q, p) for q, p in zip(queries, plans, strict=True)]
        missing = [i for i, t in enumerate(got) if t is None]
        if len(missing) == 1:
            got[missing[0]] = self._from_sql(queries[missing[0]], plans[missing[0]])
        elif missing:
            asked = _pool().map(self._from_sql, [queries[i] for i in missing], [plans[i] for i in missing])
            for i, t in zip(missing, asked, strict=True):
                got[i] = t
        return [self._finish(q, cast(pa.Table, t)) for q, t in zip(queries, got, strict=True)]

    def _from_memory(self, query: FactQuery, planned: Plan) -> pa.Table | None:
        rollup, pieces = planned
        if rollup is None or not _whole_hours(query, pieces):
            return None
        generation = self._generation()
        if generation % 2:
            return None  # a compaction is moving rows into the main tables
        try:
            recent = self._recent_rows(query.team_id, generation)
        except _Refused:
            return None
        got = self._hot.facts(query.team_id, rollup, query.by, (query.start, query.end), generation, recent)
        # main tables and recent rows of one generation only: else the statement answers
        return got if self._generation() == generation else None

    def _recent_rows(self, team: str, generation: int) -> hot.Recent | None:
        """``team``'s rows not compacted yet, read once per store version (None: there are none)."""
        if self._writer.cached(self._con)[0] == 0:
            return None
        stamp = (self._version(), generation)
        with self._lock:
            held = self._recent.get(team)
        if held is not None and held[0] == stamp:
            return held[1]
        cur = self._con.cursor()
        try:
            table = cast(pa.Table, cur.execute(hotrows.recent_sql(team, quote)).to_arrow_table())
        except (duckdb.OutOfRangeException, duckdb.ConversionException) as exc:
            raise _Refused from exc
        finally:
            cur.close()
        got = hotrows.recent_rows(table)
        with self._lock:
            self._recent[team] = (stamp, got)
            self._recent.move_to_end(team)
            while len(self._recent) > _RECENT_TEAMS:
                self._recent.popitem(last=False)
        return got

    def _from_sql(self, query: FactQuery, planned: Plan) -> pa.Table:
        rollup, pieces = planned
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
        if query.by and self._writer.cached(self._con)[1]:  # a group whose events were all voided: gone
            got = got.filter(pc.not_equal(got["events"], 0))
        return got.select([*query.by, *FACT_MEASURES])

    def _hot_rows(self, team: str, rollup: Rollup, day: datetime | None) -> pa.Table:
        """One entry of the in-memory facts: ``team``'s day rows of ``rollup`` (its hour rows of
        ``day``)."""
        cur = self._con.cursor()
        try:
            whole = day is None or day == hotrows.ALL_HOURS
            if (
                whole
                and cur.execute(hotrows.count_sql(rollup, team, quote, day)).fetchall()[0][0] > hotrows.MAX_ENTRY_ROWS
            ):
                raise hotrows.Unfit(f"{team}: too many {rollup.name} rows to hold")
            return cast(pa.Table, cur.execute(hotrows.load_sql(rollup, team, quote, day)).to_arrow_table())
        except (duckdb.OutOfRangeException, duckdb.ConversionException) as exc:
            raise hotrows.Unfit(str(exc)) from exc  # a sum past BIGINT millionths: SQL answers
        finally:
            cur.close()


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
