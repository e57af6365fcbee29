"""The records that cross the ledger's boundary: plain dicts at run time (``TypedDict``, checked by
the type checker) and ``StoreStats``. ``ledger.base`` re-exports them beside the protocols."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, NotRequired, TypedDict

__all__ = ["Activity", "EventRow", "KeyRecord", "ProjectRef", "StoreStats", "Team"]


@dataclass(frozen=True)
class StoreStats:
    """What a store holds, for ``usagelens stats``."""

    backend: str
    location: str
    events: int
    first_event: datetime | None
    last_event: datetime | None
    teams: int
    projects: int
    users: int
    models: int
    actions: int
    api_key_events: int
    total_cu: Any
    entities: dict[str, int] = field(default_factory=dict)
    rollup_rows: dict[str, int] = field(default_factory=dict)


class ProjectRef(TypedDict):
    """A project as ``teams()`` lists it: its id and the team's name for it."""

    id: str
    name: str | None


class Team(TypedDict):
    """A team as ``teams()`` lists it, with its projects (the team's own view of their names)."""

    id: str
    name: str | None
    projects: list[ProjectRef]


class Activity(TypedDict):
    """``team_activity()`` of a team or a project: distinct user ids, first event (naive UTC);
    None where the store cannot know. A team's entry also holds its projects'."""

    users_count: int | None
    created_at: datetime | None
    projects: NotRequired[dict[str, Activity]]


class EventRow(TypedDict):
    """One stored event as ``activity()`` returns it (ledger column names, CONTRACT §1)."""

    id: str
    time: datetime
    user_id: str
    project_id: str
    action: str
    cu: Any  # Decimal
    discount: Any  # Decimal
    model_id: str | None
    job_id: str | None
    asset_id: str | None
    collection_id: str | None
    asset_kind: str | None
    nsfw: list[str] | None
    is_api_key: bool


class KeyRecord(TypedDict):
    """An API key as the store keeps it (``auth.KeyStore`` hashes the secret before)."""

    key_id: str
    secret_hash: str
    salt: str
    team_id: str
    kind: str
    project_id: str | None
    label: str | None
    created_at: datetime
    revoked_at: NotRequired[datetime | None]
