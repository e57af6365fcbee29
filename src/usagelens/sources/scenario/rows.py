"""Scenario's ``UsageListResponse`` sections → the ledger's fact rows (``Ledger.facts`` tables).

Each series section gives, per key (usage type, model, asset kind, label) and time point, some
of the ledger's measures; ``consumption`` gives per-user totals. What Scenario does not expose
stays ``None`` (a null in the table), never a made-up zero — except where the report adds rows
up in Python (see ``margins``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation
from typing import Any

import pyarrow as pa

from usagelens.ledger.base import FACT_MEASURES
from usagelens.model import CU_SCALE
from usagelens.sources.scenario.plan import Chunk, granularity_step, parse_instant, point_label

__all__ = [
    "SECTION_KEYS",
    "Malformed",
    "add",
    "measures_of",
    "series_rows",
    "table",
    "to_cu",
    "to_int",
    "user_rows",
]

Row = dict[str, Any]
_Q = Decimal(1).scaleb(-CU_SCALE)
_AMOUNTS = {"cu", "discount", "api_cu", "api_discount"}
_CU_TYPE = pa.decimal128(38, CU_SCALE)

#: ``type`` value → (response key, key field of each series).
SECTION_KEYS: dict[str, tuple[str, str]] = {
    "usages": ("usages", "usageName"),
    "model-usages": ("modelUsages", "modelId"),
    "asset-usages": ("assetUsages", "kind"),
    "nsfw-usages": ("nsfwUsages", "label"),
    "consumption": ("consumption", "userId"),
    "activity": ("activity", ""),
}

#: Per section: measure → (point field, required). Only what Scenario reports.
_POINT_FIELDS: dict[str, dict[str, tuple[str, bool]]] = {
    "usages": {
        "events": ("value", True),
        "api_events": ("apiKey", True),
        "cu": ("cost", False),
        "discount": ("discount", False),
        "api_cu": ("apiKeyCost", False),
        "api_discount": ("apiKeyDiscount", False),
    },
    "model-usages": {
        "cu": ("cost", True),
        "jobs": ("jobs", True),
        "discount": ("discount", True),
        "api_cu": ("apiKeyCost", True),
        "api_discount": ("apiKeyDiscount", True),
    },
    "asset-usages": {"assets": ("count", True), "api_assets": ("countApiKey", True)},
    "nsfw-usages": {"events": ("count", True), "api_events": ("countApiKey", True)},
}


class Malformed(ValueError):
    """A section does not have the documented shape (the message says where)."""


def to_cu(value: object) -> Decimal:
    """An exact CU amount from the wire (a JSON number or a numeric string), 6 decimals."""
    if isinstance(value, bool) or not isinstance(value, int | Decimal | str | float):
        raise Malformed(f"{value!r} is not a number")
    try:
        d = Decimal(str(value)) if isinstance(value, float) else Decimal(value)
    except InvalidOperation:
        raise Malformed(f"{value!r} is not a number") from None
    if not d.is_finite():
        raise Malformed(f"{value!r} is not a finite number")
    return d.quantize(_Q, rounding=ROUND_HALF_EVEN)


def to_int(value: object) -> int:
    """A count from the wire (Scenario sends some as strings, some as numbers)."""
    d = to_cu(value)
    if d != d.to_integral_value():
        raise Malformed(f"{value!r} is not a whole number")
    return int(d)


def measures_of(section: str, point: dict[str, Any]) -> Row:
    """The ledger measures one point of ``section`` carries."""
    out: Row = {}
    for measure, (name, required) in _POINT_FIELDS[section].items():
        value = point.get(name)
        if value is None:
            if required:
                raise Malformed(f"a point has no '{name}'")
            value = 0
        out[measure] = to_cu(value) if measure in _AMOUNTS else to_int(value)
    return out


def _zeros(section: str) -> Row:
    return {m: Decimal(0) if m in _AMOUNTS else 0 for m in _POINT_FIELDS[section]}


def add(acc: Row, measures: Row) -> None:
    """Add ``measures`` into ``acc`` (missing measures count as zero)."""
    for m, v in measures.items():
        acc[m] = acc.get(m, 0) + v


def _series(body: dict[str, Any], section: str) -> list[tuple[str, list[dict[str, Any]], object]]:
    key, field = SECTION_KEYS[section]
    items = body.get(key)
    if not isinstance(items, list):
        raise Malformed(f"'{key}' is missing or not a list")
    out = []
    for i, s in enumerate(items):
        if not isinstance(s, dict) or not isinstance(s.get(field), str) or not isinstance(s.get("points"), list):
            raise Malformed(f"{key}[{i}] has no '{field}' or no 'points' list")
        out.append((s[field], s["points"], s.get("granularity")))
    return out


def series_rows(
    bodies: Iterable[tuple[Chunk, dict[str, Any]]],
    section: str,
    label: Callable[[datetime], datetime] | None,
    keep: Callable[[str], bool] = lambda _: True,
) -> dict[tuple, Row]:
    """Sums of ``section``'s measures per key (and per bucket when ``label`` is given).

    Every series key appears (with zero measures when all its points were dropped), so keys
    that had activity are never lost; with ``label`` only non-zero buckets appear.
    """
    acc: dict[tuple, Row] = {}
    for chunk, body in bodies:
        steps = {s[2] for s in _series(body, "usages")} if label and "usages" in body else set()
        step: timedelta = granularity_step(steps.pop() if len(steps) == 1 else None, chunk)
        for key, points, _ in _series(body, section):
            if not keep(key):
                continue
            total = acc.setdefault((key,), _zeros(section)) if label is None else None
            for p in points:
                if not isinstance(p, dict):
                    raise Malformed(f"a point of '{key}' is not an object")
                measures = measures_of(section, p)
                if total is not None:
                    add(total, measures)
                elif any(measures.values()):
                    day = point_label(parse_instant(p.get("time")), step, chunk, label)  # type: ignore[arg-type]
                    add(acc.setdefault((day, key), {}), measures)
    return acc


def user_rows(bodies: Iterable[tuple[Chunk, dict[str, Any]]]) -> dict[tuple, Row]:
    """CU and discount per identity from ``consumption`` (no counts: Scenario has none)."""
    acc: dict[tuple, Row] = {}
    for _, body in bodies:
        items = body.get("consumption")
        if not isinstance(items, list):
            raise Malformed("'consumption' is missing or not a list")
        for i, c in enumerate(items):
            if not isinstance(c, dict) or not isinstance(c.get("userId"), str):
                raise Malformed(f"consumption[{i}] has no 'userId'")
            add(acc.setdefault((c["userId"],), {}), {"cu": to_cu(c.get("value")), "discount": to_cu(c.get("discount"))})
    return acc


def table(keys: list[str], rows: dict[tuple, Row]) -> pa.Table:
    """A facts table: ``keys`` columns then every measure (absent ones null), sorted by keys."""
    fields = [pa.field(k, pa.timestamp("us") if k == "day" else pa.string()) for k in keys]
    fields += [
        pa.field(m, _CU_TYPE if m.removeprefix("api_") in ("cu", "discount") else pa.int64()) for m in FACT_MEASURES
    ]
    order = sorted(rows, key=lambda k: tuple((v is None, v) for v in k))
    cols: dict[str, list[Any]] = {k: [key[i] for key in order] for i, k in enumerate(keys)}
    for m in FACT_MEASURES:
        cols[m] = [rows[key].get(m) for key in order]
    return pa.table(cols, schema=pa.schema(fields))
