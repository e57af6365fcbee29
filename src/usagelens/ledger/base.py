"""The ledger protocols: what every storage backend (DuckDB, ClickHouse) provides.

``UsageReader`` (what answers read), ``UsageWriter`` (what ingest writes), ``ControlStore`` (keys,
sync state) and ``Ledger``, all three plus ``stats``/``close``. Callers take the narrowest one;
nothing probes a backend for optional methods: what a backend may do is declared here.

The ledger stores raw usage events and entities, and answers *fact queries*: sums of the
measures below over a UTC window, grouped by a few dimensions, filtered by project and user.
It never knows about summaries, budgets or output formats (that is ``report/``).

Measures of every fact row (``FACT_MEASURES``), each also split for API-key events (``api_*``):
- ``events``: number of events; for the ``label`` dimension, number of events raising the label.
- ``jobs``: events carrying a ``jobId``, except refunds (a refund points at a job already
  counted), so job counts add up across days.
- ``assets``: events that created an asset (``assetKind`` set).
- ``cu`` / ``discount``: exact ``Decimal`` sums of ``creativeUnitsCost`` / ``discount``.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal, Protocol

from usagelens.ledger.records import Activity, EventRow, KeyRecord, ProjectRef, StoreStats, Team
from usagelens.ledger.series import SUB_HOUR

if TYPE_CHECKING:  # annotations only: the interfaces load without pyarrow (``usagelens --help``)
    import pyarrow as pa

    from usagelens.model import VoidResult, WriteResult

__all__ = [
    "DIMENSIONS",
    "EXPORT_BATCH",
    "FACT_MEASURES",
    "PERS",
    "Activity",
    "ActivityQuery",
    "BackupInfo",
    "ControlStore",
    "Dim",
    "EventRow",
    "FactQuery",
    "KeyRecord",
    "Ledger",
    "ProjectRef",
    "StoreBackup",
    "StoreContents",
    "StoreStats",
    "Team",
    "UsageReader",
    "UsageWriter",
]

Dim = Literal["project_id", "user_id", "model_id", "action", "asset_kind", "label", "day"]
DIMENSIONS: tuple[str, ...] = ("project_id", "user_id", "model_id", "action", "asset_kind", "label", "day")
BASE_MEASURES: tuple[str, ...] = ("events", "jobs", "assets", "cu", "discount")
FACT_MEASURES: tuple[str, ...] = BASE_MEASURES + tuple(f"api_{m}" for m in BASE_MEASURES)
#: The buckets of the ``day`` dimension (``FactQuery.per``): calendar days in the query's timezone,
#: or UTC hours and parts of hours (named as Scenario names granularities, aligned on the hour).
PERS: tuple[str, ...] = ("day", "hour", *SUB_HOUR)


@dataclass(frozen=True)
class FactQuery:
    """Sum the measures over ``[start, end)`` (naive UTC datetimes) for one team.

    ``by`` lists the grouping dimensions; ``day`` groups by the bucket ``per`` names and yields
    the bucket's first instant (naive UTC): a calendar day in ``timezone`` (``"day"``), a UTC hour
    (``"hour"``) or a part of one (``"30m"``, ``"15m"``, ``"5m"``, ``"1m"``: read from raw events,
    the rollups' finest grain being the hour). ``project_ids`` / ``user_ids`` / ``model_ids``
    filter when set.
    """

    team_id: str
    start: datetime
    end: datetime
    by: tuple[Dim, ...] = ()
    project_ids: tuple[str, ...] | None = None
    user_ids: tuple[str, ...] | None = None
    timezone: str = "UTC"
    model_ids: tuple[str, ...] | None = None
    per: str = "day"  # the ``day`` dimension's bucket, one of ``PERS``

    def __post_init__(self) -> None:
        if self.per not in PERS:
            raise ValueError(f"FactQuery.per: {self.per!r} is not a bucket; use one of {', '.join(PERS)}")


@dataclass(frozen=True)
class ActivityQuery:
    """A page of raw events in ``[start, end)``, newest first (ties broken by id, descending)."""

    team_id: str
    start: datetime
    end: datetime
    project_ids: tuple[str, ...] | None = None
    user_ids: tuple[str, ...] | None = None
    offset: int = 0
    limit: int = 100


class UsageReader(Protocol):
    """What answers read: facts, activity pages, entity names, teams. Safe to call from several
    threads at once; every read sees whole batches only (a write is visible all or not at all)."""

    def facts(self, query: FactQuery) -> pa.Table:
        """Grouped sums: one row per group, columns ``query.by`` then ``FACT_MEASURES``."""
        ...

    def activity(self, query: ActivityQuery) -> list[EventRow]:
        """Raw events of one page, as dicts keyed by column name."""
        ...

    def entities(self, kind: str, ids: list[str], team: str | None) -> list[dict[str, Any]]:
        """``team``'s view of the entities of ``kind`` among ``ids``, sorted by id (unknown ids
        are absent): per id, the row ``team`` wrote, else the shared default. Teams and
        projects are ``team``'s own only. ``team`` None: every team's teams and projects (each
        in its own view) and of other kinds the shared default only (CONTRACT §4)."""
        ...

    def teams(self) -> list[Team]:
        """Every team with ``id``, ``name`` and ``projects`` (``id``, ``name``), sorted by id;
        each team's name and project names are that team's view."""
        ...

    def team_activity(self) -> dict[str, Activity]:
        """Per team id: ``users_count`` (distinct user ids of its events), ``created_at`` (its
        first event, naive UTC) and ``projects`` (project id -> the same two, for each project
        with events). A team without events is absent; a value the store cannot know is None.
        Kept apart from ``teams()``, which every query reads: only team endpoints pay for it."""
        ...

    def docs(self, kind: str) -> dict[str, str]:
        """Every control document of ``kind`` by id (``ControlStore.put_doc``): budgets and grants,
        which answers show."""
        ...

    def cache_token(self) -> object | None:
        """A value that changes whenever what this reader answers may have changed (a write of
        this process or, for a shared store, of any); equal tokens mean equal answers, so
        callers may cache answers under it. None: do not cache (the reader has its own rules)."""
        ...


class UsageWriter(Protocol):
    """What ingest writes. Each call is atomic (all of its rows or none) and, once it returns,
    durable; calls from several threads are serialised by the writer."""

    def write_events(self, batch: pa.Table) -> WriteResult:
        """Store a validated batch (``model.EVENT_SCHEMA``, CONTRACT §1's defaults applied by
        ``model.with_defaults``: no null CU, discount or API-key flag) all or nothing.

        An event whose ``(team_id, id)`` is already stored, or repeats earlier in the batch,
        is skipped and counted in ``WriteResult.duplicates``.
        """
        ...

    def write_events_many(self, batches: list[pa.Table]) -> list[WriteResult]:
        """``write_events`` of several batches in one transaction, as if written in order."""
        ...

    def write_events_stream(self, batches: Iterable[pa.Table]) -> WriteResult:
        """Store every batch of ``batches`` (each as ``write_events`` takes one) as if written in
        order, all or nothing; returns the totals (``written`` and ``duplicates`` over the stream).

        Duplicates are counted as ``write_events`` counts them, across batches too (an id of an
        earlier batch of the stream is a duplicate). ``batches`` is read once, in order, and may
        be lazy (``ingest.pipeline.valid_batches``): an exception it raises — e.g. ``InvalidInput``
        after the last batch — writes nothing, is re-raised, and leaves the store as it was. A
        backend writes in memory bounded by a batch where it can (DuckDB: one transaction read
        batch by batch); one that cannot make separate writes one transaction reads the whole
        stream first (ClickHouse, a server)."""
        ...

    def upsert_entities(self, kind: str, batch: pa.Table, team: str | None = None) -> int:
        """Insert or replace ``team``'s view of entities of ``kind`` (``model.ENTITY_SCHEMAS``);
        returns rows. ``team`` None writes the shared default every team falls back to (local
        use, the platform, sync); a team's rows change what that team sees and nothing else,
        and a team may only write its own ``teams``/``projects`` rows (else ``Forbidden``)."""
        ...

    def void_events(
        self, team_id: str, ids: list[str], *, reason: str, by: str, replacements: pa.Table | None = None
    ) -> VoidResult:
        """Void stored events of ``team_id`` by id (CONTRACT §1 corrections), and write
        ``replacements`` (``EVENT_SCHEMA``, validated, of ``team_id``) in the same transaction.

        A voided event leaves every answer (facts, activity, ``events``) and every rollup grain
        exactly; its record (``VOID_SCHEMA``: the event, ``by``, the time, ``reason``) stays in
        ``voids`` and its id stays taken (writing it again is a duplicate). Voiding an id voided
        before changes nothing (``already_voided``). An id this team never stored raises
        ``NotFound`` naming it, and nothing is written.
        """
        ...

    def put_voids(self, rows: pa.Table) -> int:
        """Store void records (``VOID_SCHEMA``) as they are, for copies of a store: their events
        are not stored here, and their ids become taken. Records already held are skipped;
        returns those stored."""
        ...

    def warm(self) -> None:
        """Load ahead of a write what writing needs (e.g. the stored ids); may do nothing. Safe
        to run in a thread beside the validation of the batch it prepares for."""
        ...

    def maintain(self) -> None:
        """Bring derived data (rollups) to its compact form now; answers are exact either way."""
        ...


class ControlStore(Protocol):
    """The store's own records: API keys and small values such as where a sync stopped."""

    def get_meta(self, key: str) -> str | None:
        """A small value stored under ``key`` (e.g. where a sync stopped), or None."""
        ...

    def set_meta(self, key: str, value: str) -> None:
        """Store ``value`` under ``key``, replacing any previous value (atomic)."""
        ...

    def put_key(self, record: KeyRecord) -> None:
        """Store an API key record (``auth.KeyRecord`` fields); its ``key_id`` is unique."""
        ...

    def api_keys(self) -> list[KeyRecord]:
        """Every API key record, revoked ones included, sorted by creation."""
        ...

    def keys_token(self) -> str:
        """A value that changes (in the store, for every process) whenever a key is created or
        revoked: callers may cache ``api_keys()`` for as long as it stays the same."""
        ...

    def revoke_key(self, key_id: str, when: datetime) -> bool:
        """Mark a key revoked; False when no live key has that id."""
        ...

    def put_doc(self, kind: str, doc_id: str, doc: str | None) -> None:
        """Store the small JSON document ``doc`` (a budget, a grant, a delivery state) as ``doc_id``
        of ``kind``, replacing any; None deletes it. Atomic; the newest write wins. Documents are
        part of what answers show (budgets), so a change changes ``cache_token``."""
        ...

    def claim(self, kind: str, claim_id: str, doc: str) -> str:
        """Record ``doc`` as ``claim_id`` of ``kind`` unless that id is claimed already; returns
        the document that holds it: ``doc`` when this call made the claim, else the earlier one.
        Exactly one of concurrent claims of an id wins, across threads, processes and servers
        sharing the store (how an alert is raised once). Claims are never removed."""
        ...

    def claims(self, kind: str) -> dict[str, str]:
        """Every claim of ``kind``, by id."""
        ...


@dataclass(frozen=True)
class BackupInfo:
    """A backup ``StoreBackup.backup`` wrote: the file, its size, the events it holds, the time it
    took and how it was made (``checkpoint+copy`` or ``copy-database``)."""

    path: str
    bytes: int
    events: int
    seconds: float
    method: str


class StoreBackup(Protocol):
    """A consistent copy of the whole store while it serves (``usagelens backup``, ``GET /v1/backup``)."""

    def backup(self, path: str) -> BackupInfo:
        """Write a snapshot of the whole store (events, rollups, entities, keys, voids, meta) to a new
        DuckDB file at ``path`` (which must not exist: ``Conflict``) while reads and writes go on.
        The snapshot holds every write acknowledged before the call and none in part (the state
        at one instant during the call). ``path`` never holds half a file: it is removed when the
        copy fails. A backend that cannot make one raises ``Conflict`` naming what to use instead."""
        ...


#: Rows per batch of ``StoreContents.events``.
EXPORT_BATCH = 100_000


class StoreContents(Protocol):
    """Everything a store holds, in the shapes writes take: for copies (``usagelens migrate``)."""

    def events(
        self, team: str | None = None, start: datetime | None = None, end: datetime | None = None
    ) -> Iterator[pa.Table]:
        """Stored events (``model.EVENT_SCHEMA``) in ``[start, end)`` (naive UTC; None: no bound) of
        ``team`` (None: every team), ordered by team, time and id, in batches of at most
        ``EXPORT_BATCH`` rows."""
        ...

    def entity_rows(self, kind: str) -> pa.Table:
        """Every stored row of ``kind``: ``owner`` (``''`` for the shared default, else the team that
        wrote it) then the columns of ``model.ENTITY_SCHEMAS[kind]``, ordered by owner and key."""
        ...

    def meta_items(self) -> dict[str, str]:
        """Every value of the control store (``get_meta``'s keys and values)."""
        ...

    def voids(self, team: str | None = None) -> pa.Table:
        """The void records (``VOID_SCHEMA``) of ``team`` (None: every team), oldest void first
        (then team and id): the audit trail of corrections."""
        ...


class Ledger(UsageReader, UsageWriter, ControlStore, StoreContents, StoreBackup, Protocol):
    """A usage store: reader, writer and control store in one, usable as a context manager."""

    def stats(self) -> StoreStats:
        """Counts of what the store holds."""
        ...

    def close(self) -> None:
        """Release the store."""
        ...

    def __enter__(self) -> Ledger: ...

    def __exit__(self, *exc: object) -> None:
        """``close()``."""
        ...
