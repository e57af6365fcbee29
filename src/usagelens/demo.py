"""A seeded, realistic synthetic workload for ``make run``, tests and benchmarks.

``DemoSpec(seed, events, days, end)`` always yields the same events and entities: a few
teams, tens of projects, hundreds of users (some API keys) and models, Zipf-skewed activity
with a weekday/weekend and day/night rhythm, every asset kind, refunds (negative CU),
discounts, a few NSFW labels and decimal CU values. Event batches come out in time order,
already in ``model.EVENT_SCHEMA``, generated with vectorised numpy (~1M events/s).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from usagelens.demo_catalog import ACTIONS, Catalog, build_catalog
from usagelens.model import CU_TYPE, EVENT_SCHEMA

__all__ = ["DemoSpec", "demo_entities", "demo_events"]

_CHUNK = 1_000_000
_BLOCK = 100_000
_MICRO = 1_000_000  # CU_TYPE has 6 fractional digits
_HOURS = np.array([2, 1, 1, 1, 1, 2, 3, 5, 8, 10, 11, 11, 10, 11, 12, 12, 11, 10, 8, 7, 6, 5, 4, 3])


@dataclass(frozen=True)
class DemoSpec:
    """What to generate: ``events`` over the ``days`` days ending at ``end`` (exclusive)."""

    seed: int = 7
    events: int = 100_000
    days: int = 120
    end: date | None = None
    users: int = 320
    models: int = 420

    def end_instant(self) -> datetime:
        """The (naive UTC) instant after the last generated event: midnight after ``end``."""
        d = self.end or datetime.now(UTC).date()
        return datetime(d.year, d.month, d.day) + timedelta(days=1)


def demo_entities(spec: DemoSpec) -> dict[str, pa.Table]:
    """Teams, projects, users and models of the workload (entity schemas)."""
    return build_catalog(spec.seed, spec.users, spec.models).entities()


def _times(spec: DemoSpec, rng: np.random.Generator) -> np.ndarray:
    """Sorted event times (µs since epoch): weekday/weekend, growth trend, diurnal curve."""
    start = spec.end_instant() - timedelta(days=spec.days)
    day0 = (start - datetime(1970, 1, 1)).days
    days = np.arange(spec.days)
    weekday = (day0 + days + 3) % 7  # 1970-01-01 was a Thursday
    w = np.where(weekday >= 5, 0.45, 1.0) * (1 + 0.6 * days / max(spec.days, 1))
    day = rng.choice(spec.days, size=spec.events, p=w / w.sum())
    hour = rng.choice(24, size=spec.events, p=_HOURS / _HOURS.sum())
    within = rng.integers(0, 3_600_000_000, size=spec.events)
    t = (day0 + day).astype(np.int64) * 86_400_000_000 + hour * 3_600_000_000 + within
    # Never in the future: events of today later than now move to the day before.
    now = int((datetime.now(UTC).replace(tzinfo=None) - datetime(1970, 1, 1)).total_seconds())
    t = np.where(t >= now * 1_000_000, t - 86_400_000_000, t)
    t.sort()
    return t


def _decimal(units: np.ndarray) -> pa.Array:
    """Exact decimal128(18, 6) from integer micro-CU (two's complement, little endian)."""
    words = np.empty((len(units), 2), dtype=np.int64)
    words[:, 0] = units
    words[:, 1] = np.where(units < 0, -1, 0)
    return pa.Array.from_buffers(CU_TYPE, len(units), [None, pa.py_buffer(words.tobytes())])


def _ids(prefix: str, idx: np.ndarray, mask: np.ndarray | None = None) -> pa.Array:
    text = pc.binary_join_element_wise(prefix, pc.cast(pa.array(idx), pa.string()), "")
    return text if mask is None else pc.if_else(pa.array(mask), text, pa.scalar(None, pa.string()))


def _chunk(cat: Catalog, spec: DemoSpec, t: np.ndarray, first: int, part: int) -> pa.Table:
    """Events ``first…`` at times ``t``: one vectorised draw per column.

    Long because each column is one short numpy step that reads best in the order the columns
    depend on each other (user → team → project → action → CU …)."""
    rng = np.random.default_rng([spec.seed, part])
    n = len(t)
    idx = np.arange(first, first + n)
    user = rng.choice(len(cat.user_ids), size=n, p=cat.user_weights)
    team = cat.user_team[user]
    home = rng.random(n) < 0.7
    other = cat.team_projects_flat(team, rng)
    project = np.where(home, cat.user_home[user], other)
    act = rng.choice(len(ACTIONS), size=n, p=[a.weight for a in ACTIONS])
    kind_idx = cat.kinds(act, rng)
    gross = cat.gross_cu(act, rng)  # micro-CU, positive
    refund = np.array([a.name == "refunds" for a in ACTIONS])[act]
    disc = np.where(~refund & (rng.random(n) < 0.15), gross // 5 // 100 * 100, 0)
    cu_units = np.where(refund, -gross, gross - disc)
    model = cat.models_for(act, rng)
    has_job = np.array([a.job for a in ACTIONS])[act]
    refunded = np.maximum(idx - rng.integers(1, 5000, size=n), 0)
    job_idx = np.where(refund, refunded, idx)
    has_asset = kind_idx >= 0
    nsfw = _nsfw(rng, has_asset, n)
    s = f"{spec.seed:x}"
    cols = {
        "id": _ids(f"evt_{s}_", idx),
        "time": pa.array(t, pa.timestamp("us")),
        "team_id": pa.array(cat.team_ids).take(team),
        "project_id": pa.array(cat.project_ids).take(project),
        "user_id": pa.array(cat.user_ids).take(user),
        "action": pa.array([a.name for a in ACTIONS]).take(act),
        "cu": _decimal(cu_units),
        "discount": _decimal(disc),
        "is_api_key": pa.array(cat.user_is_api[user]),
        "model_id": pc.if_else(
            pa.array(model >= 0),
            pa.array(cat.model_ids).take(pa.array(np.maximum(model, 0))),
            pa.scalar(None, pa.string()),
        ),
        "job_id": _ids(f"job_{s}_", job_idx, has_job | refund),
        "asset_id": _ids(f"ast_{s}_", idx, has_asset),
        "collection_id": _ids("col_", idx % 40, has_asset & (rng.random(n) < 0.05)),
        "asset_kind": pc.if_else(
            pa.array(has_asset),
            pa.array(cat.kind_names).take(pa.array(np.maximum(kind_idx, 0))),
            pa.scalar(None, pa.string()),
        ),
        "nsfw": nsfw,
    }
    return pa.table(cols).select(EVENT_SCHEMA.names).cast(EVENT_SCHEMA)


def _nsfw(rng: np.random.Generator, has_asset: np.ndarray, n: int) -> pa.Array:
    labels = ["nudity", "violence", "gore", "hate", "self-harm"]
    flagged = has_asset & (rng.random(n) < 0.004)
    first = rng.integers(0, len(labels), size=n)
    second = np.where(rng.random(n) < 0.3, (first + 1) % len(labels), -1)
    out: list[list[str] | None] = [None] * n
    for i in np.nonzero(flagged)[0]:
        out[i] = [labels[first[i]]] + ([labels[second[i]]] if second[i] >= 0 else [])
    return pa.array(out, pa.list_(pa.string()))


def demo_events(spec: DemoSpec, chunk: int = _CHUNK) -> Iterator[pa.Table]:
    """The workload's events in time order, in tables of at most ``chunk`` rows.

    Events are drawn in fixed blocks (one random stream per block), so the workload does
    not depend on ``chunk``.
    """
    cat = build_catalog(spec.seed, spec.users, spec.models)
    t = _times(spec, np.random.default_rng([spec.seed, 0xD1]))
    pending: list[pa.Table] = []
    size = 0
    for part, first in enumerate(range(0, spec.events, _BLOCK)):
        pending.append(_chunk(cat, spec, t[first : first + _BLOCK], first, part))
        size += pending[-1].num_rows
        while size >= chunk or (size and first + _BLOCK >= spec.events):
            buf = pa.concat_tables(pending)
            yield buf.slice(0, chunk)
            rest = buf.slice(chunk)
            pending, size = ([rest] if rest.num_rows else []), rest.num_rows
