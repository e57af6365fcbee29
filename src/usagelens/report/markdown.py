"""The same facts for a person: a title, the headline totals, small tables and the hint."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from usagelens.report.rows import series_rows, top_and_others

__all__ = ["render_members", "render_teams", "render_usage"]


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


def _table(
    headers: list[str], keys: list[str], rows: list[dict[str, Any]], note: dict[str, Any] | None = None
) -> list[str]:
    """A table of the top rows and, when there are more, an "N others" row with their sums."""
    shown, others = top_and_others(rows, note)
    out = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    out += ["| " + " | ".join(_n(r.get(k)) for k in keys) + " |" for r in shown]
    if others is not None:
        first = f"{others['others']:,} others"
        cells = [first] + [
            "" if isinstance(others.get(k), bool) or k not in others else _n(others[k]) for k in keys[1:]
        ]
        out.append("| " + " | ".join(cells) + " |")
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
    if prev.get("partial"):
        change += f" (previous period has data from {prev['dataFrom'][:10]} only)"
    return [
        f"# Usage {t['startDate']} → {t['endDate']} ({t['window']['timezone']}) · {where}",
        "",
        f"**{_n(t['totalCU'])} CU** charged · {_n(t['totalDiscountCU'])} CU discount · "
        f"{_n(t['totalBeforeDiscountCU'])} CU before discount",
        f"{_n(t['jobs'])} jobs · {_n(t['assets'])} assets · {_n(t['users'])} users · {_n(t['models'])} models",
        f"Previous period: {_n(prev['totalCU'])} CU{change}",
        "",
    ]


#: The tables of a usage answer: (answer key, heading, column headers, row keys).
_TABLES = (
    (
        "consumption",
        "Top consumers",
        ["user", "name", "API key", "CU", "discount", "total"],
        ["userId", "name", "isApiKey", "value", "discount", "total"],
    ),
    (
        "modelUsages",
        "Top models",
        ["model", "name", "CU", "jobs", "API-key CU", "discount"],
        ["modelId", "modelName", "totalCU", "totalJobs", "totalApiKeyCU", "totalDiscountCU"],
    ),
    ("assetUsages", "Assets by kind", ["kind", "count", "API key"], ["kind", "count", "countApiKey"]),
    (
        "usages",
        "Usage types",
        ["type", "count", "CU", "discount", "API-key CU"],
        ["usageName", "count", "cu", "discount", "apiKeyCU"],
    ),
    ("nsfwUsages", "Moderation labels", ["label", "count", "API key"], ["label", "count", "countApiKey"]),
)


def render_usage(d: dict[str, Any]) -> str:
    """Markdown of a usage answer (``service.usage`` data): at most ``TOP`` rows per table plus
    an "N others" row carrying the rest's sums, so a team of any size reads in a few KB."""
    out = _title(d)
    sections = d["sections"]
    if "budgets" in d:
        out += ["## Budgets"] + _table(
            ["budget", "allowance", "used", "remaining", "period", "forecast at end", "runs out"],
            ["id", "allowanceCU", "usedCU", "remainingCU", "periodText", "forecastCU", "runsOutOn"],
            [i | {"periodText": f"{i['period']['start']} → {i['period']['end']}"} for i in d["budgets"]["items"]],
            None,
        )
        out += [f"Forecast: {d['budgets']['forecastMethod']}.", ""]
    for key, heading, headers, keys in _TABLES:
        if d.get(key) or (key in d and key not in ("consumption", "modelUsages", "assetUsages")):
            out += [f"## {heading}"] + _table(headers, keys, d[key], sections.get(key))
    for key, name in (("usages.daily", "usageName"), ("modelUsages.daily", "modelId")):
        if key in d:
            out += [f"## {key} (per series: days with usage, CU)"] + _table(
                ["series", "days", "CU"], ["series", "days", "cost"], series_rows(d[key], name), sections.get(key)
            )
    if "activity" in d:
        p = d["activityPagination"]
        out += [f"## Activity (events {p['offset'] + 1}–{p['offset'] + p['count']})"] + _table(
            ["time", "user", "action", "CU", "model", "API key"],
            ["time", "userId", "action", "creativeUnitsCost", "modelId", "isApiKey"],
            d["activity"],
            sections.get("activity"),
        )
    cut = [f"{k}: {v['shown']:,} of {v['total']:,} listed" for k, v in sections.items() if "shown" in v]
    if cut:
        out += ["The answer was cut to fit its ceiling: " + "; ".join(cut) + ".", ""]
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
