"""The core entry points every surface calls: ``usage``, ``list_teams``, ``list_projects``,
``team_members``.

A surface builds ``UsageArgs`` and a ``Caller``, calls one function and renders the ``Answer``
(``data`` is the JSON of CONTRACT §2, ``text`` the compact JSON or the Markdown). Errors are
``UsageError``s with one sentence each. Nothing here knows about HTTP, MCP or terminals.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from math import ceil
from typing import Any

from usagelens.auth import Caller
from usagelens.errors import NotFound
from usagelens.ledger.base import ActivityQuery, FactQuery, Ledger
from usagelens.query import PAGE, UsageArgs, UsageQuery, resolve
from usagelens.report import expansions as ex
from usagelens.report.facts import Facts, fact_query, gather, top
from usagelens.report.hints import hint
from usagelens.report.jsonout import dumps
from usagelens.report.markdown import render_members, render_teams, render_usage
from usagelens.report.rows import asset_rows, consumption_rows, model_rows, nsfw_rows, usage_rows
from usagelens.report.summary import Lists, fit

__all__ = ["Answer", "list_projects", "list_teams", "team_members", "usage"]

#: Rows per list considered for the default answer (more never fit in 3 KB).
CANDIDATES = 40


@dataclass(frozen=True)
class Answer:
    """An answer: the structured data and its text for the requested format."""

    data: dict[str, Any]
    text: str
    format: str


def _names(ledger: Ledger, kind: str, ids: list[str], team: str) -> dict[str, dict[str, Any]]:
    """``team``'s names of ``ids`` (its own, else the shared default; CONTRACT §4)."""
    return {e["id"]: e for e in ledger.entities(kind, ids, team)} if ids else {}


def _consumption(ledger: Ledger, facts: Facts, n: int | None, team: str) -> list[dict[str, Any]]:
    users = top(facts.by_user, "user_id", n)
    return consumption_rows(users, _names(ledger, "users", [r["user_id"] for r in users], team))


def _models(ledger: Ledger, facts: Facts, n: int | None, team: str) -> list[dict[str, Any]]:
    models = top(facts.by_model, "model_id", n)
    return model_rows(models, _names(ledger, "models", [r["model_id"] for r in models], team))


def _lists(ledger: Ledger, facts: Facts, team: str) -> Lists:
    return Lists(
        _consumption(ledger, facts, CANDIDATES, team),
        facts.by_user.num_rows,
        _models(ledger, facts, CANDIDATES, team),
        facts.by_model.num_rows,
        asset_rows(facts.by_kind),
    )


def _stubs(facts: Facts, q: UsageQuery):
    """A function giving the ``sections`` stubs for a given list of shown models.

    Daily stubs say how many series and days an expansion would carry (at most series × days
    points); counting the non-zero points exactly would cost a daily query per answer.
    """
    by_action = facts.by_action
    days = max(1, round((q.end - q.start).total_seconds() / 86400))
    fixed: dict[str, Any] = {}
    if not q.wants("usages"):
        fixed["usages"] = {"rows": len(by_action), "include": "usages"}
    if not q.wants("usages.daily"):
        fixed["usages.daily"] = {"series": len(by_action), "days": days, "include": "usages.daily"}
    labels = nsfw_rows(facts.by_label)
    events = facts.totals["events"]

    def stubs(shown_models: list[dict[str, Any]]) -> dict[str, Any]:
        out = dict(fixed)
        if not q.wants("modelUsages.daily"):
            out["modelUsages.daily"] = {
                "series": len(shown_models),
                "days": days,
                "include": "modelUsages.daily",
            }
        if not q.wants("nsfwUsages"):
            out["nsfwUsages"] = {
                "rows": len(labels),
                "events": sum(r["count"] for r in labels),
                "include": "nsfwUsages",
            }
        if not q.wants("activity"):
            out["activity"] = {"events": events, "pages": ceil(events / PAGE), "include": "activity"}
        return out

    return stubs


def _expand(ledger: Ledger, facts: Facts, q: UsageQuery, resp: dict[str, Any]) -> None:
    sections = resp["sections"]
    if q.wants("consumption"):
        resp["consumption"] = _consumption(ledger, facts, None, q.team_id)
        sections.pop("consumption", None)
    if q.wants("modelUsages"):
        resp["modelUsages"] = _models(ledger, facts, None, q.team_id)
        sections.pop("modelUsages", None)
        if "modelUsages.daily" in sections:
            sections["modelUsages.daily"]["series"] = len(resp["modelUsages"])
    if q.wants("usages"):
        resp["usages"] = usage_rows(facts.by_action)
    if q.wants("usages.daily"):
        order = [r["usageName"] for r in usage_rows(facts.by_action)]
        rows = ledger.facts(fact_query(q, ("day", "action"))).to_pylist()
        resp["usages.daily"] = ex.usage_daily(rows, order)
    if q.wants("modelUsages.daily"):
        ids = tuple(m["modelId"] for m in resp["modelUsages"])
        rows = ledger.facts(fact_query(q, ("day", "model_id"), model_ids=ids)).to_pylist() if ids else []
        resp["modelUsages.daily"] = ex.model_daily(rows, resp["modelUsages"])
    if q.wants("nsfwUsages"):
        resp["nsfwUsages"] = nsfw_rows(facts.by_label)
    if q.wants("activity"):
        page = ledger.activity(
            ActivityQuery(q.team_id, q.start, q.end, q.project_ids, q.user_ids, q.activity_offset, PAGE)
        )
        resp["activity"], resp["activityPagination"] = ex.activity(page, q.activity_offset)


def _entities(ledger: Ledger, q: UsageQuery, resp: dict[str, Any]) -> None:
    """Entities of the ids left in the (capped) answer, or the stub counting them."""
    ids = ex.referenced(resp, q)
    if q.wants("entities"):
        found = {kind: ledger.entities(kind, sorted(v), q.team_id) for kind, v in ids.items()}
        resp["entities"] = ex.entities(found)
    else:
        resp["sections"]["entities"] = {"ids": sum(len(v) for v in ids.values()), "include": "entities"}


def _ordered(resp: dict[str, Any]) -> dict[str, Any]:
    """Stable key order: contract sections first, then expansions, then sections and hint."""
    head = (
        "scope",
        "totals",
        "consumption",
        "modelUsages",
        "assetUsages",
        "usages",
        "usages.daily",
        "modelUsages.daily",
        "nsfwUsages",
        "activity",
        "activityPagination",
        "entities",
    )
    out = {k: resp[k] for k in head if k in resp}
    out["sections"] = resp["sections"]
    out["_hint"] = resp["_hint"]
    return out


def usage(ledger: Ledger, caller: Caller, args: UsageArgs, now: datetime | None = None) -> Answer:
    """The ``usage`` tool: the bounded summary plus requested expansions (CONTRACT §2).

    Answers are cached per resolved query until the store's next write (when the ledger
    exposes a ``version``); callers must treat ``Answer.data`` as read-only.
    """
    q = resolve(args, caller, ledger.teams(), now)
    version = getattr(ledger, "version", None)
    key = (version, q)
    if version is not None:
        with _CACHE_LOCK:
            hit = _CACHE.get(key)
            if hit is not None:
                _CACHE.move_to_end(key)
                return hit
    answer = _answer(ledger, q)
    if version is not None:
        with _CACHE_LOCK:
            _CACHE[key] = answer
            while len(_CACHE) > CACHE_SIZE:
                _CACHE.popitem(last=False)
    return answer


#: Answers kept (least recently used first out); a write changes the version in every key.
CACHE_SIZE = 512
_CACHE: OrderedDict[tuple, Answer] = OrderedDict()
_CACHE_LOCK = threading.Lock()


def _answer(ledger: Ledger, q: UsageQuery) -> Answer:
    facts = gather(ledger, q)
    lists = _lists(ledger, facts, q.team_id)
    events = facts.totals["events"]
    stubs = _stubs(facts, q)
    text_hint = hint({"consumption": lists.consumption[:3]}, q, events, lists.models_total, lists.consumption_total)
    for _ in range(3):  # the hint names what was cut, and its length changes what fits
        resp = fit(facts, q, lists, stubs, text_hint)
        settled = hint(resp, q, events, lists.models_total, lists.consumption_total)
        if settled == text_hint:
            break
        text_hint = settled
    _expand(ledger, facts, q, resp)
    resp["_hint"] = hint(resp, q, events, lists.models_total, lists.consumption_total)
    resp = ex.cap(_ordered(resp))  # cap first: entities describe only what is left
    _entities(ledger, q, resp)
    resp = ex.cap(_ordered(resp))
    text = render_usage(resp) if q.response_format == "markdown" else dumps(resp)
    return Answer(resp, text, q.response_format)


def list_teams(ledger: Ledger, caller: Caller, response_format: str = "json") -> Answer:
    """The teams the caller can see, each with its projects."""
    teams = caller.visible_teams(ledger.teams())
    data = {"teams": [{"id": t["id"], "name": t["name"], "projects": t["projects"]} for t in teams]}
    return Answer(data, render_teams(data) if response_format == "markdown" else dumps(data), response_format)


def _visible_team(ledger: Ledger, caller: Caller, team_id: str) -> dict[str, Any]:
    teams = caller.visible_teams(ledger.teams())
    team = next((t for t in teams if t["id"] == team_id), None)
    if team is None:
        names = ", ".join(t["id"] for t in teams) or "none"
        raise NotFound(f"team_id: '{team_id}' is not a team you can see; use one of: {names}.", field="team_id")
    return team


def list_projects(ledger: Ledger, caller: Caller, team_id: str, response_format: str = "json") -> Answer:
    """The projects of one team the caller can see."""
    team = _visible_team(ledger, caller, team_id)
    data = {"teamId": team_id, "projects": team["projects"]}
    text = render_teams({"teams": [{**team}]}) if response_format == "markdown" else dumps(data)
    return Answer(data, text, response_format)


def team_members(
    ledger: Ledger, caller: Caller, team_id: str, response_format: str = "json", now: datetime | None = None
) -> Answer:
    """The identities seen in the events of one team the caller can see (all time; a project key:
    its project's), by id, with ``fullName`` and ``email`` as that team names them (CONTRACT §4)
    and ``isApiKey`` (the name's flag, else whether any of its events came through an API key)."""
    team = _visible_team(ledger, caller, team_id)
    end = (now or datetime.now(UTC)).replace(tzinfo=None) + timedelta(days=1)
    projects = tuple(p["id"] for p in team["projects"]) if caller.project_id else None
    facts = ledger.facts(FactQuery(team_id, datetime(1970, 1, 1), end, by=("user_id",), project_ids=projects))
    rows = sorted(facts.select(["user_id", "api_events"]).to_pylist(), key=lambda r: r["user_id"])
    names = _names(ledger, "users", [r["user_id"] for r in rows], team_id)
    members = []
    for r in rows:
        known = names.get(r["user_id"], {})
        flag = known.get("is_api_key")
        members.append(
            {
                "id": r["user_id"],
                "fullName": known.get("full_name"),
                "email": known.get("email"),
                "isApiKey": bool(flag) if flag is not None else (r["api_events"] or 0) > 0,
            }
        )
    data = {"teamId": team_id, "members": members}
    return Answer(data, render_members(data) if response_format == "markdown" else dumps(data), response_format)
