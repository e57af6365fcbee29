"""Who is asking and what they may see (CONTRACT §4).

``Caller`` is built once per request by a surface (from an API key, or ``Caller.local()`` for the
owner of the store on this machine) and passed to every core function. The core never trusts a
``team_id`` argument on its own: it only ever picks among ``caller.visible_teams(...)``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

__all__ = ["Caller", "KeyKind"]

KeyKind = Literal["local", "analytics", "project", "ingest"]


@dataclass(frozen=True)
class Caller:
    """A caller's view: every team (``team_id`` None, local use) or one team, possibly one project.

    - ``local``: the store's owner on this machine; sees and writes everything.
    - ``analytics``: reads every project of ``team_id``.
    - ``project``: reads ``project_id`` of ``team_id`` only.
    - ``ingest``: writes events of ``team_id``; reads nothing.
    """

    kind: KeyKind = "local"
    team_id: str | None = None
    project_id: str | None = None
    key_id: str | None = None

    @classmethod
    def local(cls) -> Caller:
        """The store's owner: sees every team."""
        return cls()

    @property
    def can_read(self) -> bool:
        return self.kind != "ingest"

    @property
    def can_write(self) -> bool:
        return self.kind in ("local", "ingest")

    def visible_teams(self, teams: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """The teams (with their visible projects) this caller may read, from ``Ledger.teams()``."""
        if not self.can_read:
            return []
        if self.team_id is None:
            return teams
        out = []
        for t in teams:
            if t["id"] != self.team_id:
                continue
            projects = t["projects"]
            if self.project_id is not None:
                projects = [p for p in projects if p["id"] == self.project_id]
            out.append({**t, "projects": projects})
        return out

    def may_write_team(self, team_id: str) -> bool:
        """Whether events of ``team_id`` may be written by this caller."""
        return self.kind == "local" or (self.kind == "ingest" and team_id == self.team_id)
