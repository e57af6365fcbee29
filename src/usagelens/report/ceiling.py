"""The ceilings of CONTRACT §2: one pass that keeps an answer under its byte limit, and says so.

An answer that fits is returned untouched (no ``truncated`` key). One that does not loses whole
rows from the end of its largest list, one row at a time, until it fits; each cut list gets
``sections.<key> = {shown, total, dropped, remainder}`` (the remainder sums the dropped rows'
figures, so the numbers still add up), the answer gets ``"truncated": true`` and ``_hint`` names
the narrowing that would fit. Row sizes are measured once; the whole answer is serialised once
to decide, once after the cut, and again only if the estimate was short (rare, bounded).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from usagelens.errors import InvalidArgument
from usagelens.jsonout import dumps, num, size_of

__all__ = ["ANSWER_DEFAULT", "CUTTABLE", "SUMMARY_DEFAULT", "Ceilings", "ceilings", "fit"]

SUMMARY_DEFAULT = 98_304
ANSWER_DEFAULT = 4 * 1024 * 1024

#: Lists that may lose rows from their end, in the order their notes are written.
CUTTABLE = (
    "consumption",
    "modelUsages",
    "assetUsages",
    "usages",
    "usages.daily",
    "modelUsages.daily",
    "nsfwUsages",
    "activity",
)
#: Bytes kept free for the ``sections`` notes of cut lists and the ``truncated`` key.
_NOTE_RESERVE = 400
_TRUNCATED_KEY = len('"truncated":true,')


@dataclass(frozen=True)
class Ceilings:
    """Byte limits: ``summary`` for an answer without expansions, ``answer`` for any other."""

    summary: int = SUMMARY_DEFAULT
    answer: int = ANSWER_DEFAULT

    def limit(self, expanded: bool) -> int:
        return self.answer if expanded else self.summary

    def variable(self, expanded: bool) -> str:
        return "USAGELENS_MAX_ANSWER_BYTES" if expanded else "USAGELENS_MAX_SUMMARY_BYTES"


def _env_bytes(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = int(raw.strip().replace("_", ""))
    except ValueError:
        value = 0
    if value < 1024:
        raise InvalidArgument(
            f"{name}: '{raw[:40]}' is not a byte count of at least 1024; set it to e.g. {default} or unset it.",
            field=name,
        )
    return value


def ceilings() -> Ceilings:
    """The ceilings in force: ``$USAGELENS_MAX_SUMMARY_BYTES`` and ``$USAGELENS_MAX_ANSWER_BYTES``."""
    return Ceilings(
        _env_bytes("USAGELENS_MAX_SUMMARY_BYTES", SUMMARY_DEFAULT),
        _env_bytes("USAGELENS_MAX_ANSWER_BYTES", ANSWER_DEFAULT),
    )


def remainder(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """The numeric figures of ``rows`` summed per key (a series row: its points' figures).

    Booleans and text are not figures; the keys keep their order in the first row, so the
    remainder reads like a row of the list it came from. Rows of one list share their shape."""
    items = [p for r in rows for p in r["points"]] if rows and "points" in rows[0] else rows
    if not items:
        return {}
    out: dict[str, Any] = {}
    for k, v in items[0].items():
        if isinstance(v, int | Decimal) and not isinstance(v, bool):
            total = sum(item[k] for item in items)
            out[k] = num(total) if isinstance(total, Decimal) else total
    return out


def _note(rows: list[dict[str, Any]], kept: int) -> dict[str, Any]:
    return {"shown": kept, "total": len(rows), "dropped": len(rows) - kept, "remainder": remainder(rows[kept:])}


@dataclass
class _Plan:
    """How many rows of each list to keep, with the bytes each row costs."""

    rows: dict[str, list[dict[str, Any]]]
    sizes: dict[str, list[int]]  # a row's own bytes, comma included
    extra: dict[str, list[int]]  # bytes elsewhere that leave with a row (its entity)
    keep: dict[str, int]
    own: dict[str, int]  # bytes of each list's kept rows

    def drop_one(self) -> int:
        """Drop the last row of the largest list; the bytes freed (0 when nothing is left)."""
        live = [n for n in self.rows if self.keep[n] > 0]
        if not live:
            return 0
        name = max(live, key=lambda n: (self.own[n], -CUTTABLE.index(n)))
        self.keep[name] -= 1
        i = self.keep[name]
        self.own[name] -= self.sizes[name][i]
        freed = self.sizes[name][i] + self.extra[name][i]
        daily = "modelUsages.daily"
        # a model's daily series never outlives its modelUsages row (same order, same index)
        if name == "modelUsages" and daily in self.keep and self.keep[daily] > i:
            gone = sum(self.sizes[daily][i : self.keep[daily]])
            self.own[daily] -= gone
            freed += gone
            self.keep[daily] = i
        return freed


def _plan(resp: dict[str, Any], entity_bytes: Callable[[str, dict[str, Any]], int]) -> _Plan:
    rows = {n: resp[n] for n in CUTTABLE if isinstance(resp.get(n), list) and resp[n]}
    sizes = {n: [size_of(r) + 1 for r in rs] for n, rs in rows.items()}
    extra = {n: [entity_bytes(n, r) for r in rs] for n, rs in rows.items()}
    return _Plan(rows, sizes, extra, {n: len(rs) for n, rs in rows.items()}, {n: sum(s) for n, s in sizes.items()})


def _apply(resp: dict[str, Any], plan: _Plan, hint: str, finish: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
    out = dict(resp)
    sections = dict(resp["sections"])
    for name, rows in plan.rows.items():
        kept = plan.keep[name]
        if kept < len(rows):
            out[name] = rows[:kept]
            sections[name] = _note(rows, kept)
    if "activity" in plan.rows and plan.keep["activity"] < len(plan.rows["activity"]):
        page = dict(resp["activityPagination"])
        page["count"] = plan.keep["activity"]
        page["nextOffset"] = page["offset"] + plan.keep["activity"]
        out["activityPagination"] = page
    out["sections"] = sections
    finish(out)
    out["truncated"] = True
    out["_hint"] = hint
    return _reorder(out)


#: Rows and daily points above which ``fit`` measures the rows before writing the answer: a
#: 4 MB ``modelUsages.daily`` was written once to learn it does not fit, measured row by row,
#: then written again; now it is measured, then written once.
MEASURE_FIRST = 5_000


def _items(resp: dict[str, Any]) -> int:
    """Rows of the cuttable lists, with the points of daily series."""
    total = 0
    for name in CUTTABLE:
        rows = resp.get(name)
        if isinstance(rows, list):
            total += len(rows) + sum(len(r.get("points", ())) for r in rows if isinstance(r, dict))
    return total


def _reorder(resp: dict[str, Any]) -> dict[str, Any]:
    """``truncated``, ``sections`` and ``_hint`` last, in that order."""
    tail = ("truncated", "sections", "_hint")
    out = {k: v for k, v in resp.items() if k not in tail}
    out.update({k: resp[k] for k in tail if k in resp})
    return out


def fit(
    resp: dict[str, Any],
    limit: int,
    hint: Callable[[int], str],
    finish: Callable[[dict[str, Any]], None],
    entity_bytes: Callable[[str, dict[str, Any]], int],
) -> tuple[dict[str, Any], str]:
    """``resp`` and its compact JSON, cut to ``limit`` bytes if it does not fit.

    ``finish(answer)`` recomputes what depends on the lists (``entities`` or its stub) in place;
    ``resp`` must already be finished. When rows are dropped, ``hint(size)`` (``size``: the uncut
    answer's bytes) replaces ``_hint``; it is asked once, before the cut, so its length is
    reserved and no second pass is needed to make room for it.
    ``entity_bytes(list_name, row)`` is what leaves the answer with that row besides the row.
    """
    if _items(resp) > MEASURE_FIRST:  # big lists: their rows' sizes give the total, no extra pass
        plan = _plan(resp, entity_bytes)
        rest = {k: [] if k in plan.rows else v for k, v in resp.items()}
        size = size_of(rest) + sum(own - 1 for own in plan.own.values())
        if size <= limit:
            return resp, dumps(resp)
    else:
        text = dumps(resp)
        size = len(text.encode())
        if size <= limit:
            return resp, text
        plan = _plan(resp, entity_bytes)
    hint_text = hint(size)
    excess = size - limit + _NOTE_RESERVE * len(plan.rows) + _TRUNCATED_KEY + len(hint_text.encode())
    excess -= len(str(resp.get("_hint", "")).encode())
    while excess > 0:
        freed = plan.drop_one()
        if freed == 0:
            break
        excess -= freed
    while True:
        out = _apply(resp, plan, hint_text, finish)
        text = dumps(out)
        over = len(text.encode()) - limit
        if over <= 0:
            return out, text
        # the estimate was short (entities shared with other rows, digits of the notes): drop more
        for _ in range(max(1, sum(plan.keep.values()) // 100)):
            if plan.drop_one() == 0:
                return out, text  # nothing left to drop: the fixed part alone passes the limit
