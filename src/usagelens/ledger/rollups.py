"""The DuckDB backend's rollup catalogue: which narrow rollups exist, how grains are stored, and
which rollup answers a fact query.

Rollups are narrow: each is keyed by (grain, bucket, team, project, API-key flag) plus the one
or two dimensions a figure needs, at every grain of ``tiling.GRAINS``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from usagelens.ledger.tiling import GRAINS, STEPS, Piece, tile

if TYPE_CHECKING:
    from usagelens.ledger.base import FactQuery

__all__ = ["GRAIN_CODES", "ROLLUPS", "Rollup", "buckets", "choose_rollup", "plan"]

#: Grain name -> the code stored in the rollup tables.
GRAIN_CODES: dict[str, int] = {"day": 0, "hour": 1, "week": 2}


@dataclass(frozen=True)
class Rollup:
    """A narrow rollup: its name and code (rows of one kind share a table), its extra key
    columns (stored as ``d1``, ``d2``) and the grains it is kept at."""

    name: str
    code: int
    dims: tuple[str, ...]
    grains: tuple[str, ...] = GRAINS


#: In order of preference (smallest first) for queries they can answer.
ROLLUPS: tuple[Rollup, ...] = (
    Rollup("action", 0, ("action", "asset_kind")),
    Rollup("model", 1, ("model_id",)),
    Rollup("nsfw", 3, ("label",)),
    Rollup("user", 2, ("user_id",)),
)
_ALWAYS = {"project_id", "day"}


def choose_rollup(dims: set[str]) -> Rollup | None:
    """The first rollup holding every dimension in ``dims``, or None (use raw events).

    ``label`` needs the ``nsfw`` rollup even for plain totals: its counts are per label.
    """
    needed = dims - _ALWAYS
    for rollup in ROLLUPS:
        if needed <= set(rollup.dims) and ("label" in rollup.dims) == ("label" in needed):
            return rollup
    return None


def plan(query: FactQuery) -> tuple[Rollup | None, list[Piece]]:
    """The rollup that answers ``query`` (None: raw events) and the pieces tiling its window
    (an empty window: one empty raw piece), as every backend plans a fact query."""
    dims = set(query.by) | ({"user_id"} if query.user_ids is not None else set())
    dims |= {"model_id"} if query.model_ids is not None else set()
    rollup = choose_rollup(dims)
    day_tz = query.timezone if "day" in query.by else None
    pieces = tile(query.start, query.end, rollup.grains if rollup else (), day_tz, query.per)
    if not pieces:
        pieces = [Piece(None, query.start, query.start, query.start if day_tz else None)]
    return rollup, pieces


def buckets(pieces: list[Piece]) -> list[tuple[int, datetime, datetime | None]]:
    """Every rollup bucket the pieces cover, as ``(grain code, bucket start, label)``.

    Backends join rollups to this list on equality, which is cheaper than range joins.
    """
    out: list[tuple[int, datetime, datetime | None]] = []
    for p in pieces:
        if p.grain is None:
            continue
        t, step, code = p.start, STEPS[p.grain], GRAIN_CODES[p.grain]
        while t < p.end:
            out.append((code, t, p.label))
            t += step
    return out
