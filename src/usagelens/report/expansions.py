"""The ``include`` expansions (CONTRACT §2) and the entities of the ids an answer refers to.

Expansion data is fetched by the service (from the ledger) and shaped here; ``ceiling`` keeps
the whole answer under its byte limit.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from typing import Any

from usagelens.jsonout import instant, num
from usagelens.ledger.base import EventRow
from usagelens.query import PAGE, UsageQuery
from usagelens.report.facts import Row

__all__ = ["ENTITY_KINDS", "activity", "activity_ids", "entities", "model_daily", "referenced", "usage_daily"]

ENTITY_KINDS = ("users", "models", "projects", "jobs", "assets")
#: Per entity kind, the key of an activity event holding such an id.
_ACTIVITY_KEYS = (
    ("users", "userId"),
    ("models", "modelId"),
    ("projects", "projectId"),
    ("jobs", "jobId"),
    ("assets", "assetId"),
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


def activity(events: list[EventRow], offset: int) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """A page of the activity log and its pagination."""
    page = [
        {
            "id": e["id"],
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


#: The same, for the ledger's rows (``EventRow``) before they are shaped.
RAW_ACTIVITY_KEYS = (
    ("users", "user_id"),
    ("models", "model_id"),
    ("projects", "project_id"),
    ("jobs", "job_id"),
    ("assets", "asset_id"),
)


def activity_ids(events: Sequence[Mapping[str, Any]], keys: tuple = _ACTIVITY_KEYS) -> dict[str, set[str]]:
    """Ids a page of activity events refers to, per entity kind (shaped events; the ledger's
    rows with ``keys=RAW_ACTIVITY_KEYS``)."""
    ids: dict[str, set[str]] = {k: set() for k in ENTITY_KINDS}
    for e in events:
        for kind, key in keys:
            if e[key] is not None:
                ids[kind].add(e[key])
    return ids


def referenced(resp: dict[str, Any], q: UsageQuery) -> dict[str, set[str]]:
    """Ids the response refers to, per entity kind."""
    ids = activity_ids(resp.get("activity", []))
    ids["users"].update(r["userId"] for r in resp.get("consumption", []))
    ids["models"].update(r["modelId"] for r in resp.get("modelUsages", []))
    ids["projects"].update(q.project_ids or ())
    if q.context_project_id:
        ids["projects"].add(q.context_project_id)
    return ids


def entities(
    found: dict[str, list[dict[str, Any]]], ids: dict[str, set[str]] | None = None
) -> dict[str, list[dict[str, Any]]]:
    """Entity lookups in the contract's shape (no URLs, no job inputs), only of ``ids`` when given."""
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
    return {
        kind: [shape[kind](e) for e in found.get(kind, []) if ids is None or e["id"] in ids[kind]] for kind in shape
    }
