"""A live Scenario account as a read-only ``Ledger``: ``usage`` answered from ``GET /v1/usages``.

``open_scenario(url, key, secret)`` gives a ``ScenarioLedger`` that every surface can hand to
``service.usage`` unchanged. Reads map onto Scenario's API:

- ``teams()`` → ``GET /v1/teams`` (the SDK's ``teams.list()``), kept for a minute;
  ``team_activity()`` → the same list's ``createdAt`` and ``context.usersCount``;
- ``facts(q)`` → ``GET /v1/usages`` with only the sections ``q`` needs (``type``), the team,
  project and user filters and the exact window (``startDate``/``endDate``), split into requests
  of at most 120 days and added up exactly (see ``scenario_facts`` and ``scenario_plan``);
- ``activity(q)`` → the ``activity`` section, one page per 100 entries, following
  ``activityOffset`` only for the page asked for;
- ``entities(kind, ids, team)`` → the ``entities`` Scenario sent with that team's responses
  (projects and teams from ``teams.list()``): one team's names never answer for another.

Writes are refused: copy an account into a local store with ``usagelens sync scenario``.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from datetime import datetime
from typing import Any, ClassVar

import pyarrow as pa

from usagelens.errors import Forbidden, UsageError
from usagelens.ledger.base import (
    FACT_MEASURES,
    Activity,
    ActivityQuery,
    EventRow,
    FactQuery,
    KeyRecord,
    ProjectRef,
    Team,
)
from usagelens.sources.scenario.activity import entity_rows
from usagelens.sources.scenario.client import ClientSettings, ScenarioClient
from usagelens.sources.scenario.facts import fact_rows
from usagelens.sources.scenario.fetch import Scope, SectionFetcher
from usagelens.sources.scenario.limits import plan_budget
from usagelens.sources.scenario.pages import ActivityPager, events_of
from usagelens.sources.scenario.plan import bucket_label, day_chunks, parse_instant
from usagelens.sources.scenario.rows import series_rows, table

__all__ = ["LiveAccountControl", "ScenarioLedger", "open_scenario"]

log = logging.getLogger("usagelens.scenario")
_READ_ONLY = "a live Scenario account is read-only here; copy it into a local store with usagelens sync scenario"
_ENTITY_MAX = 100_000


def open_scenario(
    url: str | None = None,
    key: str | None = None,
    secret: str | None = None,
    *,
    settings: ClientSettings | None = None,
    strict: bool = False,
) -> ScenarioLedger:
    """A live Scenario account as a ledger.

    Credentials come from ``key``/``secret`` or ``SCENARIO_SDK_API_KEY``/``SCENARIO_SDK_API_SECRET``,
    the API from ``url`` or ``SCENARIO_BASE_URL`` (default Scenario's own); timeouts and retries
    from ``settings`` or ``USAGELENS_SCENARIO_*``. Raises ``Unauthorized`` when credentials are
    missing; nothing is requested until the first read.
    """
    return ScenarioLedger(ScenarioClient(url, key, secret, settings=settings, strict=strict))


def _created(item: dict[str, Any]) -> datetime | None:
    try:
        return parse_instant(item.get("createdAt"))
    except ValueError:
        return None


def _activity(team: dict[str, Any]) -> Activity:
    """``Ledger.team_activity``'s entry of one team of ``GET /v1/teams``."""
    raw = team.get("context")
    context: dict[str, Any] = raw if isinstance(raw, dict) else {}
    users = context.get("usersCount")
    whole = isinstance(users, int | float) and not isinstance(users, bool) and math.isfinite(users) and users >= 0
    projects = [p for p in team.get("projects") or [] if isinstance(p, dict) and isinstance(p.get("id"), str)]
    return Activity(
        users_count=int(users) if whole and users is not None else None,
        created_at=_created(team),
        projects={p["id"]: Activity(users_count=None, created_at=_created(p)) for p in projects},
    )


class ScenarioLedger:
    """A ``UsageReader`` over a Scenario account (thread-safe). It writes nothing: copy an account
    into a store with ``usagelens sync scenario``; its ``ControlStore`` is ``LiveAccountControl``."""

    backend = "scenario"
    #: What answers from a live account cannot state exactly (README: "What Scenario does not expose").
    caveats: ClassVar[dict[str, str]] = {
        "totals.jobs": "counts the jobs run on a model only: Scenario reports jobs per model",
        "modelUsages.daily": "leaves out a model's day whose events carried neither a job nor CU",
    }

    def __init__(self, client: ScenarioClient, *, ttl: float = 30.0, teams_ttl: float = 60.0) -> None:
        self.client = client
        self.location = client.url
        self._lock = threading.Lock()
        #: team id -> kind -> id -> row, as Scenario sent them with that team's responses
        self._entities: dict[str, dict[str, dict[str, dict[str, Any]]]] = {}
        self._fetcher = SectionFetcher(client, self.remember, ttl=ttl)
        self._pager = ActivityPager(client, self._fetcher, self.remember)
        self._teams: list[Team] | None = None
        self._activity: dict[str, Activity] = {}
        self._teams_at = 0.0
        self._teams_ttl = teams_ttl
        self._budgets: dict[str, str] | None = None
        self._budgets_at = 0.0

    # -- reads ------------------------------------------------------------------------------

    def teams(self) -> list[Team]:
        """The account's teams, each with ``id``, ``name`` and ``projects``, sorted by id."""
        with self._lock:
            if self._teams is not None and time.monotonic() - self._teams_at < self._teams_ttl:
                return self._teams
        raw = self.client.teams()
        teams: list[Team] = []
        for t in raw:
            projects = [p for p in t.get("projects") or [] if isinstance(p, dict) and isinstance(p.get("id"), str)]
            refs = sorted((ProjectRef(id=p["id"], name=p.get("name")) for p in projects), key=lambda p: p["id"])
            name = t.get("name") if isinstance(t.get("name"), str) else None
            teams.append(Team(id=t["id"], name=name, projects=refs))
        teams.sort(key=lambda t: t["id"])
        activity = {t["id"]: _activity(t) for t in raw}
        with self._lock:
            self._teams, self._activity, self._teams_at = teams, activity, time.monotonic()
        return teams

    def team_activity(self) -> dict[str, Activity]:
        """Scenario's own figures of each team (``createdAt``, ``context.usersCount``) and of its
        projects (``createdAt``; Scenario counts users per team only, so None)."""
        self.teams()
        with self._lock:
            return self._activity

    def facts(self, query: FactQuery) -> pa.Table:
        """Grouped sums over the window, from ``GET /v1/usages`` (see ``scenario_facts``)."""
        keys = (["day"] if "day" in query.by else []) + [d for d in query.by if d != "day"]
        try:
            if "project_id" in query.by:
                out = self._per_project(query, keys)
            else:
                out = table(keys, fact_rows(self._fetcher, query, keys))
            return out.select([*query.by, *FACT_MEASURES])  # the protocol's column order
        except ValueError as e:
            raise self.client.malformed("GET /v1/usages", str(e)) from None

    def _per_project(self, query: FactQuery, keys: list[str]) -> pa.Table:
        """One request per project (Scenario filters by project but does not group by it)."""
        team = next((t for t in self.teams() if t["id"] == query.team_id), None)
        projects = (
            query.project_ids if query.project_ids is not None else [p["id"] for p in team["projects"]] if team else []
        )
        sub = replace(query, by=tuple(d for d in query.by if d != "project_id"))
        sub_keys = [k for k in keys if k != "project_id"]
        where = keys.index("project_id")
        rows: dict[tuple, dict[str, Any]] = {}
        for p in projects:
            for k, r in fact_rows(self._fetcher, replace(sub, project_ids=(p,)), sub_keys).items():
                if any(v for v in r.values()):
                    rows[(*k[:where], p, *k[where:])] = r
        return table(keys, rows)

    def activity(self, query: ActivityQuery) -> list[EventRow]:
        """One page of Scenario's activity log, newest first (windows over 120 days included)."""
        return self._pager.activity(query)

    def pages(
        self, team_id: str, start: datetime, end: datetime, offset: int = 0
    ) -> Iterator[tuple[list[dict[str, Any]], Any]]:
        """Every activity page of ``[start, end)`` (at most 120 days) from ``offset``: yields
        ``(entries, entities)`` with the raw entries and the response's ``entities``."""
        return self._pager.pages(Scope(team_id), (start, end), offset)

    def events(
        self, entries: list[dict[str, Any]], entities: Any, team_id: str, ids: bool = True
    ) -> list[dict[str, Any]]:
        """Activity entries as ledger event rows, with stable ids unless ``ids`` is False (then
        call ``assign_ids`` over the whole window; see ``scenario_activity``)."""
        return events_of(entries, entities, team_id, ids)

    def event_counts(self, team_id: str, start: datetime, end: datetime, per: str = "day") -> dict[datetime, int]:
        """Usage events per UTC day (or hour) of ``[start, end)``, from the ``usages`` series."""
        chunks = day_chunks(start, end, "UTC", per)
        try:
            rows = series_rows(
                self._fetcher.bodies(Scope(team_id), chunks, {"usages"}), "usages", bucket_label("UTC", per)
            )
        except ValueError as e:
            raise self.client.malformed("GET /v1/usages", str(e)) from None
        out: dict[datetime, int] = {}
        for (bucket, _), r in rows.items():
            out[bucket] = out.get(bucket, 0) + r["events"]
        return out

    def entities(self, kind: str, ids: list[str], team: str | None) -> list[dict[str, Any]]:
        """Entities Scenario sent so far with ``team``'s responses (projects and teams from
        ``teams()``, of ``team`` only), sorted by id; ``team`` None: no users, models, jobs or
        assets (Scenario has no shared default), and every team's projects."""
        wanted = set(ids)
        if kind in ("projects", "teams"):
            teams = [t for t in self.teams() if team is None or t["id"] == team]
            if kind == "teams":
                found = [{"id": t["id"], "name": t["name"]} for t in teams]
            else:
                found = [{"id": p["id"], "team_id": t["id"], "name": p["name"]} for t in teams for p in t["projects"]]
            return sorted((e for e in found if e["id"] in wanted), key=lambda e: (e["id"], e.get("team_id", "")))
        with self._lock:
            store = self._entities.get(team or "", {}).get(kind, {})
            return [dict(store[i]) for i in sorted(wanted) if i in store]

    def remember(self, body: dict[str, Any], team_id: str) -> None:
        """Keep the ``entities`` of a response about ``team_id`` (its names for later answers)."""
        rows = entity_rows(body.get("entities"))
        with self._lock:
            for kind, items in rows.items():
                store = self._entities.setdefault(team_id, {}).setdefault(kind, {})
                for e in items:
                    store.pop(e["id"], None)
                    store[e["id"]] = e
                while len(store) > _ENTITY_MAX:
                    del store[next(iter(store))]

    def docs(self, kind: str) -> dict[str, str]:
        """``budgets``: each team's plan (``GET /v1/teams/{id}/limits``, kept like the teams) as a
        team budget (``limits.plan_budget``); nothing else."""
        if kind != "budgets":
            return {}
        teams = self.teams()
        with self._lock:
            if self._budgets is not None and time.monotonic() - self._budgets_at < self._teams_ttl:
                return self._budgets
        out: dict[str, str] = {}
        for t in teams:
            try:
                body = self.client.limits(t["id"])
            except UsageError as e:  # the usage answer stands without the plan: say why in the log
                log.warning("no budget for team %s: %s", t["id"], e)
                continue
            budget = plan_budget(t["id"], body) if body is not None else None
            if budget is not None:
                out[budget.id] = budget.to_doc()
        with self._lock:
            self._budgets, self._budgets_at = out, time.monotonic()
        return out

    def cache_token(self) -> None:
        """None: answers are not cached by the caller (this source keeps its own short-lived cache
        of upstream pages, ``ttl``, since Scenario's account changes without telling us)."""
        return None

    def close(self) -> None:
        """Release the connections and worker threads."""
        self._fetcher.close()
        self.client.close()


class LiveAccountControl:
    """The ``ControlStore`` beside a live account: it holds no usagelens keys (the account's own
    Scenario key limits what is seen) and no local state; changing either is refused."""

    def api_keys(self) -> list[KeyRecord]:
        return []

    def keys_token(self) -> str:
        return ""

    def put_key(self, record: KeyRecord) -> None:
        raise Forbidden(_READ_ONLY)

    def revoke_key(self, key_id: str, when: datetime) -> bool:
        raise Forbidden(_READ_ONLY)

    def get_meta(self, key: str) -> str | None:
        return None

    def set_meta(self, key: str, value: str) -> None:
        raise Forbidden(_READ_ONLY)

    def put_doc(self, kind: str, doc_id: str, doc: str | None) -> None:
        raise Forbidden(_READ_ONLY)

    def docs(self, kind: str) -> dict[str, str]:
        return {}

    def claim(self, kind: str, claim_id: str, doc: str) -> str:
        raise Forbidden(_READ_ONLY)

    def claims(self, kind: str) -> dict[str, str]:
        return {}
