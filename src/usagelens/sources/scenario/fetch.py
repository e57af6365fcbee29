"""Fetch ``GET /v1/usages`` sections once: a short-lived cache shared by concurrent fact queries.

One usage answer asks the ledger for several fact tables at once (from several threads), and
some need the same section of the same window (model usages, for instance). ``SectionFetcher``
requests each (scope, chunk, section) once: the first thread to need it registers a future and
asks Scenario for every section it is missing in one request; the others wait for that future.
A thread registers and sends in one go before it waits, so no wait can ever cycle. Entries live
``ttl`` seconds (answers stay live) and failures are never cached.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from usagelens.sources.scenario.client import ScenarioClient
from usagelens.sources.scenario.plan import Chunk
from usagelens.sources.scenario.rows import SECTION_KEYS

__all__ = ["Scope", "SectionFetcher"]


@dataclass(frozen=True)
class Scope:
    """Who and what a request covers, besides its window."""

    team_id: str
    project_ids: tuple[str, ...] | None = None
    user_ids: tuple[str, ...] | None = None


_Key = tuple[Scope, Chunk, str]


class SectionFetcher:
    """Sections of ``GET /v1/usages`` per chunk, each requested once per ``ttl`` seconds."""

    def __init__(
        self,
        client: ScenarioClient,
        on_body: Callable[[dict[str, Any], str], None],
        *,
        ttl: float = 30.0,
        workers: int = 4,
        max_entries: int = 2048,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._client = client
        self._on_body = on_body
        self._ttl = ttl
        self._max = max_entries
        self._clock = clock
        self._lock = threading.Lock()
        self._cache: dict[_Key, tuple[float, Future]] = {}
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="usagelens-scenario")

    def bodies(self, scope: Scope, chunks: list[Chunk], sections: set[str]) -> list[tuple[Chunk, dict[str, Any]]]:
        """For each chunk, a body holding ``sections`` (response keys as Scenario names them)."""
        if len(chunks) <= 1:
            return [(c, self._chunk(scope, c, sections)) for c in chunks]
        futures = [self._pool.submit(self._chunk, scope, c, sections) for c in chunks]
        return [(c, f.result()) for c, f in zip(chunks, futures, strict=True)]

    def _chunk(self, scope: Scope, chunk: Chunk, sections: set[str]) -> dict[str, Any]:
        now = self._clock()
        mine: dict[str, Future] = {}
        with self._lock:
            self._expire(now)
            wanted = {s: self._cache.get((scope, chunk, s)) for s in sections}
            for s, hit in wanted.items():
                if hit is None:
                    mine[s] = Future()
                    self._cache[(scope, chunk, s)] = (now, mine[s])
        if mine:
            self._request(scope, chunk, mine)
        out: dict[str, Any] = {}
        for s in sections:
            hit = wanted[s]
            future = mine[s] if hit is None else hit[1]
            out[SECTION_KEYS[s][0]] = future.result()
        return out

    def _request(self, scope: Scope, chunk: Chunk, mine: dict[str, Future]) -> None:
        try:
            body = self._client.usages(
                team_id=scope.team_id,
                start=chunk[0],
                end=chunk[1],
                sections=mine,
                project_ids=scope.project_ids,
                user_ids=scope.user_ids,
            )
            self._on_body(body, scope.team_id)
        except BaseException as e:
            self._fail(scope, chunk, mine, e)
            raise
        for s, future in mine.items():
            future.set_result(body.get(SECTION_KEYS[s][0]))

    def _fail(self, scope: Scope, chunk: Chunk, mine: dict[str, Future], error: BaseException) -> None:
        with self._lock:
            for s in mine:
                self._cache.pop((scope, chunk, s), None)
        for future in mine.values():
            future.set_exception(error)
            future.exception()  # mark retrieved: waiters re-raise it, nobody logs it

    def _expire(self, now: float) -> None:
        stale = [k for k, (t, f) in self._cache.items() if now - t > self._ttl and f.done()]
        for k in stale:
            del self._cache[k]
        while len(self._cache) > self._max:
            del self._cache[next(iter(self._cache))]

    def clear(self) -> None:
        """Forget every cached section."""
        with self._lock:
            self._cache.clear()

    def close(self) -> None:
        """Stop the worker threads: queued requests are cancelled and running ones finish first,
        so no connection outlives the client's pool (a request still running when the pool
        closed left its socket to the garbage collector)."""
        self._pool.shutdown(wait=True, cancel_futures=True)
