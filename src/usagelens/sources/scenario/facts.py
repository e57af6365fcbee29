"""``Ledger.facts`` over ``GET /v1/usages``: which sections a fact query needs, and its rows.

Supported groupings (plus ``day``, except where noted, and ``project_id`` by one request per
project): none, ``action``, ``asset_kind``, ``model_id``, ``label``, ``user_id`` (no ``day``:
Scenario has no per-user series) and ``(action, asset_kind)`` (no ``day``).

What each measure is, per grouping (Scenario does not report the others; they are null):

- ``action``: ``events``, ``api_events``, ``cu``, ``discount``, ``api_cu``, ``api_discount``.
- ``asset_kind``: ``assets``, ``api_assets``.
- ``model_id``: ``cu``, ``jobs``, ``discount``, ``api_cu``, ``api_discount``; ``events`` is a
  lower bound used to leave zero points out (the jobs, or 1 for a point with CU but no job).
- ``label``: ``events``, ``api_events`` (events raising the label).
- ``user_id``: ``cu``, ``discount``.
- none: the ``action`` measures, ``assets``/``api_assets``, and ``jobs`` = jobs run on a model
  (Scenario counts jobs per model only).
- ``(action, asset_kind)``: Scenario gives the two margins, not the cross table. Rows with
  ``asset_kind`` null carry each usage type's measures; the asset kinds' counts and the jobs on
  models ride on rows of the first usage type (with zero events and CU). Sums over either
  dimension are exact; the cells of the cross table are not. Every measure is a number here
  (``api_jobs`` is 0), as the report adds these rows up.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from decimal import Decimal
from typing import Any

from usagelens.errors import Unavailable
from usagelens.ledger.base import FACT_MEASURES, FactQuery
from usagelens.sources.scenario.fetch import Scope, SectionFetcher
from usagelens.sources.scenario.plan import Chunk, bucket_label, day_chunks, split
from usagelens.sources.scenario.rows import add, series_rows, user_rows

__all__ = ["SECTIONS_FOR", "fact_rows"]

Row = dict[str, Any]
_KEY_SECTION = {
    "action": "usages",
    "asset_kind": "asset-usages",
    "model_id": "model-usages",
    "label": "nsfw-usages",
}
#: The sections each grouping needs (``day`` also asks for ``usages``, for its granularity).
SECTIONS_FOR: dict[frozenset[str], set[str]] = {
    frozenset(): {"usages", "model-usages", "asset-usages"},
    frozenset({"action"}): {"usages"},
    frozenset({"asset_kind"}): {"asset-usages"},
    frozenset({"model_id"}): {"model-usages"},
    frozenset({"label"}): {"nsfw-usages"},
    frozenset({"user_id"}): {"consumption"},
    frozenset({"action", "asset_kind"}): {"usages", "asset-usages", "model-usages"},
}
_AMOUNTS = ("cu", "discount", "api_cu", "api_discount")
_ZERO: Row = {m: Decimal(0) if m.removeprefix("api_") in ("cu", "discount") else 0 for m in FACT_MEASURES}


def _nonzero(r: Row) -> bool:
    return any(v for v in r.values())


def _check(query: FactQuery, others: frozenset[str]) -> None:
    if others not in SECTIONS_FOR:
        raise Unavailable(
            f"Scenario's API does not break usage down by {' × '.join(sorted(others))}; sync the account "
            "into a local store (usagelens sync scenario) for that"
        )
    day = "day" in query.by
    if day and others in (frozenset({"user_id"}), frozenset({"action", "asset_kind"})):
        raise Unavailable(
            f"Scenario's API has no daily series per {' × '.join(sorted(others))}; sync the account for that"
        )
    if query.model_ids is not None and others != frozenset({"model_id"}):
        raise Unavailable("Scenario's API filters by model only in per-model figures; sync the account for that")


def _models(rows: dict[tuple, Row]) -> dict[tuple, Row]:
    for r in rows.values():
        r["events"] = r["jobs"] or int(any(r[m] for m in _AMOUNTS))
    return rows


def _totals(bodies: list, label: Callable[[datetime], datetime] | None) -> dict[tuple, Row]:
    acc: dict[tuple, Row] = {}
    for section, wanted in (("usages", None), ("model-usages", ("jobs",)), ("asset-usages", None)):
        for key, r in series_rows(bodies, section, label).items():
            add(acc.setdefault(key[:-1], {}), {m: v for m, v in r.items() if wanted is None or m in wanted})
    if label is None:
        row = acc.setdefault((), {})
        for m in ("events", "jobs", "assets", "api_events", "api_assets", *_AMOUNTS):
            row.setdefault(m, _ZERO[m])
    return acc


def _margins(bodies: list) -> dict[tuple, Row]:
    usage = {k: r for k, r in series_rows(bodies, "usages", None).items() if _nonzero(r)}
    jobs = sum(r["jobs"] for r in series_rows(bodies, "model-usages", None).values())
    kinds = {k: r for k, r in series_rows(bodies, "asset-usages", None).items() if _nonzero(r)}
    anchor = min(k[0] for k in usage) if usage else None
    rows: dict[tuple, Row] = {(k[0], None): {**_ZERO, **r} for k, r in usage.items()}
    if jobs:
        rows.setdefault((anchor, None), dict(_ZERO))["jobs"] += jobs
    for (kind,), r in kinds.items():
        rows[(anchor, kind)] = {**_ZERO, **r}
    return rows


def fact_rows(fetcher: SectionFetcher, query: FactQuery, keys: list[str]) -> dict[tuple, Row]:
    """The rows of ``query`` (without ``project_id``), keyed in the order of ``keys``."""
    others = frozenset(d for d in query.by if d != "day")
    _check(query, others)
    day = "day" in query.by
    label = bucket_label(query.timezone, query.per) if day else None
    chunks: list[Chunk] = (
        day_chunks(query.start, query.end, query.timezone, query.per) if day else split(query.start, query.end)
    )
    sections = SECTIONS_FOR[others] | ({"usages"} if day else set())
    scope = Scope(query.team_id, query.project_ids, query.user_ids)
    if query.project_ids == () or query.user_ids == ():
        bodies: list = []
    else:
        bodies = fetcher.bodies(scope, chunks, sections)
    if not others:
        return _totals(bodies, label)
    if others == frozenset({"user_id"}):
        return user_rows(bodies)
    if len(others) == 2:
        rows = _margins(bodies)
        return rows if keys == ["action", "asset_kind"] else {(k[1], k[0]): r for k, r in rows.items()}
    (dim,) = others
    keep = (lambda m: m in set(query.model_ids or ())) if query.model_ids is not None else (lambda _: True)
    rows = series_rows(bodies, _KEY_SECTION[dim], label, keep)
    if dim == "model_id":
        return _models(rows)
    return {k: r for k, r in rows.items() if _nonzero(r)}
