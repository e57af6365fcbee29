"""Export: a team's events, or its view of the entities, as a file ``usagelens ingest`` reads back.

Every surface (``usagelens export``, ``GET /v1/usage-events``, ``GET /v1/entities/{kind}``) calls
these functions and only writes their bytes out. Callers can rely on:

- **Who may read what** (CONTRACT §4): ``export_scope`` picks the team among those the caller can
  see (required when it can see several), refuses an ingest key (``Forbidden``), and answers a
  team the caller cannot see exactly as one that does not exist (``NotFound``); a project key's
  export holds only its project's events (and names).
- **The window** (``export_window``) is ``[start, end)`` in UTC, read as ``usage`` reads its
  dates: a date is that day's 00:00 UTC, and a date-only end *includes its whole day*; a
  date-time (with offset, else UTC) is that instant, an end one exclusive. Either may be absent:
  no bound on that side.
- **Rows** come from ``StoreContents.events`` (voided events left out), asked for one calendar
  month at a time (the store sorts a month, never the whole history), ordered by time then id,
  one batch (≤ 100,000 rows) in memory at a time; text formats come out as a generator of byte
  chunks, Parquet is written to a binary file. The bytes follow ``ingest.export``'s rules: exact
  decimals, UTC times with ``Z``, the API's field names; the same rows give the same bytes,
  whichever backend holds them.
- **Entities**: ``entity_table(kind)`` is the team's view (its own record of an id over the shared
  default) of the ids its events reference (all time; a project key: its project's events) and of
  the ids the team named itself; teams: the team; projects: its projects (a project key: its own).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from itertools import pairwise
from typing import IO, Protocol

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from usagelens.auth import Caller
from usagelens.errors import Forbidden, InvalidArgument, NotFound
from usagelens.ingest.export import text_chunks, write_parquet
from usagelens.ledger.base import FactQuery, StoreContents, UsageReader
from usagelens.ledger.entity_rules import entity_key
from usagelens.model import ENTITY_FIELDS, ENTITY_KINDS, ENTITY_SCHEMAS, EVENT_FIELDS, EVENT_SCHEMA
from usagelens.query_parse import FIRST_DAY, LAST_DAY, instant, shown, text, zone

__all__ = [
    "MEDIA_TYPES",
    "EventExport",
    "ExportScope",
    "Exportable",
    "entity_chunks",
    "entity_kind",
    "entity_table",
    "export_scope",
    "export_window",
    "write_entities",
]

#: The media type of each export format (HTTP ``Content-Type``).
MEDIA_TYPES = {
    "jsonl": "application/x-ndjson",
    "csv": "text/csv; charset=utf-8",
    "parquet": "application/vnd.apache.parquet",
}
#: The widest window any store answers for (``query_parse``'s day range).
_EARLIEST = datetime.combine(FIRST_DAY, datetime.min.time())
_LATEST = datetime(LAST_DAY.year + 1, 1, 1)
#: Teams listed in a "which team?" message.
_LISTED = 20


class Exportable(UsageReader, StoreContents, Protocol):
    """What an export reads: the team list and facts (``UsageReader``), the rows (``StoreContents``)."""


@dataclass(frozen=True)
class ExportScope:
    """What one export covers: a team the caller can see and, for a project key, its project."""

    team_id: str
    project_id: str | None = None


def export_scope(ledger: UsageReader, caller: Caller, team_id: str | None, name: str = "team") -> ExportScope:
    """The team ``caller`` exports (``name`` is how the surface calls the argument, for messages)."""
    if not caller.can_read:
        raise Forbidden("this key can only write events; exporting needs an analytics, project or admin key")
    teams = caller.visible_teams(ledger.teams())
    if team_id is None:
        if len(teams) == 1:
            return ExportScope(teams[0]["id"], caller.project_id)
        if not teams:
            raise NotFound("there is no team you can see yet: no usage has been recorded.", field=name)
        listed = ", ".join(t["id"] for t in teams[:_LISTED]) + (", …" if len(teams) > _LISTED else "")
        raise InvalidArgument(
            f"{name} is required because you can see {len(teams)} teams: {listed}; pass one of them.", field=name
        )
    text(name, team_id)
    if not any(t["id"] == team_id for t in teams):
        ids = ", ".join(t["id"] for t in teams[:_LISTED]) or "none"
        raise NotFound(f"{name}: '{shown(team_id)}' is not a team you can see; use one of: {ids}.", field=name)
    return ExportScope(team_id, caller.project_id)


def export_window(
    start: str | None, end: str | None, names: tuple[str, str] = ("start", "end")
) -> tuple[datetime | None, datetime | None]:
    """``[start, end)`` as naive UTC instants (None: unbounded); see the module docstring."""
    utc = zone("UTC")
    lo = instant(names[0], start, utc, False) if start is not None else None
    hi = instant(names[1], end, utc, True) if end is not None else None
    if lo is not None and hi is not None and hi <= lo:
        raise InvalidArgument(
            f"{names[1]} ({shown(end)}) is not after {names[0]} ({shown(start)}); swap them or pick a later "
            f"{names[1]} (a date-only {names[1]} includes its whole day).",
            field=names[1],
        )
    return lo, hi


class EventExport:
    """The events of one scope and window. ``rows`` counts the events produced so far; ``total()``
    is what the store holds for the scope and window now (for progress)."""

    def __init__(
        self,
        ledger: Exportable,
        scope: ExportScope,
        start: datetime | None,
        end: datetime | None,
        progress: Callable[[int], None] | None = None,
    ) -> None:
        self.ledger, self.scope, self.start, self.end = ledger, scope, start, end
        self.rows = 0
        self._progress = progress  # called with ``rows`` after each batch

    def total(self) -> int:
        """Events in scope, from the store's rollups (cheap; may differ from ``rows`` when
        events are written meanwhile)."""
        projects = (self.scope.project_id,) if self.scope.project_id else None
        q = FactQuery(self.scope.team_id, self.start or _EARLIEST, self.end or _LATEST, project_ids=projects)
        facts = self.ledger.facts(q)
        return int(facts.column("events")[0].as_py() or 0) if facts.num_rows else 0

    def spans(self) -> list[tuple[datetime | None, datetime | None]]:
        """The window cut at the first of each UTC month from the team's first event to today,
        so that the store orders one month at a time (its sort holds a month, not the team); the
        first and last spans are open, so an early or a future event is never missed."""
        activity = self.ledger.team_activity().get(self.scope.team_id)
        first = activity["created_at"] if activity else None
        if first is None:
            return [(self.start, self.end)]
        now = datetime.now(UTC).replace(tzinfo=None)
        lo = max(first, self.start) if self.start else first
        hi = min(now, self.end) if self.end else now
        cuts, month = [], datetime(lo.year, lo.month, 1)
        while True:
            month = datetime(month.year + month.month // 12, month.month % 12 + 1, 1)
            if month >= hi:
                break
            cuts.append(month)
        edges = [self.start, *cuts, self.end]
        return list(pairwise(edges))

    def tables(self) -> Iterator[pa.Table]:
        """The events (``EVENT_SCHEMA``), batch by batch, ordered by time then id."""
        for lo, hi in self.spans():
            yield from self._span(lo, hi)

    def _span(self, lo: datetime | None, hi: datetime | None) -> Iterator[pa.Table]:
        for batch in self.ledger.events(self.scope.team_id, lo, hi):
            if self.scope.project_id is not None:
                batch = batch.filter(pc.equal(batch["project_id"], self.scope.project_id))
            self.rows += batch.num_rows
            yield batch
            if self._progress is not None:
                self._progress(self.rows)

    def chunks(self, fmt: str) -> Iterator[bytes]:
        """The ``jsonl`` or ``csv`` file, chunk by chunk (a header first for CSV)."""
        return text_chunks(self.tables(), EVENT_FIELDS, fmt)

    def write(self, fmt: str, sink: IO[bytes]) -> int:
        """Write the whole file in ``fmt`` to ``sink``; returns the events written."""
        if fmt == "parquet":
            write_parquet(self.tables(), EVENT_FIELDS, EVENT_SCHEMA, sink)
        else:
            for chunk in self.chunks(fmt):
                sink.write(chunk)
        return self.rows


def entity_kind(kind: str, name: str = "kind") -> str:
    """``kind`` when it is an entity kind, else ``InvalidArgument`` listing them."""
    if kind not in ENTITY_KINDS:
        raise InvalidArgument(
            f"{name}: '{shown(kind)}' is not an entity kind (accepted: {', '.join(ENTITY_KINDS)})", field=name
        )
    return kind


#: The event column whose ids each kind names.
_REFERENCED = {"users": "user_id", "models": "model_id", "jobs": "job_id", "assets": "asset_id"}


def _referenced(ledger: Exportable, scope: ExportScope, kind: str) -> pa.Table:
    """The distinct ids of ``kind`` the scope's events reference, all time."""
    column = _REFERENCED[kind]
    ids: set[str] = set()
    if kind in ("users", "models"):  # from the rollups: O(ids), not O(events)
        projects = (scope.project_id,) if scope.project_id else None
        q = FactQuery(scope.team_id, _EARLIEST, _LATEST, by=(column,), project_ids=projects)  # type: ignore[arg-type]
        ids.update(ledger.facts(q).column(column).to_pylist())
    else:
        for batch in EventExport(ledger, scope, None, None).tables():
            ids.update(pc.unique(batch[column]).to_pylist())
    ids.discard(None)  # type: ignore[arg-type]
    return pa.table({"id": pa.array(sorted(ids), pa.string())})


def entity_table(ledger: Exportable, scope: ExportScope, kind: str) -> pa.Table:
    """The team's view of ``kind`` (``ENTITY_SCHEMAS[kind]``), sorted by key; see the module docstring."""
    kind = entity_kind(kind)
    cols = [f.column for f in ENTITY_FIELDS[kind]]
    key = ", ".join(entity_key(kind))
    if kind == "teams":
        wanted = "id = $team"
    elif kind == "projects":
        wanted = "team_id = $team" + (" AND id = $project" if scope.project_id else "")
    else:
        own = " OR owner = $team" if scope.project_id is None else ""
        wanted = f"id IN (SELECT id FROM _ids){own}"
    con = duckdb.connect()
    try:
        con.register("_rows", ledger.entity_rows(kind))
        if kind in _REFERENCED:
            con.register("_ids", _referenced(ledger, scope, kind))
        params = {"team": scope.team_id, **({"project": scope.project_id} if "$project" in wanted else {})}
        got = con.sql(
            f"SELECT {', '.join(cols)} FROM _rows WHERE owner IN ('', $team) AND ({wanted}) "
            f"QUALIFY row_number() OVER (PARTITION BY {key} ORDER BY owner DESC) = 1 ORDER BY {key}",
            params=params,
        ).to_arrow_table()
    finally:
        con.close()
    return got.cast(ENTITY_SCHEMAS[kind])


def entity_chunks(table: pa.Table, kind: str, fmt: str) -> Iterator[bytes]:
    """``table`` (``entity_table``'s) as a ``jsonl`` or ``csv`` file, chunk by chunk."""
    return text_chunks([table], ENTITY_FIELDS[kind], fmt)


def write_entities(table: pa.Table, kind: str, fmt: str, sink: IO[bytes]) -> int:
    """Write ``table`` (``entity_table``'s) in ``fmt`` to ``sink``; returns the rows written."""
    if fmt == "parquet":
        write_parquet([table], ENTITY_FIELDS[kind], ENTITY_SCHEMAS[kind], sink)
    else:
        for chunk in entity_chunks(table, kind, fmt):
            sink.write(chunk)
    return table.num_rows
