"""The activity log of a Scenario account, page by page (``activity`` and ``activityOffset``).

Scenario lists activity 100 entries at a time, newest first, within one request's window (at
most 120 days). A page of a longer window starts in its newest request; when the offset passes
that request's entries, the page continues in the next older one. Where an older request starts
is found from page lengths: a page at offset ``o`` holds ``min(100, n - o)`` entries, and the
usage-event count gives a first guess (usually right, so one request settles it).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any, cast

from usagelens.ledger.base import ActivityQuery, EventRow
from usagelens.query import PAGE
from usagelens.sources.scenario.activity import assign_ids, entity_rows, to_event
from usagelens.sources.scenario.client import ScenarioClient
from usagelens.sources.scenario.fetch import Scope, SectionFetcher
from usagelens.sources.scenario.plan import Chunk, split
from usagelens.sources.scenario.rows import series_rows

__all__ = ["ActivityPager", "events_of"]

Entry = dict[str, Any]


def events_of(entries: list[Entry], entities: Any, team_id: str, ids: bool = True) -> list[dict[str, Any]]:
    """Activity entries as ledger event rows (with stable ids unless ``ids`` is False)."""
    ents = entity_rows(entities)
    kinds = {a["id"]: a["kind"] for a in ents.get("assets", []) if a["kind"]}
    api = {u["id"]: u["is_api_key"] for u in ents.get("users", [])}
    events = [to_event(e, team_id, kinds, api) for e in entries]
    if ids:
        assign_ids(entries, events)
    return events


class ActivityPager:
    """Pages of activity for ``ScenarioLedger.activity`` and for sync."""

    def __init__(
        self, client: ScenarioClient, fetcher: SectionFetcher, remember: Callable[[dict[str, Any], str], None]
    ) -> None:
        self._client = client
        self._fetcher = fetcher
        self._remember = remember

    def activity(self, query: ActivityQuery) -> list[EventRow]:
        """The events ``[offset, offset + limit)`` of the window, newest first."""
        if query.project_ids == () or query.user_ids == () or query.limit <= 0:
            return []
        scope = Scope(query.team_id, query.project_ids, query.user_ids)
        chunks = split(query.start, query.end)[::-1]
        out: list[dict[str, Any]] = []
        skip = query.offset
        try:
            for chunk in chunks:
                if len(out) >= query.limit:
                    break
                if skip and len(chunks) > 1:
                    n = self._count(scope, chunk)
                    if skip >= n:
                        skip -= n
                        continue
                out += self._page(scope, chunk, skip, query.limit - len(out))
                skip = 0
        except ValueError as e:
            raise self._client.malformed("GET /v1/usages", str(e)) from None
        for event in out:
            event.pop("team_id", None)
        return cast(list[EventRow], out)  # events_of builds each row with EventRow's columns

    def pages(self, scope: Scope, chunk: Chunk, offset: int = 0) -> Iterator[tuple[list[Entry], Any]]:
        """Every page of ``chunk`` from ``offset``, as ``(entries, entities)``."""
        while True:
            entries, entities = self.entries(scope, chunk, offset)
            yield entries, entities
            if len(entries) < PAGE:
                return
            offset += len(entries)

    def entries(self, scope: Scope, chunk: Chunk, offset: int) -> tuple[list[Entry], Any]:
        """One page of raw entries and the response's ``entities`` (remembered for names)."""
        body = self._client.usages(
            team_id=scope.team_id,
            start=chunk[0],
            end=chunk[1],
            sections=["activity"],
            project_ids=scope.project_ids,
            user_ids=scope.user_ids,
            activity_offset=offset,
        )
        entries = body.get("activity")
        if not isinstance(entries, list):
            raise self._client.malformed("GET /v1/usages", "'activity' is missing or not a list")
        try:
            self._remember(body, scope.team_id)
        except ValueError as e:
            raise self._client.malformed("GET /v1/usages", str(e)) from None
        return entries, body.get("entities")

    def _page(self, scope: Scope, chunk: Chunk, offset: int, limit: int) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        while len(out) < limit:
            entries, entities = self.entries(scope, chunk, offset)
            out += events_of(entries, entities, scope.team_id)[: limit - len(out)]
            if len(entries) < PAGE:
                break
            offset += len(entries)
        return out

    def _count(self, scope: Scope, chunk: Chunk) -> int:
        """Entries in the activity log of ``chunk`` (see the module docstring)."""
        usage = series_rows(self._fetcher.bodies(scope, [chunk], {"usages"}), "usages", None)
        hint = sum(r.get("events", 0) for r in usage.values())
        lo, hi = 0, None  # lo <= n <= hi
        probe = max(hint - 1, 0)
        while True:
            n = len(self.entries(scope, chunk, probe)[0])
            if 0 < n < PAGE or (n == 0 and probe == lo):
                return probe + n
            if n == 0:
                hi = probe
            else:
                lo = probe + PAGE
            probe = 2 * lo if hi is None else lo if hi - lo < PAGE else (lo + hi) // 2
