"""SQL of fact queries on the ClickHouse backend.

The same tiling as DuckDB (``ledger.tiling``): rollup buckets where they fit the window, raw
events for the slices none fits, summed in one statement grouped by the query's dimensions and
the API-key flag; ``ledger.shape.split_api`` shapes the rows. Every value a caller chose (team,
project, user and model ids) travels as a server-side parameter; bucket bounds are literals
made here from ``datetime`` values.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from usagelens.ledger.base import BASE_MEASURES, FactQuery
from usagelens.ledger.rollups import GRAIN_CODES, Rollup, buckets
from usagelens.ledger.series import GRANULARITIES, SUB_HOUR
from usagelens.ledger.tiling import Piece

__all__ = ["fact_sql", "ts"]

_RAW = {
    # signed like the rollups' counts (a void subtracts), so both parts union to one type
    "events": "toInt64(count())",
    "jobs": "toInt64(countIf(e.job_id IS NOT NULL AND e.action != 'refunds'))",
    "assets": "toInt64(count(e.asset_kind))",
    "cu": "sum(e.cu)",
    "discount": "sum(e.discount)",
}
_EPOCH = datetime(1970, 1, 1)
_QUARTER = timedelta(minutes=15)
#: Up to this many raw slices get one condition each; more are matched per quarter hour.
_MAX_OR = 8


def ts(t: datetime) -> str:
    """A ``DateTime64(6, 'UTC')`` literal of a naive UTC instant."""
    return f"toDateTime64('{t.isoformat(sep=' ', timespec='microseconds')}', 6, 'UTC')"


def _micros(t: datetime) -> int:
    return (t - _EPOCH) // timedelta(microseconds=1)


def _filters(q: FactQuery, col: dict[str, str], params: dict[str, object]) -> str:
    params["team"] = q.team_id
    where = [f"{col['team_id']} = {{team:String}}"]
    for name, values in (("project_id", q.project_ids), ("user_id", q.user_ids), ("model_id", q.model_ids)):
        if values is not None:
            params[name] = list(values)
            where.append(f"{col[name]} IN {{{name}:Array(String)}}" if values else "0")
    return " AND ".join(where)


def _floor_us(time: str, step: timedelta) -> str:
    """Microseconds since the epoch of the start of ``time``'s bucket of length ``step`` (Int64,
    whole DateTime64 range: floored, not truncated, before 1970)."""
    us, n = f"toUnixTimestamp64Micro({time})", step // timedelta(microseconds=1)
    return f"({us} - ((({us} % {n}) + {n}) % {n}))"


def _label_of(micros: str, keys: list[int], labels: list[datetime | None], params: dict[str, object], name: str) -> str:
    """The day label of an instant given in microseconds, looked up among ``keys`` (``transform``).
    The arrays travel as parameters: a long window's thousands of buckets as literals exceeded
    the SQL parser's limits."""
    params[f"{name}_keys"] = keys
    params[f"{name}_labels"] = [_micros(lab) if lab is not None else 0 for lab in labels]
    return (
        f"fromUnixTimestamp64Micro(transform({micros}, {{{name}_keys:Array(Int64)}}, "
        f"{{{name}_labels:Array(Int64)}}, toInt64(0)), 'UTC')"
    )


def _raw_part(db: str, q: FactQuery, dims: list[str], raw: list[Piece], params: dict[str, object]) -> str:
    """Raw events of the slices no rollup bucket fits."""
    col = {d: f"e.{d}" for d in ("team_id", "project_id", "user_id", "model_id")}
    cols = [f"e.{d} AS {d}" if d != "label" else "label" for d in dims] + ["e.is_api_key AS is_api_key"]
    sums = ", ".join(f"{expr} AS {m}" for m, expr in _RAW.items())
    src = "events AS e ARRAY JOIN e.nsfw AS label" if "label" in dims else "events AS e"
    ranges = " OR ".join(f"(e.time >= {ts(p.start)} AND e.time < {ts(p.end)})" for p in raw)
    inner_cuts = [p.start for p in raw[1:]] + [p.end for p in raw[:-1]]
    if "day" in q.by and q.per in SUB_HOUR:
        cols.insert(0, f"fromUnixTimestamp64Micro({_floor_us('e.time', GRANULARITIES[q.per])}, 'UTC') AS day")
    elif len(raw) > _MAX_OR and all(_aligned(t) for t in inner_cuts):
        # many slices (a day series in a :30/:45 zone), every cut inside on a quarter hour: each
        # event's quarter is looked up, and one range bounds the scan
        quarters, labels = [], []
        for p in raw:
            t = p.start - (p.start - _EPOCH) % _QUARTER
            while t < p.end:
                quarters.append(_micros(t))
                labels.append(p.label)
                t += _QUARTER
        quarter = _floor_us("e.time", _QUARTER)
        ranges = f"e.time >= {ts(raw[0].start)} AND e.time < {ts(raw[-1].end)}"
        ranges += f" AND {quarter} IN {{quarter_keys:Array(Int64)}}"
        if "day" in q.by:
            cols.insert(0, f"{_label_of(quarter, quarters, labels, params, 'quarter')} AS day")
        else:
            params["quarter_keys"] = quarters
    elif "day" in q.by:  # a few slices: the label of the first one ending after the event
        params["raw_ends"] = [_micros(p.end) for p in raw]
        params["raw_labels"] = [_micros(p.label or p.start) for p in raw]
        first = "arrayFirstIndex(x -> x > toUnixTimestamp64Micro(e.time), {raw_ends:Array(Int64)})"
        cols.insert(0, f"fromUnixTimestamp64Micro(arrayElement({{raw_labels:Array(Int64)}}, {first}), 'UTC') AS day")
    keys = ", ".join(c.rsplit(" AS ", 1)[-1] for c in cols)
    return (
        f"SELECT {', '.join(cols)}, {sums} FROM `{db}`.{src} "
        f"WHERE {_filters(q, col, params)} AND ({ranges}) GROUP BY {keys}"
    )


def _aligned(t: datetime) -> bool:
    return t.minute % 15 == 0 and t.second == 0 and t.microsecond == 0


def _rolled_part(
    db: str, q: FactQuery, rollup: Rollup, dims: list[str], rolled: list[Piece], params: dict[str, object]
) -> str:
    """Rollup rows of the buckets that tile the window. Without a day dimension a few ranges per
    grain are the whole answer; with one, each bucket is looked up by (start, grain), which also
    labels it, and one range per grain bounds the scan."""
    column = {d: f"r.d{i}" for i, d in enumerate(rollup.dims, start=1)}
    column |= {"project_id": "r.project_id", "team_id": "r.team_id"}
    cols = [f"{column[d]} AS {d}" for d in dims] + ["r.is_api_key AS is_api_key"]
    sums = ", ".join(f"sum(r.{m}) AS {m}" for m in BASE_MEASURES)
    if "day" in q.by:
        mapped = buckets(rolled)
        key = "(toUnixTimestamp64Micro(r.bucket) * 4 + r.grain)"  # grain codes are < 4
        keys = [_micros(b) * 4 + code for code, b, _ in mapped]
        cols.insert(0, f"{_label_of(key, keys, [lab for _, _, lab in mapped], params, 'bucket')} AS day")
        grains = sorted({p.grain for p in rolled if p.grain is not None})
        ranges = " OR ".join(
            f"(r.grain = {GRAIN_CODES[g]} AND r.bucket >= {ts(min(p.start for p in rolled if p.grain == g))} "
            f"AND r.bucket < {ts(max(p.end for p in rolled if p.grain == g))})"
            for g in grains
        )
        ranges = f"({ranges}) AND {key} IN {{bucket_keys:Array(Int64)}}"
    else:
        ranges = " OR ".join(
            f"(r.grain = {GRAIN_CODES[p.grain]} AND r.bucket >= {ts(p.start)} AND r.bucket < {ts(p.end)})"
            for p in rolled
            if p.grain is not None
        )
    group = ", ".join(c.rsplit(" AS ", 1)[-1] for c in cols)
    return (
        f"SELECT {', '.join(cols)}, {sums} FROM `{db}`.rollups AS r "
        f"WHERE {_filters(q, column, params)} AND r.kind = {rollup.code} AND ({ranges}) GROUP BY {group}"
    )


def fact_sql(db: str, q: FactQuery, rollup: Rollup | None, pieces: list[Piece]) -> tuple[str, dict[str, object]]:
    """One statement summing rollup buckets and raw slices, grouped by ``q.by`` and API-key flag,
    and its parameters; ``db`` is the database (a checked identifier)."""
    params: dict[str, object] = {}
    dims: list[str] = [d for d in q.by if d != "day"]
    rolled = [p for p in pieces if p.grain is not None]
    raw = [p for p in pieces if p.grain is None]
    parts = []
    if rolled:
        assert rollup is not None
        parts.append(_rolled_part(db, q, rollup, dims, rolled, params))
    if raw:
        parts.append(_raw_part(db, q, dims, raw, params))
    if len(parts) == 1:
        return parts[0], params
    keys = ", ".join([*(["day"] if "day" in q.by else []), *dims, "is_api_key"])
    sums = ", ".join(f"sum({m}) AS {m}" for m in BASE_MEASURES)
    return f"SELECT {keys}, {sums} FROM ({' UNION ALL '.join(parts)}) GROUP BY {keys}", params
