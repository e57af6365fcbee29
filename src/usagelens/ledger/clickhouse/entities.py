"""Per-team entity views on ClickHouse (CONTRACT §4), with the same rules as the DuckDB ledger.

Entity tables are ``ReplacingMergeTree(version)`` keyed by ``(owner, id…)``: ``owner`` ``''`` is the
shared default, else the team whose key wrote the row; the row with the highest version wins
(read with ``FINAL``). A team's view of an id is its own row, else the shared default; a team's
view of itself and its projects is the rows that team wrote. The views are computed here in
Python from rows read by id, so no SQL text ever carries a caller's value.

Callers can rely on: ``lookup`` and ``teams`` never return a row owned by a team other than the
one the answer is about; ``owner`` never appears in what they return; what is kept in memory is
keyed by the store's change token, so another server's write is seen by the next read.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import pyarrow as pa

from usagelens.ledger.base import ProjectRef, Team
from usagelens.ledger.entity_rules import check_owner, entity_key
from usagelens.model import ENTITY_FIELDS, ENTITY_SCHEMAS

__all__ = ["SHARED", "Entities"]

SHARED = ""
_CACHED = ("users", "models", "projects", "teams")
Rows = Callable[[str, dict[str, Any]], list[dict[str, Any]]]
Key = tuple[str, ...]


class Entities:
    """Reads and writes of entities for one ClickHouse database."""

    def __init__(self, db: str, rows: Rows, insert: Callable[[str, pa.Table], None]) -> None:
        self._db = db
        self._rows = rows
        self._insert = insert
        self._lock = threading.Lock()
        self._cache: dict[str, tuple[object, dict[Key, dict[str, Any]]]] = {}
        self._teams: tuple[object, list[Team]] | None = None

    def upsert(self, kind: str, batch: pa.Table, team: str | None) -> int:
        """Write ``team``'s rows (None: the shared default); the last record of an id wins."""
        schema = ENTITY_SCHEMAS[kind]
        batch = batch.select(schema.names).cast(schema)
        if team is not None:
            check_owner(kind, batch, team)
        if batch.num_rows == 0:
            return 0
        # one version for the whole batch would let ClickHouse keep any of an id's records:
        # versions grow along the batch, so the last record of an id wins, as in DuckDB
        base = time.time_ns()
        table = batch.append_column("owner", pa.array([team or SHARED] * batch.num_rows, pa.string()))
        table = table.append_column("version", pa.array(range(base, base + batch.num_rows), pa.uint64()))
        self._insert(kind, table)
        return batch.num_rows

    def _all(self, kind: str, token: object) -> dict[Key, dict[str, Any]]:
        with self._lock:
            hit = self._cache.get(kind)
        if hit is not None and hit[0] == token:
            return hit[1]
        cols = ", ".join(f.column for f in ENTITY_FIELDS[kind])
        loaded: dict[Key, dict[str, Any]] = {}
        for r in self._rows(f"SELECT owner, {cols} FROM `{self._db}`.{kind} FINAL", {}):
            owner = r.pop("owner")
            loaded[(owner, *(r[c] for c in entity_key(kind)))] = r
        with self._lock:
            self._cache[kind] = (token, loaded)
        return loaded

    def _by_id(self, kind: str, ids: list[str]) -> dict[Key, dict[str, Any]]:
        cols = ", ".join(f.column for f in ENTITY_FIELDS[kind])
        rows = self._rows(
            f"SELECT owner, {cols} FROM `{self._db}`.{kind} FINAL WHERE id IN {{ids:Array(String)}}", {"ids": ids}
        )
        out = {}
        for r in rows:
            owner = r.pop("owner")
            out[(owner, *(r[c] for c in entity_key(kind)))] = r
        return out

    def lookup(self, kind: str, ids: list[str], team: str | None, token: object) -> list[dict[str, Any]]:
        """See ``UsageReader.entities``."""
        wanted = sorted(set(ids))
        if not wanted:
            return []
        rows = self._all(kind, token) if kind in _CACHED else self._by_id(kind, wanted)
        if kind == "projects":
            pairs = sorted({(i, t) for (_, t, i) in rows if i in set(wanted) and (team is None or t == team)})
            found = (rows.get((t, t, i)) or rows.get((SHARED, t, i)) for i, t in pairs)
            return [r for r in found if r is not None]
        if kind == "teams":
            wanted = [i for i in wanted if team is None or i == team]
            found = (rows.get((i, i)) or rows.get((SHARED, i)) for i in wanted)
            return [r for r in found if r is not None]
        out = []
        for i in wanted:
            row = rows.get((team, i)) if team is not None else None
            row = row or rows.get((SHARED, i))
            if row is not None:
                out.append(row)
        return out

    def teams(self, token: object) -> list[Team]:
        """Every team in its own view, with its projects in its view, sorted by id (kept until
        the token changes: every answer asks for it)."""
        with self._lock:
            hit = self._teams
        if hit is not None and hit[0] == token:
            return hit[1]
        out = self._load_teams(token)
        with self._lock:
            self._teams = (token, out)
        return out

    def _load_teams(self, token: object) -> list[Team]:
        teams = self._all("teams", token)
        projects = self._all("projects", token)
        seen = self._rows(f"SELECT DISTINCT team_id, project_id FROM `{self._db}`.team_projects", {})
        pairs = {(t, p) for (_, t, p) in projects} | {(r["team_id"], r["project_id"]) for r in seen}
        per_team: dict[str, list[str]] = {i: [] for (_, i) in teams}
        for t, p in sorted(pairs):
            per_team.setdefault(t, []).append(p)
        out: list[Team] = []
        for team_id in sorted(per_team):
            row = teams.get((team_id, team_id)) or teams.get((SHARED, team_id))
            refs: list[ProjectRef] = []
            for p in per_team[team_id]:
                prow = projects.get((team_id, team_id, p)) or projects.get((SHARED, team_id, p))
                refs.append(ProjectRef(id=p, name=prow["name"] if prow else None))
            out.append(Team(id=team_id, name=row["name"] if row else None, projects=refs))
        return out
