"""SQL of fact queries on the DuckDB backend, and the API-key split of their rows.

A fact query sums rollup buckets (each grain from its main table, plus rows not yet compacted)
and raw events for the slices no bucket fits, in one statement; see ``ledger.plan``.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import pyarrow as pa

from usagelens.ledger.base import BASE_MEASURES, FactQuery
from usagelens.ledger.duckdb.sql import EPOCH, RAW_MEASURES, TEAM_GRAINS, filters_sql, main_table, ts
from usagelens.ledger.rollups import GRAIN_CODES, Rollup, buckets
from usagelens.ledger.series import GRANULARITIES, SUB_HOUR
from usagelens.ledger.tiling import Piece

__all__ = ["fact_sql"]

#: Up to this many raw slices are OR-ed in the WHERE clause (zone maps prune the scan);
#: more (a day series in a :30/:45 zone) are matched per quarter hour against a table.
_MAX_OR = 8
_QUARTER = timedelta(minutes=15)
_MAPPING = pa.schema([("grain", pa.uint8()), ("bucket", pa.timestamp("us")), ("label", pa.timestamp("us"))])
_QUARTERS = pa.schema([("q", pa.timestamp("us")), ("label", pa.timestamp("us"))])


def _sum(expr: str, measure: str) -> str:
    """sum() of a measure; counts stay BIGINT (DuckDB widens sums of BIGINT to HUGEINT)."""
    cast = "" if measure in ("cu", "discount") else "::BIGINT"
    return f"sum({expr}){cast} AS {measure}"


def _aligned(t: datetime) -> bool:
    return t.minute % 15 == 0 and t.second == 0 and t.microsecond == 0


def _raw_part(q: FactQuery, dims: list[str], raw: list[Piece], params: dict, tables: dict) -> str:
    """Raw events of the slices no rollup bucket fits."""
    cols = [f"e.{d}" for d in dims] + ["e.is_api_key"]
    sums = ", ".join(f"{expr} AS {m}" for m, expr in RAW_MEASURES.items())
    src = "(SELECT *, unnest(nsfw) AS label FROM events) e" if "label" in dims else "events e"
    if "day" in q.by and q.per in SUB_HOUR:  # one raw piece; DuckDB's buckets start on the hour
        minutes = GRANULARITIES[q.per] // timedelta(minutes=1)
        cols.insert(0, f"time_bucket(INTERVAL {minutes} MINUTE, e.time) AS day")
    inner_cuts = [p.start for p in raw[1:]] + [p.end for p in raw[:-1]]
    if len(raw) > _MAX_OR and all(_aligned(t) for t in inner_cuts):
        # every cut inside the window is a quarter hour: join each event's quarter to its day
        quarters, labels = [], []
        for p in raw:
            t = p.start - (p.start - EPOCH) % _QUARTER
            while t < p.end:
                quarters.append(t)
                labels.append(p.label)
                t += _QUARTER
        tables["_quarters"] = pa.table([quarters, labels], schema=_QUARTERS)
        if "day" in q.by:
            cols.insert(0, "m.label AS day")
        return (
            f"SELECT {', '.join(cols)}, {sums} FROM {src} JOIN _quarters m "
            "ON time_bucket(INTERVAL 15 MINUTE, e.time) = m.q "
            f"WHERE {filters_sql(q, 'e', params)} AND e.time >= {ts(raw[0].start)} "
            f"AND e.time < {ts(raw[-1].end)} GROUP BY ALL"
        )
    ranges = " OR ".join(f"(e.time >= {ts(p.start)} AND e.time < {ts(p.end)})" for p in raw)
    if "day" in q.by and q.per not in SUB_HOUR:
        cases = " ".join(f"WHEN e.time < {ts(p.end)} THEN {ts(p.label)}" for p in raw)
        cols.insert(0, f"CASE {cases} END AS day")
    return (
        f"SELECT {', '.join(cols)}, {sums} FROM {src} WHERE {filters_sql(q, 'e', params)} AND ({ranges}) GROUP BY ALL"
    )


def _rolled_part(
    q: FactQuery,
    rollup: Rollup,
    dims: list[str],
    rolled: list[Piece],
    params: dict,
    tables: dict,
    recent: bool,
) -> str:
    """Rollup rows of the buckets that tile the window (long: one statement's text, built in
    the order it reads).

    Literal bucket ranges per grain let zone maps skip everything else (rollups are stored
    sorted by kind, grain, team and bucket). Without a day dimension the ranges are the whole
    answer; with one, each bucket is matched to its day through a small mapping table.
    """
    column = {d: f"r.d{i}" for i, d in enumerate(rollup.dims, start=1)} | {"project_id": "r.project_id"}
    cols = [f"{column[d]} AS {d}" for d in dims] + ["r.is_api_key"]
    sums = ", ".join(_sum(f"r.{m}", m) for m in BASE_MEASURES)
    where = filters_sql(q, "r", params, column)
    by_grain: dict[str, list[Piece]] = {}
    for p in rolled:
        by_grain.setdefault(p.grain, []).append(p)  # type: ignore[arg-type]
    if "day" in q.by:
        tables["_buckets"] = pa.table(list(zip(*buckets(rolled), strict=True)), schema=_MAPPING)
    parts = []
    for grain, ps in by_grain.items():
        code = GRAIN_CODES[grain]
        team_level = q.project_ids is None and grain in TEAM_GRAINS and "project_id" not in dims
        main = main_table(rollup, grain, team_level)
        source = f"(SELECT {code}::UTINYINT AS grain, * FROM {main}) r"
        if recent:  # rows not yet compacted; for week buckets, their day rows
            if grain == "week":
                bucket = f"time_bucket(INTERVAL 7 DAY, bucket, {ts(EPOCH)})"
                recent_rows = (
                    f"SELECT {code}::UTINYINT, {bucket}, * EXCLUDE (kind, grain, bucket) FROM rollups_recent "
                    f"WHERE kind = {rollup.code} AND grain = {GRAIN_CODES['day']}"
                )
            else:
                recent_rows = (
                    f"SELECT * EXCLUDE (kind) FROM rollups_recent WHERE kind = {rollup.code} AND grain = {code}"
                )
            source = f"(SELECT {code}::UTINYINT AS grain, * FROM {main} UNION ALL {recent_rows}) r"
        if "day" in q.by:  # one range per grain bounds the scan; the mapping labels each bucket
            ranges = f"r.bucket >= {ts(min(p.start for p in ps))} AND r.bucket < {ts(max(p.end for p in ps))}"
            parts.append(
                f"SELECT m.label AS day, {', '.join(cols)}, {sums} FROM {source} JOIN _buckets m "
                f"ON r.grain = m.grain AND r.bucket = m.bucket WHERE {where} AND {ranges} GROUP BY ALL"
            )
        else:
            ranges = " OR ".join(f"(r.bucket >= {ts(p.start)} AND r.bucket < {ts(p.end)})" for p in ps)
            parts.append(f"SELECT {', '.join(cols)}, {sums} FROM {source} WHERE {where} AND ({ranges}) GROUP BY ALL")
    return " UNION ALL ".join(parts)


def fact_sql(q: FactQuery, rollup: Rollup | None, pieces: list[Piece], recent: bool = True) -> tuple[str, dict, dict]:
    """One statement summing rollup buckets and raw slices, grouped by ``q.by`` and API-key flag.

    Returns the SQL, its parameters and the Arrow tables it reads (to register by name).
    ``recent`` says whether ``rollups_recent`` may hold rows (else it is not read).
    """
    params: dict[str, object] = {}
    tables: dict[str, pa.Table] = {}
    dims: list[str] = [d for d in q.by if d != "day"]
    rolled = [p for p in pieces if p.grain is not None]
    raw = [p for p in pieces if p.grain is None]
    parts = []
    if rolled:
        assert rollup is not None
        parts.append(_rolled_part(q, rollup, dims, rolled, params, tables, recent))
    if raw:
        parts.append(_raw_part(q, dims, raw, params, tables))
    # kept short on purpose: DuckDB spends ~45 µs per expression planning a statement, more
    # than the scan itself here; the API-key split and sorting happen in Arrow (``split_api``)
    keys = (["day"] if "day" in q.by else []) + dims
    sums = ", ".join(_sum(m, m) for m in BASE_MEASURES)
    sel = ", ".join([*keys, "is_api_key"])
    if len(parts) == 1 and " UNION ALL " not in parts[0]:
        return parts[0], params, tables  # already one row per group
    return f"SELECT {sel}, {sums} FROM ({' UNION ALL '.join(parts)}) u GROUP BY ALL", params, tables
