"""The same facts for a person: a title, the headline totals, small tables and the hint."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

__all__ = ["render_teams", "render_usage"]

#: Rows per table in Markdown (the JSON carries the rest).
MAX_ROWS = 20


def _n(v: Any) -> str:
    if v is None:
        return "—"
    if isinstance(v, Decimal):
        return f"{v:,f}"
    if isinstance(v, int) and not isinstance(v, bool):
        return f"{v:,}"
    if isinstance(v, bool):
        return "yes" if v else "no"
    return str(v).replace("|", "\\|")


def _table(headers: list[str], rows: list[list[Any]]) -> list[str]:
    out = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    out += ["| " + " | ".join(_n(c) for c in r) + " |" for r in rows[:MAX_ROWS]]
    if len(rows) > MAX_ROWS:
        out.append(f"\n… and {len(rows) - MAX_ROWS:,} more rows (see the JSON answer).")
    return out + [""]


def _title(d: dict[str, Any]) -> list[str]:
    s, t = d["scope"], d["totals"]
    where = f"team {s['teamId']}"
    if s["mode"] == "project" and s["projectIds"]:
        where += ", project " + ", ".join(s["projectIds"])
    if s["userIds"]:
        where += ", users " + ", ".join(s["userIds"])
    prev = t["previousPeriod"]
    change = f" ({prev['changePct']:+}%)" if prev["changePct"] is not None else ""
    return [
        f"# Usage {t['startDate']} → {t['endDate']} ({t['window']['timezone']}) · {where}",
        "",
        f"**{_n(t['totalCU'])} CU** charged · {_n(t['totalDiscountCU'])} CU discount · "
        f"{_n(t['totalBeforeDiscountCU'])} CU before discount",
        f"{_n(t['jobs'])} jobs · {_n(t['assets'])} assets · {_n(t['users'])} users · {_n(t['models'])} models",
        f"Previous period: {_n(prev['totalCU'])} CU{change}",
        "",
    ]


def render_usage(d: dict[str, Any]) -> str:
    """Markdown of a usage answer (``service.usage`` data)."""
    out = _title(d)
    if d["consumption"]:
        out += ["## Top consumers"] + _table(
            ["user", "name", "API key", "CU", "discount", "total"],
            [[r["userId"], r["name"], r["isApiKey"], r["value"], r["discount"], r["total"]] for r in d["consumption"]],
        )
    if d["modelUsages"]:
        out += ["## Top models"] + _table(
            ["model", "name", "CU", "jobs", "API-key CU", "discount"],
            [
                [
                    r["modelId"],
                    r["modelName"],
                    r["totalCU"],
                    r["totalJobs"],
                    r["totalApiKeyCU"],
                    r["totalDiscountCU"],
                ]
                for r in d["modelUsages"]
            ],
        )
    if d["assetUsages"]:
        out += ["## Assets by kind"] + _table(
            ["kind", "count", "API key"],
            [[r["kind"], r["count"], r["countApiKey"]] for r in d["assetUsages"]],
        )
    if "usages" in d:
        out += ["## Usage types"] + _table(
            ["type", "count", "CU", "discount", "API-key CU"],
            [[r["usageName"], r["count"], r["cu"], r["discount"], r["apiKeyCU"]] for r in d["usages"]],
        )
    for key, name in (("usages.daily", "usageName"), ("modelUsages.daily", "modelId")):
        if key in d:
            out += [f"## {key}"] + _table(
                ["series", "day", "CU"],
                [[s[name], p["time"][:10], p["cost"]] for s in d[key] for p in s["points"]],
            )
    if "nsfwUsages" in d:
        out += ["## Moderation labels"] + _table(
            ["label", "count", "API key"],
            [[r["label"], r["count"], r["countApiKey"]] for r in d["nsfwUsages"]],
        )
    if "activity" in d:
        p = d["activityPagination"]
        out += [f"## Activity (events {p['offset'] + 1}–{p['offset'] + p['count']})"] + _table(
            ["time", "user", "action", "CU", "model", "API key"],
            [
                [e["time"], e["userId"], e["action"], e["creativeUnitsCost"], e["modelId"], e["isApiKey"]]
                for e in d["activity"]
            ],
        )
    cut = [f"{k}: {v['shown']} of {v['total']} shown" for k, v in d["sections"].items() if "shown" in v]
    if cut:
        out += ["Lists cut to fit: " + "; ".join(cut) + ".", ""]
    out.append(f"> {d['_hint']}")
    return "\n".join(out) + "\n"


def render_teams(d: dict[str, Any]) -> str:
    """Markdown of ``teams_list`` data."""
    out = ["# Teams", ""]
    for t in d["teams"]:
        out.append(
            f"- **{t['name'] or t['id']}** (`{t['id']}`): "
            + (", ".join(f"{p['name'] or p['id']} (`{p['id']}`)" for p in t["projects"]) or "no projects")
        )
    return "\n".join(out) + "\n"


def render_members(d: dict[str, Any]) -> str:
    """Markdown of ``team_members`` data: one line per identity."""
    out = [f"# Members of {d['teamId']}", ""]
    for m in d["members"]:
        who = m["fullName"] or m["id"]
        extra = [x for x in (m["email"], "API key" if m["isApiKey"] else None) if x]
        out.append(f"- **{who}** (`{m['id']}`)" + (f": {', '.join(extra)}" if extra else ""))
    if not d["members"]:
        out.append("No usage recorded for this team yet.")
    return "\n".join(out) + "\n"
