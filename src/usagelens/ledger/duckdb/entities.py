"""Per-team entity views of the DuckDB ledger (CONTRACT §4).

Every entity table has an ``owner`` column in its primary key: ``''`` for the shared default
(names written without a team: local use, the demo, sync, the platform), else the id of the
team whose key wrote the row. A team's view of an id is its own row when it has one, else the
shared default; no team ever reads or replaces another team's rows. A row replaces a row
whole: a team's record without an e-mail hides the default's e-mail from that team only.

Projects are keyed by ``(team_id, id)``, so ``p1`` of team A and ``p1`` of team B are two
projects; a team's key only writes its own team and projects (checked here too).

Callers can rely on: ``lookup`` and ``teams`` never return a row owned by a team other than
the one the answer is about; ``owner`` never appears in what they return.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import datetime
from typing import Any, cast

import duckdb
import pyarrow as pa

from usagelens.ledger.base import Activity, Team
from usagelens.ledger.duckdb.sql import entity_table_sql, quote
from usagelens.ledger.duckdb.teams import identities_sql, team_activity
from usagelens.ledger.entity_rules import check_owner, entity_key
from usagelens.model import ENTITY_FIELDS, ENTITY_SCHEMAS

__all__ = ["SHARED", "EntityViews", "migrate_sql", "upsert_sql", "view_sql"]

#: The owner of the shared default rows.
SHARED = ""
#: Kinds small enough (and asked for by every answer) to be served from memory.
_CACHED = ("users", "models", "projects")
Rows = Callable[[str], list[dict[str, Any]]]


def upsert_sql(kind: str, table: str, owner: str) -> str:
    """Insert or replace ``owner``'s rows from ``table``; the last record of an id wins."""
    cols = ", ".join(f.column for f in ENTITY_FIELDS[kind])
    return (
        f"INSERT OR REPLACE INTO {kind} (owner, {cols}) SELECT {quote(owner)}, {cols} FROM "
        f"(SELECT *, row_number() OVER () AS _rn FROM {table}) "
        f"QUALIFY row_number() OVER (PARTITION BY {', '.join(entity_key(kind))} ORDER BY _rn DESC) = 1"
    )


def migrate_sql(kind: str) -> list[str]:
    """Statements turning a schema-5 entity table (no owner) into this one: old rows become
    the shared default. Run inside the caller's transaction."""
    cols = ", ".join(f.column for f in ENTITY_FIELDS[kind])
    return [
        entity_table_sql(kind, f"_new_{kind}"),
        f"INSERT INTO _new_{kind} ({cols}) SELECT {cols} FROM {kind}",
        f"DROP TABLE {kind}",
        f"ALTER TABLE _new_{kind} RENAME TO {kind}",
    ]


def view_sql(kind: str, team: str | None, where: str = "true") -> str:
    """Rows of ``kind`` as ``team`` sees them (``team`` None: the shared default only).

    A project's own rows are those of its team, so the team's view of its projects (and of
    the team itself) is ``owner = team_id`` (``owner = id`` for teams), else the default.
    """
    cols = ", ".join(f.column for f in ENTITY_FIELDS[kind])
    mine = {"teams": "id", "projects": "team_id"}.get(kind, quote(team) if team is not None else None)
    owners = f"owner IN ('', {mine})" if mine else "owner = ''"
    return (
        f"SELECT {cols} FROM {kind} WHERE {owners} AND ({where}) QUALIFY row_number() OVER "
        f"(PARTITION BY {', '.join(entity_key(kind))} ORDER BY owner DESC) = 1"
    )


def _teams_sql() -> str:
    ids = "SELECT id FROM teams UNION SELECT team_id FROM projects"
    return (
        f"WITH ids AS ({ids}), t AS ({view_sql('teams', None)}), p AS ({view_sql('projects', None)}) "
        "SELECT ids.id, t.name, coalesce(list({'id': p.id, 'name': p.name} ORDER BY p.id) "
        "FILTER (WHERE p.id IS NOT NULL), []) AS projects FROM ids LEFT JOIN t ON t.id = ids.id "
        "LEFT JOIN p ON p.team_id = ids.id GROUP BY ids.id, t.name ORDER BY ids.id"
    )


#: Identities held to keep ``team_activity`` current across writes (~100 B each); a store with
#: more drops the activity at each write instead.
_MAX_IDENTITIES = 2_000_000


def _updated(
    activity: dict[str, Activity], identities: dict[tuple[str, str | None], set[str]], rows: list[dict[str, Any]]
) -> dict[str, Activity]:
    """``activity`` after events of ``rows`` (team, project, user, first time): a new dict for
    every team touched (readers may hold the old one), identities added to ``identities``."""
    out = dict(activity)
    for r in rows:
        team, project, first = r["team_id"], r["project_id"], r["time_min"]
        for scope in ((team, None), (team, project)):
            identities.setdefault(scope, set()).add(r["user_id"])
        old = out.get(team) or Activity(users_count=0, created_at=None, projects={})
        projects = dict(old.get("projects") or {})
        before = projects.get(project) or Activity(users_count=0, created_at=None)
        projects[project] = Activity(
            users_count=len(identities[(team, project)]), created_at=_earliest(before["created_at"], first)
        )
        out[team] = Activity(
            users_count=len(identities[(team, None)]),
            created_at=_earliest(old["created_at"], first),
            projects=projects,
        )
    return out


def _earliest(a: datetime | None, b: datetime) -> datetime:
    return b if a is None or b < a else a


class EntityViews:
    """Reads and writes of entities, with the small kinds, the team list and the teams' activity
    kept in memory.

    ``rows(sql)`` runs a query on a fresh cursor; writes run on the caller's cursor (under the
    ledger's write lock). A reader that loaded a cache while a write committed never keeps it.
    """

    def __init__(self, rows: Rows) -> None:
        self._rows = rows
        self._lock = threading.Lock()
        self._generation = 0
        self._cache: dict[str, dict[tuple[str, ...], dict[str, Any]]] = {}
        self._teams: list[Team] | None = None
        self._activity: dict[str, Activity] | None = None
        #: (team, project or None) -> user ids with events: held with ``_activity`` once events
        #: arrive, so a write updates the counts instead of dropping them (at most _MAX_IDENTITIES)
        self._identities: dict[tuple[str, str | None], set[str]] | None = None

    def upsert(self, cur: duckdb.DuckDBPyConnection, kind: str, batch: pa.Table, team: str | None) -> int:
        """Write ``team``'s view (None: the shared default) atomically; returns rows given."""
        schema = ENTITY_SCHEMAS[kind]
        batch = batch.select(schema.names).cast(schema)
        if team is not None:
            check_owner(kind, batch, team)
        cur.register("_ent", batch)
        try:
            cur.execute("BEGIN")
            try:
                cur.execute(upsert_sql(kind, "_ent", team or SHARED))
                cur.execute("COMMIT")
            except BaseException:
                cur.execute("ROLLBACK")
                raise
        finally:
            cur.unregister("_ent")
            self.invalidate()
        return batch.num_rows

    def invalidate(self) -> None:
        """Forget what is kept in memory (after any write of entities, teams or projects)."""
        with self._lock:
            self._generation += 1
            self._cache.clear()
            self._teams = None
            self._activity = None
            self._identities = None

    def events_written(self, written: pa.Table) -> None:
        """After new events (``team_id``, ``project_id``, ``user_id``, ``time`` of those
        written): names stay; the team list stays unless a new (team, project) pair came; the
        activity is updated in place (first events, identities counted from held sets).

        Why: every answer reads both, and reloading them after each write cost ~50 ms per
        answer while events stream in (measured on the 1M demo store)."""
        pairs = written.group_by(["team_id", "project_id", "user_id"]).aggregate([("time", "min")])
        rows = pairs.to_pylist()
        with self._lock:
            self._generation += 1
            if self._teams is not None:
                known = {(t["id"], p["id"]) for t in self._teams for p in t["projects"]}
                if any((r["team_id"], r["project_id"]) not in known for r in rows):
                    self._teams = None
            if self._activity is None:
                return
            if self._identities is None:
                got = self._rows(identities_sql())
                if len(got) > _MAX_IDENTITIES:
                    self._activity = None
                    return
                self._identities = {}
                for r in got:
                    for scope in ((r["team_id"], None), (r["team_id"], r["project_id"])):
                        self._identities.setdefault(scope, set()).add(r["user_id"])
            self._activity = _updated(self._activity, self._identities, rows)

    def lookup(self, kind: str, ids: list[str], team: str | None) -> list[dict[str, Any]]:
        """``team``'s view of the ids of ``kind`` that have a row, sorted by id. Teams and
        projects are ``team``'s own only; with ``team`` None, every team's (in its own view;
        projects by id, then team), and of other kinds the shared default only."""
        wanted = sorted(set(ids))
        if not wanted:
            return []
        if kind not in _CACHED:
            where = f"id IN ({', '.join(map(quote, wanted))})"
            where += f" AND id = {quote(team)}" if kind == "teams" and team is not None else ""
            return self._rows(f"{view_sql(kind, team, where)} ORDER BY id")
        cache = self._cached(kind)
        if kind == "projects" and team is None:
            pairs = sorted({(i, t) for (_, t, i) in cache if i in set(wanted)})
            found = (cache.get((t, t, i)) or cache.get((SHARED, t, i)) for i, t in pairs)
            return [r for r in found if r is not None]
        scope = (team,) if kind == "projects" else ()
        out = []
        for i in wanted:
            row = cache.get((team, *scope, i)) if team is not None else None
            row = row or cache.get((SHARED, *scope, i))
            if row is not None:
                out.append(row)
        return out

    def _cached(self, kind: str) -> dict[tuple[str, ...], dict[str, Any]]:
        with self._lock:
            hit, generation = self._cache.get(kind), self._generation
        if hit is not None:
            return hit
        cols = ", ".join(f.column for f in ENTITY_FIELDS[kind])
        loaded = {}
        for r in self._rows(f"SELECT owner, {cols} FROM {kind}"):
            owner = r.pop("owner")
            loaded[(owner, *(r[c] for c in entity_key(kind)))] = r
        with self._lock:
            if generation == self._generation:
                self._cache[kind] = loaded
        return loaded

    def teams(self) -> list[Team]:
        """Every team in its own view, with its projects in its view, sorted by id."""
        with self._lock:
            hit, generation = self._teams, self._generation
        if hit is not None:
            return hit
        teams = cast(list[Team], self._rows(_teams_sql()))  # the statement selects a Team per row
        with self._lock:
            if generation == self._generation:
                self._teams = teams
        return teams

    def team_activity(self) -> dict[str, Activity]:
        """Identities seen and first events per team and project (``duckdb_teams``), kept in
        memory until the next write."""
        with self._lock:
            hit, generation = self._activity, self._generation
        if hit is not None:
            return hit
        activity = team_activity(self._rows)
        with self._lock:
            if generation == self._generation:
                self._activity = activity
        return activity
