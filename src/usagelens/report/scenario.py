"""Facts → Scenario's ``UsageListResponse`` (``GET /v1/usages``, scenario-sdk 2.4.0).

Series are zero-filled over the window at one granularity chosen from its length (CONTRACT §3,
``ledger.series``): the finest of ``1m 5m 15m 30m 1h 1d 7d`` giving at most 150 points, buckets
aligned in UTC (weeks on Monday 00:00), the first bucket the one holding the window's start (so
``last-hour`` gets 60 or 61 minute points, ``last-day`` 15-minute points, 31 days daily ones).
Sub-hour points come from the ledger's raw-event buckets, hours and days from its rollups, weeks
are summed from UTC days. With ``drop_zero_points`` the all-zero points are removed and every
series is kept (possibly with ``points: []``).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime
from typing import Any

from usagelens.jsonout import instant, num
from usagelens.ledger import series
from usagelens.ledger.base import FACT_MEASURES, ActivityQuery, EventRow, UsageReader
from usagelens.query import PAGE, UsageQuery
from usagelens.report.facts import Row, fact_query

__all__ = ["SECTIONS", "granularity", "usage_list"]

SECTIONS = ("usages", "activity", "consumption", "model-usages", "asset-usages", "nsfw-usages", "quality-gate-usages")
_JOB_TYPES = {
    "custom",
    "image-generation",
    "model-training",
    "upscale",
    "remove-background",
    "texture",
    "restyle",
    "caption",
    "inference",
    "workflow",
    "upload",
    "skybox-base-360",
    "skybox-hdri",
}
_JOB_STATUS = {"canceled", "failure", "finalizing", "in-progress", "pending", "queued", "success", "warming-up"}


def granularity(start: datetime, end: datetime) -> str:
    """Scenario's ``usages[].granularity`` of a window (see the module docstring)."""
    return series.granularity(start, end)


#: The ledger's bucket (``FactQuery.per``) each granularity is read at (``7d``: days, summed here).
_PER = {"1h": "hour", "1d": "day", "7d": "day"}


def _weeks(rows: list[Row], key: str) -> list[Row]:
    """Rows of UTC days summed into the ISO weeks holding them."""
    out: dict[tuple, Row] = {}
    for r in rows:
        week = series.floor(r["day"], "7d")
        acc = out.setdefault((week, r[key]), {"day": week, key: r[key], **{m: 0 for m in FACT_MEASURES}})
        for m in FACT_MEASURES:
            acc[m] += r[m]
    return list(out.values())


def _series(
    rows: list[Row], key: str, buckets: list[datetime], shape: Callable[[Row | None, datetime], dict], drop_zero: bool
) -> dict[Any, list[dict[str, Any]]]:
    by_key: dict[Any, dict[datetime, Row]] = defaultdict(dict)
    for r in rows:
        by_key[r[key]][r["day"]] = r
    out = {}
    for k in sorted(by_key, key=lambda v: (v is None, v)):
        points = by_key[k]
        out[k] = [shape(points.get(b), b) for b in buckets if not (drop_zero and b not in points)]
    return out


def _usages(rows: list[Row], buckets: list[datetime], gran: str, drop_zero: bool) -> list[dict[str, Any]]:
    def shape(r: Row | None, t: datetime) -> dict[str, Any]:
        r = r or _ZERO
        return {
            "time": instant(t),
            "value": str(r["events"]),
            "apiKey": str(r["api_events"]),
            "cost": num(r["cu"]),
            "discount": num(r["discount"]),
            "apiKeyCost": num(r["api_cu"]),
            "apiKeyDiscount": num(r["api_discount"]),
        }

    series = _series(rows, "action", buckets, shape, drop_zero)
    return [{"usageName": k, "granularity": gran, "points": v} for k, v in series.items()]


def _models(rows: list[Row], buckets: list[datetime], drop_zero: bool) -> list[dict[str, Any]]:
    def shape(r: Row | None, t: datetime) -> dict[str, Any]:
        r = r or _ZERO
        return {
            "time": instant(t),
            "cost": num(r["cu"]),
            "jobs": r["jobs"],
            "discount": num(r["discount"]),
            "apiKeyCost": num(r["api_cu"]),
            "apiKeyDiscount": num(r["api_discount"]),
        }

    series = _series([r for r in rows if r["model_id"] is not None], "model_id", buckets, shape, drop_zero)
    return [{"modelId": k, "points": v} for k, v in series.items()]


def _counts(
    rows: list[Row], key: str, name: str, buckets: list[datetime], drop_zero: bool, measure: str
) -> list[dict[str, Any]]:
    def shape(r: Row | None, t: datetime) -> dict[str, Any]:
        r = r or _ZERO
        return {"time": instant(t), "count": r[measure], "countApiKey": r[f"api_{measure}"]}

    series = _series([r for r in rows if r[key] is not None], key, buckets, shape, drop_zero)
    return [{name: k, "points": v} for k, v in series.items()]


_ZERO: Row = {
    "events": 0,
    "api_events": 0,
    "jobs": 0,
    "assets": 0,
    "api_assets": 0,
    "cu": 0,
    "discount": 0,
    "api_cu": 0,
    "api_discount": 0,
}


def _activity(events: list[EventRow]) -> list[dict[str, Any]]:
    """Activity entries; ``id``, ``creativeUnitsDiscount``, ``data.assetKind`` and ``data.nsfw``
    are usagelens extensions (Scenario's models accept extra fields) that let a sync from a
    usagelens upstream reproduce it exactly."""
    return [
        {
            "action": e["action"],
            "data": {
                "assetId": e["asset_id"],
                "collectionId": e["collection_id"],
                "isApiKey": e["is_api_key"],
                "jobId": e["job_id"],
                "modelId": e["model_id"],
                "assetKind": e["asset_kind"],
                "nsfw": e["nsfw"],
            },
            "projectId": e["project_id"],
            "time": instant(e["time"]),
            "userId": e["user_id"],
            "creativeUnitsCost": num(e["cu"]),
            "creativeUnitsDiscount": num(e["discount"]),
            "id": e["id"],
        }
        for e in events
    ]


def _entities(ledger: UsageReader, body: dict[str, Any], team: str) -> dict[str, Any]:
    """``team``'s names of the ids in ``body`` (CONTRACT §4: never another team's)."""
    users = {c["userId"] for c in body.get("consumption", [])} | {a["userId"] for a in body.get("activity", [])}
    models = {m["modelId"] for m in body.get("modelUsages", [])}
    models |= {a["data"]["modelId"] for a in body.get("activity", []) if a["data"]["modelId"]}
    jobs = {a["data"]["jobId"] for a in body.get("activity", []) if a["data"]["jobId"]}
    found_users = {u["id"]: u for u in ledger.entities("users", sorted(users), team)}
    out_users = [
        {
            "id": u,
            "isApiKey": bool(found_users.get(u, {}).get("is_api_key")),
            "email": found_users.get(u, {}).get("email"),
            "fullName": found_users.get(u, {}).get("full_name"),
        }
        for u in sorted(users)
    ]
    out_models = [
        {"id": m["id"], "name": m["name"] or m["id"], "shortDescription": m["short_description"]}
        for m in ledger.entities("models", sorted(models), team)
    ]
    # Scenario's types require known job types and statuses: others are left out, not renamed
    out_jobs = [
        {"id": j["id"], "jobType": j["job_type"], "status": j["status"], "metadata": {}}
        for j in ledger.entities("jobs", sorted(jobs), team)
        if j["job_type"] in _JOB_TYPES and j["status"] in _JOB_STATUS
    ]
    return {"users": out_users, "models": out_models, "jobs": out_jobs, "collections": [], "assets": []}


def usage_list(ledger: UsageReader, q: UsageQuery, sections: set[str], drop_zero: bool = False) -> dict[str, Any]:
    """The ``UsageListResponse`` body for ``q`` with the requested ``sections``."""
    gran = granularity(q.start, q.end)
    buckets = series.buckets(q.start, q.end, gran)

    def daily(dim: str) -> list[Row]:
        fq = replace(fact_query(q, ("day", dim)), per=_PER.get(gran, gran), timezone="UTC")
        rows = ledger.facts(fq).to_pylist()
        return _weeks(rows, dim) if gran == "7d" else rows

    body: dict[str, Any] = {}
    if "usages" in sections:
        body["usages"] = _usages(daily("action"), buckets, gran, drop_zero)
    if "activity" in sections:
        page = ledger.activity(
            ActivityQuery(q.team_id, q.start, q.end, q.project_ids, q.user_ids, q.activity_offset, PAGE)
        )
        body["activity"] = _activity(page)
    if "consumption" in sections:
        rows = ledger.facts(fact_query(q, ("user_id",))).to_pylist()
        rows.sort(key=lambda r: (-r["cu"], r["user_id"]))
        body["consumption"] = [
            {
                "userId": r["user_id"],
                "value": num(r["cu"]),
                "discount": num(r["discount"]),
                "total": num(r["cu"] + r["discount"]),
            }
            for r in rows
        ]
    if "model-usages" in sections:
        body["modelUsages"] = _models(daily("model_id"), buckets, drop_zero)
    if "asset-usages" in sections:
        body["assetUsages"] = _counts(daily("asset_kind"), "asset_kind", "kind", buckets, drop_zero, "assets")
    if "nsfw-usages" in sections:
        body["nsfwUsages"] = _counts(daily("label"), "label", "label", buckets, drop_zero, "events")
    if "quality-gate-usages" in sections:
        body["qualityGateUsages"] = []
    body["entities"] = _entities(ledger, body, q.team_id)
    return body
