"""The default answer's fixed parts: ``scope``, ``totals`` and the ``sections`` stubs.

The lists themselves (complete) are shaped in ``rows``; ``answer`` puts the parts together.
"""

from __future__ import annotations

from math import ceil
from typing import Any

from usagelens.jsonout import instant, num
from usagelens.query import PAGE, UsageQuery
from usagelens.report.facts import Facts
from usagelens.report.rows import change_pct, nsfw_rows

__all__ = ["head", "stubs"]


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


def stubs(facts: Facts, q: UsageQuery) -> dict[str, Any]:
    """One stub per expansion not asked for, with the counts an agent needs to decide.

    Daily stubs say how many series and days an expansion would carry (at most series × days
    points); counting the non-zero points exactly would cost a daily query per answer. The
    ``entities`` stub is added once the final answer is known (it counts that answer's ids)."""
    days = max(1, round((q.end - q.start).total_seconds() / 86400))
    actions = len(facts.by_action)
    events = facts.totals["events"]
    out: dict[str, Any] = {}
    if not q.wants("usages"):
        out["usages"] = {"rows": actions, "include": "usages"}
    if not q.wants("usages.daily"):
        out["usages.daily"] = {"series": actions, "days": days, "include": "usages.daily"}
    if not q.wants("modelUsages.daily"):
        out["modelUsages.daily"] = {"series": facts.by_model.num_rows, "days": days, "include": "modelUsages.daily"}
    if not q.wants("nsfwUsages"):
        labels = nsfw_rows(facts.by_label)
        out["nsfwUsages"] = {"rows": len(labels), "events": sum(r["count"] for r in labels), "include": "nsfwUsages"}
    if not q.wants("activity"):
        out["activity"] = {"events": events, "pages": ceil(events / PAGE), "include": "activity"}
    return out
