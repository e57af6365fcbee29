"""SQL text of the DuckDB backend: schema, rollup maintenance and fact queries.

Kept as plain functions returning ``(sql, params)`` so the statements can be read and tested
without a database; ``duckdb.py`` runs them.
"""

from __future__ import annotations

from datetime import datetime

from usagelens.ledger.base import BASE_MEASURES, ActivityQuery, FactQuery
from usagelens.ledger.plan import ROLLUPS, Piece, Rollup
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

SCHEMA_VERSION = "2"
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
        # one table for every narrow rollup: ``kind`` says which, ``d1``/``d2`` hold its keys
        "CREATE TABLE IF NOT EXISTS rollups (kind UTINYINT NOT NULL, grain UTINYINT NOT NULL, "
        "bucket TIMESTAMP NOT NULL, team_id VARCHAR NOT NULL, project_id VARCHAR NOT NULL, "
        f"is_api_key BOOLEAN NOT NULL, d1 VARCHAR, d2 VARCHAR, events BIGINT, jobs BIGINT, "
        f"assets BIGINT, cu {_SUM}, discount {_SUM})",
        "CREATE TABLE IF NOT EXISTS rollup_state (id INTEGER PRIMARY KEY, appends BIGINT, "
        "appended_rows BIGINT, dirty_from TIMESTAMP)",
        "INSERT INTO rollup_state VALUES (1, 0, 0, NULL) ON CONFLICT DO NOTHING",
    ]
    for kind, fields in ENTITY_FIELDS.items():
        ecols = ", ".join(f"{f.column} {_SQL_TYPE[f.type]}" for f in fields)
        key = "team_id, id" if kind == "projects" else "id"
        stmts.append(f"CREATE TABLE IF NOT EXISTS {kind} ({ecols}, PRIMARY KEY ({key}))")
    return stmts


def rollup_append_sql(table: str, with_labels: bool = True) -> str:
    """Append the new events of ``table`` to every rollup at every grain, in one statement.

    Each event is paired with each grain, then aggregated once per rollup (a cross join was
    faster than rolling hours up into days, for 1,000 and for 1,000,000 events). The NSFW
    rollup, one row per (event, label), is skipped when no event carries a label.
    """
    raw = ", ".join(f"{expr} AS {m}" for m, expr in _RAW_MEASURES.items())
    keys = ", ".join(f"e.{k}" for k in _KEYS)
    src = (
        f"(SELECT g.grain, CASE g.grain WHEN 0 THEN date_trunc('day', e.time) "
        f"ELSE date_trunc('hour', e.time) END AS bucket, e.* FROM {table} e, "
        "(VALUES (0::UTINYINT), (1::UTINYINT)) g(grain))"
    )
    parts = []
    for r in ROLLUPS:
        if "label" in r.dims and not with_labels:
            continue
        d = [f"e.{c}" for c in r.dims] + ["NULL::VARCHAR"] * (2 - len(r.dims))
        source = f"(SELECT *, unnest(nsfw) AS label FROM {src}) e" if "label" in r.dims else f"{src} e"
        parts.append(
            f"SELECT {r.code}::UTINYINT, e.grain, e.bucket, {keys}, {', '.join(d)}, {raw} "
            f"FROM {source} GROUP BY ALL"
        )
    return "INSERT INTO rollups " + " UNION ALL ".join(parts)


def compact_sql() -> list[str]:
    """Merge rows of equal key from ``$lo`` on into one row each, sorted for zone maps."""
    keys = "kind, grain, bucket, team_id, project_id, is_api_key, d1, d2"
    sums = ", ".join(f"sum({m}) AS {m}" for m in BASE_MEASURES)
    return [
        f"CREATE OR REPLACE TEMP TABLE _compact AS SELECT {keys}, {sums} FROM rollups "
        "WHERE bucket >= $lo GROUP BY ALL",
        "DELETE FROM rollups WHERE bucket >= $lo",
        "INSERT INTO rollups SELECT * FROM _compact ORDER BY kind, grain, team_id, bucket",
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


def filters_sql(
    q: FactQuery | ActivityQuery, alias: str, params: dict[str, object], column: dict[str, str] | None = None
) -> str:
    """WHERE conditions of the query's filters; ``column`` maps dimensions to rollup columns."""
    col = {d: f"{alias}.{d}" for d in ("project_id", "user_id", "model_id")} | (column or {})
    params["team"] = q.team_id
    where = [f"{alias}.team_id = $team"]
    if q.project_ids is not None:
        params["projects"] = list(q.project_ids)
        where.append(f"list_contains($projects, {col['project_id']})")
    if q.user_ids is not None:
        params["users"] = list(q.user_ids)
        where.append(f"list_contains($users, {col['user_id']})")
    if getattr(q, "model_ids", None) is not None:
        params["models"] = list(q.model_ids)  # type: ignore[union-attr]
        where.append(f"list_contains($models, {col['model_id']})")
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
        column = {d: f"r.d{i}" for i, d in enumerate(rollup.dims, start=1)} | {"project_id": "r.project_id"}
        sel = ", ".join(
            (["m.label AS day"] if "day" in q.by else [])
            + [f"{column[d]} AS {d}" for d in dims]
            + ["r.is_api_key"]
        )
        sums = ", ".join(f"sum(r.{m}) AS {m}" for m in BASE_MEASURES)
        parts.append(
            f"SELECT {sel}, {sums} FROM rollups r JOIN {mapping} m "
            "ON r.grain = m.grain AND r.bucket = m.bucket "
            f"WHERE r.kind = {rollup.code} AND {filters_sql(q, 'r', params, column)} "
            "AND r.bucket >= $lo AND r.bucket < $hi GROUP BY ALL"
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
