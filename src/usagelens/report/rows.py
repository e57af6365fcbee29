"""Fact rows → the rows of the contract (CONTRACT §2), sorted, with names joined.

Every list is sorted by its figure, descending, ties broken by id ascending, so answers are
deterministic. Names longer than ``NAME_MAX`` characters are shortened with "…".
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pyarrow as pa

from usagelens.jsonout import num
from usagelens.report.ceiling import remainder
from usagelens.report.facts import SMALL, Row, nums

__all__ = [
    "NAME_MAX",
    "TOP",
    "asset_rows",
    "consumption_rows",
    "model_rows",
    "nsfw_rows",
    "series_rows",
    "short",
    "top_and_others",
    "usage_rows",
]

NAME_MAX = 40
#: Rows per table in the compact views (Markdown, terminal); the rest go to one "others" row.
TOP = 10
_NONE: dict[str, Any] = {}


def short(name: str | None, limit: int = NAME_MAX) -> str | None:
    """``name`` cut to ``limit`` characters, ending with "…" when cut."""
    if name is None or len(name) <= limit:
        return name
    return name[: limit - 1] + "…"


def consumption_rows(by_user: pa.Table, users: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per identity of the ``user_id`` fact: CU after discount (``value``), ``discount``,
    ``total``; sorted in Arrow, numbers cut to their shortest form there (``facts.nums``)."""
    small = by_user.num_rows < SMALL  # sorted in Python below: Arrow's sort costs ~40 µs however few
    t = by_user if small else by_user.sort_by([("cu", "descending"), ("user_id", "ascending")])
    out = []
    for uid, value, discount, events, api_events in zip(
        t.column("user_id").to_pylist(),
        nums(t.column("cu")),
        nums(t.column("discount")),
        t.column("events").to_pylist(),
        t.column("api_events").to_pylist(),
        strict=True,
    ):
        u = users.get(uid, _NONE)
        is_api = u.get("is_api_key")
        if is_api is None:
            is_api = api_events == events
        out.append(
            {
                "userId": uid,
                "name": short(u.get("full_name") or u.get("email")),
                "isApiKey": bool(is_api),
                "value": value,
                "discount": discount,
                "total": num(value + discount),
            }
        )
    if small:
        out.sort(key=lambda x: (-x["value"], x["userId"]))
    return out


def model_rows(by_model: pa.Table, models: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per model of the ``model_id`` fact (no null model), by CU descending, with its
    name; sorted in Arrow, numbers cut to their shortest form there (``facts.nums``)."""
    small = by_model.num_rows < SMALL  # sorted in Python below: Arrow's sort costs ~40 µs however few
    t = by_model if small else by_model.sort_by([("cu", "descending"), ("model_id", "ascending")])
    out = [
        {
            "modelId": mid,
            "modelName": short(models.get(mid, _NONE).get("name")),
            "totalCU": cu,
            "totalJobs": jobs,
            "totalApiKeyCU": api_cu,
            "totalDiscountCU": discount,
            "totalApiKeyDiscountCU": api_discount,
        }
        for mid, cu, jobs, api_cu, discount, api_discount in zip(
            t.column("model_id").to_pylist(),
            nums(t.column("cu")),
            t.column("jobs").to_pylist(),
            nums(t.column("api_cu")),
            nums(t.column("discount")),
            nums(t.column("api_discount")),
            strict=True,
        )
    ]
    if small:
        out.sort(key=lambda x: (-x["totalCU"], x["modelId"]))
    return out


def asset_rows(by_kind: list[Row]) -> list[dict[str, Any]]:
    """Assets created per kind, by count descending."""
    out = [
        {"kind": r["asset_kind"], "count": r["assets"], "countApiKey": r["api_assets"]} for r in by_kind if r["assets"]
    ]
    out.sort(key=lambda x: (-x["count"], x["kind"]))
    return out


def usage_rows(by_action: list[Row]) -> list[dict[str, Any]]:
    """Per usage type, by CU descending."""
    out = [
        {
            "usageName": r["action"],
            "count": r["events"],
            "cu": num(r["cu"]),
            "discount": num(r["discount"]),
            "apiKeyCount": r["api_events"],
            "apiKeyCU": num(r["api_cu"]),
        }
        for r in by_action
    ]
    out.sort(key=lambda x: (-x["cu"], x["usageName"]))
    return out


def nsfw_rows(by_label: list[Row]) -> list[dict[str, Any]]:
    """Moderation labels raised at least once, by count descending."""
    out = [
        {"label": r["label"], "count": r["events"], "countApiKey": r["api_events"]}
        for r in by_label
        if r["events"] and r["label"] is not None
    ]
    out.sort(key=lambda x: (-x["count"], x["label"]))
    return out


def change_pct(current: Decimal, previous: Decimal) -> Decimal | None:
    """Change from ``previous`` to ``current`` in percent (1 decimal), None when previous is 0."""
    if previous == 0:
        return None
    return num(((current - previous) / abs(previous) * 100).quantize(Decimal("0.1")))


def top_and_others(
    rows: list[dict[str, Any]], note: dict[str, Any] | None = None, n: int = TOP
) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
    """The first ``n`` rows, and one row summing every figure of the rest (None when nothing
    is left): the rows after ``n`` plus what a ceiling dropped (``note``: the list's
    ``sections`` entry). The others row's ``others`` says how many rows it stands for."""
    rest = rows[n:]
    dropped = (note or {}).get("dropped", 0)
    if not rest and not dropped:
        return rows, None
    sums = remainder(rest)
    for k, v in (note or {}).get("remainder", {}).items():
        sums[k] = num(sums.get(k, 0) + v) if isinstance(v, Decimal) else sums.get(k, 0) + v
    return rows[:n], {**sums, "others": len(rest) + dropped}


def series_rows(series: list[dict[str, Any]], name: str) -> list[dict[str, Any]]:
    """A daily expansion as one row per series: its name, days with usage and CU, by CU descending."""
    out = [
        {"series": s[name], "days": len(s["points"]), "cost": num(sum((p["cost"] for p in s["points"]), Decimal(0)))}
        for s in series
    ]
    out.sort(key=lambda r: (-r["cost"], r["series"]))
    return out
