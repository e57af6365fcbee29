"""The ``include`` expansions (CONTRACT §2) and the 64 KiB cap on any answer.

Expansion data is fetched by the service (from the ledger) and shaped here. When an answer
would pass ``MAX_BYTES``, whole rows are dropped from the end of the largest expansion and
``sections`` says how many and how to narrow the query.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from usagelens.query import PAGE, UsageQuery
from usagelens.report.facts import Row
from usagelens.report.jsonout import dumps, instant, num

__all__ = ["MAX_BYTES", "activity", "cap", "entities", "model_daily", "usage_daily"]

MAX_BYTES = 64 * 1024
#: Expansions that may be cut, with the key of their list in the response.
_CUTTABLE = (
    "activity",
    "consumption",
    "modelUsages",
    "modelUsages.daily",
    "usages.daily",
    "usages",
    "nsfwUsages",
)


def _points(rows: list[Row], key: str, shape) -> dict[Any, list[dict[str, Any]]]:
    series: dict[Any, list[dict[str, Any]]] = defaultdict(list)
    for r in sorted(rows, key=lambda r: r["day"]):
        if r["events"]:  # zero points are left out
            series[r[key]].append(shape(r))
    return series


def usage_daily(rows: list[Row], order: list[str]) -> list[dict[str, Any]]:
    """Per usage type (in ``order``), its non-zero days."""
    series = _points(
        rows,
        "action",
        lambda r: {
            "time": instant(r["day"]),
            "count": r["events"],
            "cost": num(r["cu"]),
            "discount": num(r["discount"]),
            "apiKeyCost": num(r["api_cu"]),
            "apiKeyDiscount": num(r["api_discount"]),
        },
    )
    return [{"usageName": name, "points": series[name]} for name in order if name in series]


def model_daily(rows: list[Row], models: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per listed model (same order as ``modelUsages``), its non-zero days."""
    series = _points(
        rows,
        "model_id",
        lambda r: {
            "time": instant(r["day"]),
            "cost": num(r["cu"]),
            "jobs": r["jobs"],
            "discount": num(r["discount"]),
            "apiKeyCost": num(r["api_cu"]),
            "apiKeyDiscount": num(r["api_discount"]),
        },
    )
    return [
        {"modelId": m["modelId"], "modelName": m["modelName"], "points": series.get(m["modelId"], [])} for m in models
    ]


def activity(events: list[dict[str, Any]], offset: int) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """A page of the activity log and its pagination."""
    page = [
        {
            "time": instant(e["time"]),
            "userId": e["user_id"],
            "projectId": e["project_id"],
            "action": e["action"],
            "creativeUnitsCost": num(e["cu"]),
            "modelId": e["model_id"],
            "jobId": e["job_id"],
            "assetId": e["asset_id"],
            "isApiKey": e["is_api_key"],
        }
        for e in events
    ]
    pagination = {
        "offset": offset,
        "count": len(page),
        "nextOffset": offset + PAGE if len(page) == PAGE else None,
    }
    return page, pagination


def referenced(resp: dict[str, Any], q: UsageQuery) -> dict[str, set[str]]:
    """Ids the response refers to, per entity kind."""
    ids: dict[str, set[str]] = {k: set() for k in ("users", "models", "projects", "jobs", "assets")}
    ids["users"].update(r["userId"] for r in resp.get("consumption", []))
    ids["models"].update(r["modelId"] for r in resp.get("modelUsages", []))
    ids["projects"].update(q.project_ids or ())
    if q.context_project_id:
        ids["projects"].add(q.context_project_id)
    for e in resp.get("activity", []):
        for kind, key in (
            ("users", "userId"),
            ("models", "modelId"),
            ("projects", "projectId"),
            ("jobs", "jobId"),
            ("assets", "assetId"),
        ):
            if e[key] is not None:
                ids[kind].add(e[key])
    return ids


def entities(found: dict[str, list[dict[str, Any]]]) -> dict[str, list[dict[str, Any]]]:
    """Entity lookups in the contract's shape (no URLs, no job inputs)."""
    shape = {
        "users": lambda e: {
            "id": e["id"],
            "fullName": e["full_name"],
            "email": e["email"],
            "isApiKey": e["is_api_key"],
        },
        "models": lambda e: {"id": e["id"], "name": e["name"]},
        "projects": lambda e: {"id": e["id"], "name": e["name"]},
        "jobs": lambda e: {"id": e["id"], "jobType": e["job_type"], "status": e["status"]},
        "assets": lambda e: {"id": e["id"], "kind": e["kind"], "source": e["source"]},
    }
    return {kind: [shape[kind](e) for e in found.get(kind, [])] for kind in shape}


def cap(resp: dict[str, Any], limit: int = MAX_BYTES) -> dict[str, Any]:
    """Drop whole rows from the end of the largest expansions until the answer fits ``limit``."""
    size = len(dumps(resp).encode())
    if size <= limit:
        return resp
    holders = [(resp, k, k) for k in _CUTTABLE if isinstance(resp.get(k), list) and resp[k]]
    holders += [(resp["entities"], k, f"entities.{k}") for k in resp.get("entities", {}) if resp["entities"][k]]
    sizes = {name: len(dumps(h[k]).encode()) for h, k, name in holders}
    for holder, key, name in sorted(holders, key=lambda h: -sizes[h[2]]):
        rows = holder[key]
        total = len(rows)
        keep = max(0, total - int((size - limit) / (sizes[name] / total)) - 1)
        while True:
            holder[key] = rows[:keep]
            _note_cut(resp, name, keep, total)
            size = len(dumps(resp).encode())
            if size <= limit or keep == 0:
                break
            keep = max(0, keep - max(1, keep // 10))
        if size <= limit:
            break
    return resp


def _note_cut(resp: dict[str, Any], key: str, shown: int, total: int) -> None:
    resp["sections"][key] = {
        "shown": shown,
        "total": total,
        "dropped": total - shown,
        "reason": "the answer is capped at 64 KiB; narrow the window, filter by project_ids or "
        "user_ids, or ask for fewer sections",
    }
