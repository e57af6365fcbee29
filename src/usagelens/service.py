"""The core entry points every surface calls: ``usage``, ``usage_list``, ``list_teams``,
``list_projects``, ``team_members``.

A surface builds ``UsageArgs`` and a ``Caller``, calls one function and renders the ``Answer``
(``data`` is the JSON of CONTRACT §2 — or §3's wire body for ``usage_list`` — and ``text`` the
compact JSON or the Markdown). Errors are ``UsageError``s with one sentence each. Nothing here
knows about HTTP, MCP or terminals.

``usage`` and ``usage_list`` answers are kept in one bounded LRU cache, keyed by the reader's
``cache_token()`` (a reader that gives None is never cached), the kind of answer and everything
it depends on; a write changes the token, so no answer outlives the data it was computed from.

A reader whose answers are computed in this process (``answers_in_process``: DuckDB) has them
computed one at a time (``_COMPUTING``); cached answers are never held back. ``usage(...,
at_once=True)`` gives an answer only when it needs no wait (cached, or computed in this process
with no other answer being computed and no expansion asked for) and raises ``NotAtOnce``
otherwise: an event loop answers such questions itself and hands the others to a worker thread.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from usagelens.auth import Caller
from usagelens.budgets.block import applicable
from usagelens.budgets.block import block as budget_block
from usagelens.errors import NotFound
from usagelens.jsonout import dumps
from usagelens.ledger.base import ActivityQuery, FactQuery, Team, UsageReader
from usagelens.query import PAGE, UsageArgs, UsageQuery, answer_format, resolve
from usagelens.report import expansions as ex
from usagelens.report.answer import AnswerInputs, build_answer
from usagelens.report.ceiling import Ceilings, ceilings
from usagelens.report.facts import fact_query, gather, py_rows
from usagelens.report.markdown import render_members, render_teams, render_usage
from usagelens.report.scenario import SECTIONS
from usagelens.report.scenario import usage_list as wire_body

__all__ = ["CACHE_SIZE", "Answer", "NotAtOnce", "list_projects", "list_teams", "team_members", "usage", "usage_list"]


class NotAtOnce(Exception):
    """The answer cannot be given at once: it would wait for another answer being computed,
    leave the process (a database server), or be an expansion (long). Ask again without
    ``at_once``, from a thread that may wait."""


@dataclass(frozen=True)
class Answer:
    """An answer: the structured data and its text for the requested format."""

    data: dict[str, Any]
    text: str
    format: str


def _names(ledger: UsageReader, kind: str, ids: list[str], team: str) -> dict[str, dict[str, Any]]:
    """``team``'s names of ``ids`` (its own, else the shared default; CONTRACT §4)."""
    return {e["id"]: e for e in ledger.entities(kind, ids, team)} if ids else {}


def _entity_rows(ledger: UsageReader, ids: dict[str, set[str]], team: str, have: dict[str, dict[str, Any]]):
    """Entity rows of ``ids`` per kind, reusing the user and model names already fetched."""
    out = {}
    for kind, wanted in ids.items():
        if kind in have:
            out[kind] = [have[kind][i] for i in sorted(wanted) if i in have[kind]]
        else:
            out[kind] = ledger.entities(kind, sorted(wanted), team) if wanted else []
    return out


def _first_event(ledger: UsageReader, q: UsageQuery) -> datetime | None:
    """The first event of the answer's team (of its one project, when it has one)."""
    activity = ledger.team_activity().get(q.team_id)
    if not activity:
        return None
    if q.project_ids is not None and len(q.project_ids) == 1:
        return activity.get("projects", {}).get(q.project_ids[0], activity)["created_at"]
    return activity["created_at"]


def _budgets(ledger: UsageReader, q: UsageQuery, now: datetime) -> dict[str, Any] | None:
    return budget_block(ledger, q.team_id, q.project_ids, q.user_ids, now, _first_event(ledger, q))


def _inputs(ledger: UsageReader, q: UsageQuery, now: datetime | None = None) -> AnswerInputs:
    """Everything the answer to ``q`` needs, read from the ledger up front (the budgets block,
    at ``now``, when it is given)."""
    facts = gather(ledger, q)
    page = None
    if q.wants("activity"):
        page = ledger.activity(
            ActivityQuery(q.team_id, q.start, q.end, q.project_ids, q.user_ids, q.activity_offset, PAGE)
        )
    ids = ex.activity_ids(page or [], ex.RAW_ACTIVITY_KEYS)
    ids["users"].update(facts.by_user.column("user_id").to_pylist())
    ids["models"].update(facts.by_model.column("model_id").to_pylist())
    ids["projects"].update(q.project_ids or ())
    if q.context_project_id:
        ids["projects"].add(q.context_project_id)
    names = {kind: _names(ledger, kind, sorted(ids[kind]), q.team_id) for kind in ("users", "models")}
    usage_daily = model_daily = None
    if q.wants("usages.daily"):
        usage_daily = py_rows(ledger.facts(fact_query(q, ("day", "action"))))
    if q.wants("modelUsages.daily"):
        model_daily = py_rows(ledger.facts(fact_query(q, ("day", "model_id"))))
    found = _entity_rows(ledger, ids, q.team_id, names) if q.wants("entities") else None
    budgets = _budgets(ledger, q, now) if now is not None else None
    first = _first_event(ledger, q)
    return AnswerInputs(facts, names["users"], names["models"], usage_daily, model_daily, page, found, budgets, first)


#: Answers kept (least recently used first out); a write changes the cache token in every key.
CACHE_SIZE = 512
#: Seconds an answer carrying a budget forecast is reused at most.
BUDGET_REFRESH = 60
_CACHE: OrderedDict[tuple, Answer] = OrderedDict()
_CACHE_LOCK = threading.Lock()
#: Held while an answer of an in-process reader is computed. Why: such an answer is Python under
#: the GIL with short waits on DuckDB in between; two computed side by side hand the GIL to each
#: other at every wait (each hand-off up to a switch interval), and over HTTP at concurrency 8
#: that halved throughput (a 10-identity team: 381 req/s in turn, 159 side by side; and HTTP
#: ingest beside four readers 38k -> 52k events/s). A reader whose work happens elsewhere
#: (ClickHouse) keeps its answers concurrent.
_COMPUTING = threading.RLock()  # re-entrant: an answer that asks for another never waits for itself


def _computed(reader: UsageReader, compute: Callable[[], Answer], at_once: bool = False) -> Answer:
    """``compute()``, one at a time when ``reader`` computes answers in this process. ``at_once``:
    only if it can start now in this process, else ``NotAtOnce``."""
    if not getattr(reader, "answers_in_process", False):
        if at_once:
            raise NotAtOnce
        return compute()
    if not _COMPUTING.acquire(blocking=not at_once):
        raise NotAtOnce
    try:
        return compute()
    finally:
        _COMPUTING.release()


def _cached(
    reader: UsageReader, key: tuple[Hashable, ...], compute: Callable[[], Answer], at_once: bool = False
) -> Answer:
    """``compute()``, or the answer it gave for ``key`` since ``reader``'s last write. ``key``
    starts with the kind of answer (``"usage"``, ``"usages"``), so kinds never share an entry.
    Identical questions asked together are computed once: one waiting for its turn to compute
    (``_computed``) first looks again for the answer the one before it may have just made.
    ``at_once``: a cached answer, or one computed now (``_computed``), else ``NotAtOnce``."""
    token = reader.cache_token()
    if token is None:
        return _computed(reader, compute, at_once)
    full = (token, *key)
    hit = _hit(full)
    if hit is not None:
        return hit

    def fresh() -> Answer:
        again = _hit(full)
        return again if again is not None else compute()

    answer = _computed(reader, fresh, at_once)
    with _CACHE_LOCK:
        _CACHE[full] = answer
        _CACHE.move_to_end(full)
        while len(_CACHE) > CACHE_SIZE:
            _CACHE.popitem(last=False)
    return answer


def _hit(full: tuple[Hashable, ...]) -> Answer | None:
    with _CACHE_LOCK:
        hit = _CACHE.get(full)
        if hit is not None:
            _CACHE.move_to_end(full)
        return hit


def usage(
    ledger: UsageReader, caller: Caller, args: UsageArgs, now: datetime | None = None, *, at_once: bool = False
) -> Answer:
    """The ``usage`` tool: the complete summary plus requested expansions, under the ceiling of
    CONTRACT §2 (``report.ceiling``).

    Answers are cached per resolved query and ceilings until the store's next write (when the
    ledger gives a ``cache_token``); callers must treat ``Answer.data`` as read-only. ``at_once``:
    the answer only if it needs no wait — cached, or computed now in this process, not an
    expansion — else ``NotAtOnce`` (argument errors are raised either way).
    """
    q = resolve(args, caller, ledger.teams(), now)
    limits = ceilings()
    at = now or datetime.now(UTC).replace(tzinfo=None)
    # a budget's forecast moves with the clock: such answers are cached for BUDGET_REFRESH at most
    budgeted = bool(applicable(ledger, q.team_id, q.project_ids, q.user_ids))
    epoch = int((at - datetime(1970, 1, 1)).total_seconds() // BUDGET_REFRESH) if budgeted else None
    when = at if budgeted else None

    def compute() -> Answer:
        if at_once and q.include:  # an expansion may take a second: never in an event loop
            raise NotAtOnce
        return _answer(ledger, q, limits, when)

    return _cached(ledger, ("usage", q, limits, epoch), compute, at_once)


def usage_list(
    reader: UsageReader,
    caller: Caller,
    args: UsageArgs,
    sections: set[str],
    drop_zero: bool = False,
    now: datetime | None = None,
) -> Answer:
    """Scenario's ``UsageListResponse`` (``GET /v1/usages``, CONTRACT §3) for ``args``: the
    ``sections`` asked for (names of ``report.scenario.SECTIONS``; others are ignored), all-zero
    points removed when ``drop_zero``. ``Answer.text`` is the compact JSON body.

    ``args`` is validated by ``query.resolve`` like ``usage``'s (same errors, in the argument names
    of ``UsageArgs``); the body is cached like ``usage``'s answers, per resolved query, sections and
    ``drop_zero``, until the store's next write. Callers must treat ``Answer.data`` as read-only.
    """
    q = resolve(args, caller, reader.teams(), now)
    wanted = tuple(s for s in SECTIONS if s in sections)

    def compute() -> Answer:
        body = wire_body(reader, q, set(wanted), drop_zero)
        return Answer(body, dumps(body), "json")

    return _cached(reader, ("usages", q, wanted, drop_zero), compute)


def _answer(ledger: UsageReader, q: UsageQuery, limits: Ceilings, now: datetime | None = None) -> Answer:
    expanded = bool(q.include)
    data, text = build_answer(_inputs(ledger, q, now), q, limits.limit(expanded), limits.variable(expanded))
    return Answer(data, render_usage(data) if q.response_format == "markdown" else text, q.response_format)


def list_teams(ledger: UsageReader, caller: Caller, response_format: str | None = "json") -> Answer:
    """The teams the caller can see, each with its projects (``response_format`` as ``usage``'s)."""
    response_format = answer_format(response_format)
    teams = caller.visible_teams(ledger.teams())
    data = {"teams": [{"id": t["id"], "name": t["name"], "projects": t["projects"]} for t in teams]}
    return Answer(data, render_teams(data) if response_format == "markdown" else dumps(data), response_format)


def _visible_team(ledger: UsageReader, caller: Caller, team_id: str) -> Team:
    teams = caller.visible_teams(ledger.teams())
    team = next((t for t in teams if t["id"] == team_id), None)
    if team is None:
        names = ", ".join(t["id"] for t in teams) or "none"
        raise NotFound(f"team_id: '{team_id}' is not a team you can see; use one of: {names}.", field="team_id")
    return team


def list_projects(ledger: UsageReader, caller: Caller, team_id: str, response_format: str | None = "json") -> Answer:
    """The projects of one team the caller can see (``response_format`` as ``usage``'s)."""
    response_format = answer_format(response_format)
    team = _visible_team(ledger, caller, team_id)
    data = {"teamId": team_id, "projects": team["projects"]}
    text = render_teams({"teams": [{**team}]}) if response_format == "markdown" else dumps(data)
    return Answer(data, text, response_format)


def team_members(
    ledger: UsageReader,
    caller: Caller,
    team_id: str,
    response_format: str | None = "json",
    now: datetime | None = None,
) -> Answer:
    """The identities seen in the events of one team the caller can see (all time; a project key:
    its project's), by id, with ``fullName`` and ``email`` as that team names them (CONTRACT §4)
    and ``isApiKey`` (the name's flag, else whether any of its events came through an API key).
    ``response_format`` as ``usage``'s."""
    response_format = answer_format(response_format)
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
