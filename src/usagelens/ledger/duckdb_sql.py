"""SQL text of the DuckDB backend: schema, rollup maintenance and fact queries.

Kept as plain functions returning ``(sql, params)`` so the statements can be read and tested
without a database; ``duckdb.py`` runs them.
"""

from __future__ import annotations

from datetime import datetime

from usagelens.ledger.base import BASE_MEASURES, ActivityQuery, FactQuery
from usagelens.ledger.plan import GRAIN_CODES, ROLLUPS, Piece, Rollup
from usagelens.model import ENTITY_FIELDS, EVENT_FIELDS, FieldType

__all__ = [
    "SCHEMA_VERSION",
    "compact_sql",
    "entity_upsert_sql",
    "fact_sql",
    "filters_sql",
    "rollup_append_sql",
    "schema_sql",
]

SCHEMA_VERSION = "1"
_CU = "DECIMAL(18,6)"
_SUM = "DECIMAL(38,6)"
_SQL_TYPE = {
    FieldType.STRING: "VARCHAR",
    FieldType.TIME: "TIMESTAMP",
    FieldType.DECIMAL: _CU,
    FieldType.NONNEG_DECIMAL: _CU,
    FieldType.BOOL: "BOOLEAN",
    FieldType.ASSET_KIND: "VARCHAR",
    FieldType.LABELS: "VARCHAR[]",
}
_NOT_NULL = {"cu", "discount", "is_api_key"}
EVENT_COLUMNS = tuple(f.column for f in EVENT_FIELDS)
_KEYS = ("team_id", "project_id", "is_api_key")
#: How each base measure is computed from raw events (``e``).
_RAW_MEASURES = {
    "events": "count(*)",
    "jobs": "count(*) FILTER (WHERE e.job_id IS NOT NULL AND e.action <> 'refunds')",
    "assets": "count(e.asset_kind)",
    "cu": "sum(e.cu)",
    "discount": "sum(e.discount)",
}


def schema_sql() -> list[str]:
    """CREATE statements for every table (idempotent)."""
    cols = ", ".join(
        f"{f.column} {_SQL_TYPE[f.type]}" + (" NOT NULL" if f.required or f.column in _NOT_NULL else "")
        for f in EVENT_FIELDS
    )
    stmts = [
        "CREATE TABLE IF NOT EXISTS meta (key VARCHAR PRIMARY KEY, value VARCHAR)",
        f"CREATE TABLE IF NOT EXISTS events ({cols})",
        "CREATE TABLE IF NOT EXISTS rollup_state (name VARCHAR PRIMARY KEY, appends BIGINT, "
        "appended_rows BIGINT, dirty_from TIMESTAMP)",
    ]
    for kind, fields in ENTITY_FIELDS.items():
        ecols = ", ".join(f"{f.column} {_SQL_TYPE[f.type]}" for f in fields)
        key = "team_id, id" if kind == "projects" else "id"
        stmts.append(f"CREATE TABLE IF NOT EXISTS {kind} ({ecols}, PRIMARY KEY ({key}))")
    for r in ROLLUPS:
        dims = "".join(f", {d} VARCHAR" for d in r.dims)
        stmts.append(
            f"CREATE TABLE IF NOT EXISTS {r.name} (grain UTINYINT NOT NULL, "
            "bucket TIMESTAMP NOT NULL, team_id VARCHAR NOT NULL, project_id VARCHAR NOT NULL, "
            f"is_api_key BOOLEAN NOT NULL{dims}, events BIGINT, jobs BIGINT, assets BIGINT, "
            f"cu {_SUM}, discount {_SUM})"
        )
        stmts.append(f"INSERT INTO rollup_state VALUES ('{r.name}', 0, 0, NULL) ON CONFLICT DO NOTHING")
    return stmts


def _source(r: Rollup, table: str) -> str:
    """FROM clause over new events; ``roll_nsfw`` has one row per (event, label)."""
    if "label" in r.dims:
        return f"(SELECT *, unnest(nsfw) AS label FROM {table}) e"
    return f"{table} e"


def rollup_append_sql(r: Rollup, table: str) -> str:
    """Append the new events of ``table`` to rollup ``r`` at all its grains, pre-aggregated.

    Aggregates once at the finest grain, then rolls those rows up to the coarser grains.
    """
    keys = ", ".join(_KEYS + r.dims)
    raw = ", ".join(f"{expr} AS {m}" for m, expr in _RAW_MEASURES.items())
    sums = ", ".join(f"sum({m})" for m in BASE_MEASURES)
    finest = r.grains[-1]
    trunc = {
        "day": "date_trunc('day', {c})",
        "hour": "date_trunc('hour', {c})",
    }
    parts = [
        f"SELECT {GRAIN_CODES[g]}, {trunc[g].format(c='b')}, {keys}, {sums} FROM fine GROUP BY ALL"
        for g in r.grains
        if g != finest
    ]
    parts.insert(0, f"SELECT {GRAIN_CODES[finest]}, b, {keys}, {', '.join(BASE_MEASURES)} FROM fine")
    return (
        f"INSERT INTO {r.name} WITH fine AS (SELECT {trunc[finest].format(c='e.time')} AS b, "
        f"{', '.join('e.' + k for k in _KEYS + r.dims)}, {raw} FROM {_source(r, table)} "
        f"GROUP BY ALL) " + " UNION ALL ".join(parts)
    )


def compact_sql(r: Rollup) -> list[str]:
    """Merge rows of equal key from ``$lo`` on into one row each, sorted for zone maps."""
    keys = ", ".join(("grain", "bucket", *_KEYS, *r.dims))
    sums = ", ".join(f"sum({m}) AS {m}" for m in BASE_MEASURES)
    return [
        f"CREATE OR REPLACE TEMP TABLE _compact AS SELECT {keys}, {sums} FROM {r.name} "
        "WHERE bucket >= $lo GROUP BY ALL",
        f"DELETE FROM {r.name} WHERE bucket >= $lo",
        f"INSERT INTO {r.name} SELECT * FROM _compact ORDER BY grain, team_id, bucket",
        "DROP TABLE _compact",
    ]


def entity_upsert_sql(kind: str, table: str) -> str:
    """Insert or replace entities; the last record of an id in the batch wins."""
    cols = ", ".join(f.column for f in ENTITY_FIELDS[kind])
    key = "team_id, id" if kind == "projects" else "id"
    return (
        f"INSERT OR REPLACE INTO {kind} ({cols}) SELECT {cols} FROM "
        f"(SELECT *, row_number() OVER () AS _rn FROM {table}) "
        f"QUALIFY row_number() OVER (PARTITION BY {key} ORDER BY _rn DESC) = 1"
    )


def filters_sql(q: FactQuery | ActivityQuery, alias: str, params: dict[str, object]) -> str:
    params["team"] = q.team_id
    where = [f"{alias}.team_id = $team"]
    if q.project_ids is not None:
        params["projects"] = list(q.project_ids)
        where.append(f"list_contains($projects, {alias}.project_id)")
    if q.user_ids is not None:
        params["users"] = list(q.user_ids)
        where.append(f"list_contains($users, {alias}.user_id)")
    return " AND ".join(where)


def _ts(t: datetime | None) -> str:
    return "NULL::TIMESTAMP" if t is None else f"TIMESTAMP '{t.isoformat(sep=' ')}'"


def _raw_part(q: FactQuery, dims: list[str], raw: list[Piece], params: dict) -> str:
    """Raw events of the pieces no rollup bucket fits; OR-ed ranges keep zone maps useful."""
    ranges = " OR ".join(f"(e.time >= {_ts(p.start)} AND e.time < {_ts(p.end)})" for p in raw)
    cols = [f"e.{d}" for d in dims] + ["e.is_api_key"]
    if "day" in q.by:
        cases = " ".join(f"WHEN e.time < {_ts(p.end)} THEN {_ts(p.label)}" for p in raw)
        cols.insert(0, f"CASE {cases} END AS day")
    sums = ", ".join(f"{expr} AS {m}" for m, expr in _RAW_MEASURES.items())
    src = "(SELECT *, unnest(nsfw) AS label FROM events) e" if "label" in dims else "events e"
    return (
        f"SELECT {', '.join(cols)}, {sums} FROM {src} WHERE {filters_sql(q, 'e', params)} "
        f"AND ({ranges}) GROUP BY ALL"
    )


def fact_sql(
    q: FactQuery, rollup: Rollup | None, pieces: list[Piece], mapping: str = "_buckets"
) -> tuple[str, dict]:
    """One statement summing rollup buckets and raw pieces, grouped by ``q.by``.

    Rollup buckets are matched by equality against ``mapping``, a table of
    ``(grain, bucket, label)`` rows the caller registers (``plan.buckets(pieces)``).
    """
    params: dict[str, object] = {}
    dims = [d for d in q.by if d != "day"]
    rolled = [p for p in pieces if p.grain is not None]
    raw = [p for p in pieces if p.grain is None]
    parts = []
    if rolled:
        assert rollup is not None
        params["lo"], params["hi"] = min(p.start for p in rolled), max(p.end for p in rolled)
        sel = ", ".join(
            (["m.label AS day"] if "day" in q.by else []) + [f"r.{d}" for d in dims] + ["r.is_api_key"]
        )
        sums = ", ".join(f"sum(r.{m}) AS {m}" for m in BASE_MEASURES)
        parts.append(
            f"SELECT {sel}, {sums} FROM {rollup.name} r JOIN {mapping} m "
            "ON r.grain = m.grain AND r.bucket = m.bucket "
            f"WHERE {filters_sql(q, 'r', params)} AND r.bucket >= $lo AND r.bucket < $hi "
            "GROUP BY ALL"
        )
    if raw:
        parts.append(_raw_part(q, dims, raw, params))
    keys = (["day"] if "day" in q.by else []) + dims
    out = list(keys)
    for prefix, cond in (("", ""), ("api_", " FILTER (WHERE is_api_key)")):
        for m in BASE_MEASURES:
            typ = _SUM if m in ("cu", "discount") else "BIGINT"
            out.append(f"coalesce(sum({m}){cond}, 0)::{typ} AS {prefix}{m}")
    group = f" GROUP BY {', '.join(keys)} ORDER BY {', '.join(keys)}" if keys else ""
    return f"SELECT {', '.join(out)} FROM ({' UNION ALL '.join(parts)}) u{group}", params
