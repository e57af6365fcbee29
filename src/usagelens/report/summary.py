"""The default answer: headline totals and the top rows of each list, within 3,072 bytes.

``fit`` fills the lists in rank order while the compact JSON stays within the budget (at least
``MIN_ROWS`` rows each where that many exist and they fit at all); a cut list is accounted in
``sections`` with how many rows are shown, how many exist and the sums of the rest, so the
numbers still add up.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from usagelens.query import UsageQuery
from usagelens.report.facts import Facts, sums
from usagelens.report.jsonout import dumps, instant, num
from usagelens.report.rows import change_pct

__all__ = ["BUDGET", "MIN_ROWS", "Lists", "fit", "head"]

BUDGET = 3072
MIN_ROWS = 3


@dataclass
class Lists:
    """Candidate rows of the three default lists (already sorted) and their full lengths.

    Asset kinds are at most eight short rows: they are always all shown (when they fit)."""

    consumption: list[dict[str, Any]]
    consumption_total: int
    models: list[dict[str, Any]]
    models_total: int
    assets: list[dict[str, Any]]


def head(facts: Facts, q: UsageQuery) -> dict[str, Any]:
    """``scope`` and ``totals`` (CONTRACT §2)."""
    t, p = facts.totals, facts.previous
    return {
        "scope": {
            "mode": q.scope,
            "teamId": q.team_id,
            "contextProjectId": q.context_project_id,
            "projectIds": list(q.project_ids) if q.scope == "project" and q.project_ids else None,
            "userIds": list(q.user_ids) if q.user_ids else None,
        },
        "totals": {
            "totalCU": num(t["cu"]),
            "totalDiscountCU": num(t["discount"]),
            "totalBeforeDiscountCU": num(t["cu"] + t["discount"]),
            "startDate": q.start_date,
            "endDate": q.end_date,
            "window": {"from": instant(q.start), "until": instant(q.end), "timezone": q.timezone},
            "jobs": t["jobs"],
            "assets": t["assets"],
            "users": facts.by_user.num_rows,
            "models": facts.by_model.num_rows,
            "previousPeriod": {"totalCU": num(p["cu"]), "changePct": change_pct(t["cu"], p["cu"])},
        },
    }


def _remainder_consumption(facts: Facts, shown: int) -> dict[str, Any]:
    rest = sums(facts.by_user, shown, "user_id")
    return {
        "value": num(rest["cu"]),
        "discount": num(rest["discount"]),
        "total": num(rest["cu"] + rest["discount"]),
    }


def _remainder_models(facts: Facts, shown: int) -> dict[str, Any]:
    rest = sums(facts.by_model, shown, "model_id")
    return {
        "totalCU": num(rest["cu"]),
        "totalJobs": rest["jobs"],
        "totalApiKeyCU": num(rest["api_cu"]),
        "totalDiscountCU": num(rest["discount"]),
        "totalApiKeyDiscountCU": num(rest["api_discount"]),
    }


def _cut(name: str, shown: int, total: int, remainder: dict[str, Any]) -> dict[str, Any]:
    return {"shown": shown, "total": total, "remainder": remainder, "include": name}


def fit(
    facts: Facts,
    q: UsageQuery,
    lists: Lists,
    stubs: Callable[[list[dict[str, Any]]], dict[str, Any]],
    hint: str,
    budget: int = BUDGET,
) -> dict[str, Any]:
    """The default response with as many rows as fit in ``budget`` bytes.

    ``stubs(shown_models)`` returns the stubs of the sections not included (their counts may
    depend on which models are shown).
    """
    base = head(facts, q)
    names = ("assetUsages", "modelUsages", "consumption")
    pools = {"consumption": lists.consumption, "modelUsages": lists.models, "assetUsages": lists.assets}
    totals = {
        "consumption": lists.consumption_total,
        "modelUsages": lists.models_total,
        "assetUsages": len(lists.assets),
    }
    shown = dict.fromkeys(names, 0)

    def build(stub_models: list[dict[str, Any]] | None = None) -> dict[str, Any]:
        resp = dict(base)
        resp["consumption"] = pools["consumption"][: shown["consumption"]]
        resp["modelUsages"] = pools["modelUsages"][: shown["modelUsages"]]
        resp["assetUsages"] = pools["assetUsages"][: shown["assetUsages"]]
        sections: dict[str, Any] = {}
        for name, remainder in (("consumption", _remainder_consumption), ("modelUsages", _remainder_models)):
            if shown[name] < totals[name]:
                sections[name] = _cut(name, shown[name], totals[name], remainder(facts, shown[name]))
        if shown["assetUsages"] < totals["assetUsages"]:
            rest = lists.assets[shown["assetUsages"] :]
            sections["assetUsages"] = _cut(
                "assetUsages",
                shown["assetUsages"],
                totals["assetUsages"],
                {"count": sum(r["count"] for r in rest), "countApiKey": sum(r["countApiKey"] for r in rest)},
            )
        sections.update(stubs(resp["modelUsages"] if stub_models is None else stub_models))
        resp["sections"] = sections
        resp["_hint"] = hint
        return resp

    # estimate with row sizes, so each try costs no serialisation; check exactly at the end
    row_size = {n: [len(dumps(r).encode()) + 1 for r in pools[n]] for n in names}
    used = len(dumps(build()).encode()) + 48  # room for remainder digits and stub counts
    added: list[str] = []

    def take(n: str) -> bool:
        nonlocal used
        if shown[n] >= len(pools[n]) or used + row_size[n][shown[n]] > budget:
            return False
        used += row_size[n][shown[n]]
        shown[n] += 1
        added.append(n)
        return True

    # every asset kind (at most 8 short rows), then the minimum of the others, then one more
    # row per list in turn, models first, while they fit
    while take("assetUsages"):
        pass
    for n in ("modelUsages", "consumption"):
        while shown[n] < MIN_ROWS and take(n):
            pass
    while any([take(n) for n in ("modelUsages", "consumption")]):
        pass
    resp = build()
    while len(dumps(resp).encode()) > budget and added:
        shown[added.pop()] -= 1
        resp = build()
    return resp
