"""``build_answer``: every input of one ``usage`` answer in, the answer (and its JSON) out.

Pure: the service gathers ``AnswerInputs`` from the ledger up front; this module shapes the
complete default lists and the requested expansions, applies the ceiling once
(``ceiling.fit``) and leaves ``entities`` describing exactly the ids of the final answer.
Each list is sorted once (in ``rows``); remainders are summed once, from the dropped rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from usagelens.jsonout import instant, size_of
from usagelens.ledger.base import EventRow
from usagelens.query import UsageQuery
from usagelens.report import expansions as ex
from usagelens.report.ceiling import fit
from usagelens.report.facts import Facts, Row
from usagelens.report.hints import hint, narrowing
from usagelens.report.rows import asset_rows, consumption_rows, model_rows, nsfw_rows, usage_rows
from usagelens.report.summary import head, stubs

__all__ = ["ORDER", "AnswerInputs", "build_answer"]

#: Key order of an answer: contract sections, expansions, then ``truncated``, sections, hint.
ORDER = (
    "scope",
    "totals",
    "consumption",
    "modelUsages",
    "assetUsages",
    "budgets",
    "usages",
    "usages.daily",
    "modelUsages.daily",
    "nsfwUsages",
    "activity",
    "activityPagination",
    "entities",
    "truncated",
    "sections",
    "_hint",
)


@dataclass(frozen=True)
class AnswerInputs:
    """What the ledger said for one query; ``None`` where the query did not ask for it.

    ``users`` and ``models`` hold the team's names of every id in the facts (and the activity
    page); ``found`` the entity rows of every id the uncut answer refers to (with ``entities``)."""

    facts: Facts
    users: dict[str, Row]
    models: dict[str, Row]
    usage_daily: list[Row] | None = None
    model_daily: list[Row] | None = None
    activity: list[EventRow] | None = None
    found: dict[str, list[Row]] | None = None
    budgets: dict[str, Any] | None = None
    #: the scope's first event (naive UTC): a previous period before it is only partly covered
    first_event: datetime | None = None


def _ordered(resp: dict[str, Any]) -> dict[str, Any]:
    return {k: resp[k] for k in ORDER if k in resp}


def _expansions(inputs: AnswerInputs, q: UsageQuery, resp: dict[str, Any]) -> None:
    if q.wants("usages"):
        resp["usages"] = usage_rows(inputs.facts.by_action)
    if inputs.usage_daily is not None:
        order = [r["usageName"] for r in resp.get("usages") or usage_rows(inputs.facts.by_action)]
        resp["usages.daily"] = ex.usage_daily(inputs.usage_daily, order)
    if inputs.model_daily is not None:
        resp["modelUsages.daily"] = ex.model_daily(inputs.model_daily, resp["modelUsages"])
    if q.wants("nsfwUsages"):
        resp["nsfwUsages"] = nsfw_rows(inputs.facts.by_label)
    if inputs.activity is not None:
        resp["activity"], resp["activityPagination"] = ex.activity(inputs.activity, q.activity_offset)


def _finisher(inputs: AnswerInputs, q: UsageQuery):
    """A function setting ``entities`` (or its stub) from the ids an answer refers to."""

    def finish(resp: dict[str, Any]) -> None:
        ids = ex.referenced(resp, q)
        if inputs.found is not None:
            resp["entities"] = ex.entities(inputs.found, ids)
        else:
            resp["sections"] = {
                **resp["sections"],
                "entities": {"ids": sum(map(len, ids.values())), "include": "entities"},
            }

    return finish


def _entity_bytes(resp: dict[str, Any], inputs: AnswerInputs):
    """Bytes of the entity row that leaves the answer with a dropped row (0 if another part
    of the answer still refers to that id, or entities were not asked for)."""
    if inputs.found is None:
        return lambda name, row: 0
    shared = ex.activity_ids(resp.get("activity", []))
    sizes = {k: {e["id"]: size_of(e) + 1 for e in v} for k, v in resp["entities"].items()}
    owner = {"consumption": ("users", "userId"), "modelUsages": ("models", "modelId")}

    def entity_bytes(name: str, row: dict[str, Any]) -> int:
        if name not in owner:
            return 0
        kind, key = owner[name]
        return 0 if row[key] in shared[kind] else sizes[kind].get(row[key], 0)

    return entity_bytes


def _day(t: datetime, q: UsageQuery) -> date:
    """The calendar day of the naive UTC instant ``t`` in the answer's time zone."""
    return t.replace(tzinfo=UTC).astimezone(ZoneInfo(q.timezone)).date()


def build_answer(inputs: AnswerInputs, q: UsageQuery, limit: int, variable: str) -> tuple[dict[str, Any], str]:
    """The answer of CONTRACT §2 for ``q`` and its compact JSON, under ``limit`` bytes.

    ``variable`` names the setting behind ``limit`` (said in the hint when rows are dropped)."""
    facts = inputs.facts
    resp = head(facts, q)
    if inputs.first_event is not None and _day(inputs.first_event, q) > _day(q.previous[0], q):
        # the comparison is with less than a whole period of data (by days: a window is days): say so
        resp["totals"]["previousPeriod"] |= {"partial": True, "dataFrom": instant(inputs.first_event)}
    resp["consumption"] = consumption_rows(facts.by_user, inputs.users)
    resp["modelUsages"] = model_rows(facts.by_model, inputs.models)
    resp["assetUsages"] = asset_rows(facts.by_kind)
    if inputs.budgets:
        resp["budgets"] = inputs.budgets
    resp["sections"] = stubs(facts, q)
    _expansions(inputs, q, resp)
    finish = _finisher(inputs, q)
    finish(resp)
    events = facts.totals["events"]
    resp["_hint"] = hint(resp, q, events, facts.by_model.num_rows)
    resp = _ordered(resp)
    counts = {"users": facts.by_user.num_rows, "models": facts.by_model.num_rows}

    def cut_hint(size: int) -> str:
        return narrowing(q, limit, variable, size, counts)

    return fit(resp, limit, cut_hint, finish, _entity_bytes(resp, inputs))
