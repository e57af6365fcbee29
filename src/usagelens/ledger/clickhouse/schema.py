"""SQL text of the ClickHouse schema: events, the views that keep rollups, entities and control tables.

Plain functions returning statements, so the schema can be read and tested without a server.

- ``events``: ``MergeTree`` partitioned by month, ordered by ``(team_id, time, id)``; times are
  ``DateTime64(6, 'UTC')`` (ClickHouse holds 1900-01-01 to 2299-12-31), CU ``Decimal(18, 6)``.
  ``nsfw`` is an ``Array(String)`` (ClickHouse arrays cannot be NULL): ``nsfw_null`` keeps
  whether the event had no list at all, so answers show ``null`` where DuckDB does.
- ``rollups``: one ``SummingMergeTree`` ordered by ``(team_id, kind, grain, bucket, …)``, fed by
  one materialized view per rollup kind; each event fans out to its hour, day and week buckets
  (weeks aligned on 1970-01-01, like ``ledger.tiling``). Reads always ``sum() … GROUP BY``, so
  parts not merged yet never change an answer and no ``FINAL`` is needed.
- ``event_ids``: ``(team_id, id)`` of every event in small granules, fed by a view: the exact
  duplicate check before an insert reads it by primary key.
- ``team_projects``: the (team, project) pairs seen in events, fed by a view.
- entities, ``api_keys`` and ``meta``: ``ReplacingMergeTree(version)``, read with ``FINAL``
  (point upserts of small tables: the newest version of a key wins).

With ``cluster``, every statement runs ``ON CLUSTER`` and tables are ``Replicated*`` (the
server's default replication path); without, plain engines.
"""

from __future__ import annotations

import re

from usagelens.errors import InvalidArgument
from usagelens.ledger.entity_rules import entity_key
from usagelens.ledger.rollups import GRAIN_CODES, ROLLUPS, Rollup
from usagelens.model import ENTITY_FIELDS, EVENT_FIELDS, FieldType

__all__ = [
    "SCHEMA_VERSION",
    "WEEK_US",
    "bucket_sql",
    "check_name",
    "rollup_select",
    "schema_sql",
]

SCHEMA_VERSION = "1"
#: Microseconds in a week (week buckets are aligned on the Unix epoch).
WEEK_US = 7 * 86_400 * 1_000_000
_TYPE = {
    FieldType.STRING: "String",
    FieldType.TIME: "DateTime64(6, 'UTC')",
    FieldType.DECIMAL: "Decimal(18, 6)",
    FieldType.NONNEG_DECIMAL: "Decimal(18, 6)",
    FieldType.BOOL: "Bool",
    FieldType.ASSET_KIND: "String",
    FieldType.LABELS: "Array(String)",
}
#: Columns with few distinct values: dictionary-encoded.
_LOW = {"team_id", "project_id", "action", "asset_kind"}
_NOT_NULL = {"cu", "discount", "is_api_key"}
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,62}")


def check_name(kind: str, name: str) -> str:
    """``name`` when it is a plain identifier (a database or cluster name), else one sentence."""
    if not _NAME.fullmatch(name):
        raise InvalidArgument(
            f"--db: the {kind} name {name!r} is not a plain identifier; use letters, digits and _ "
            "(not starting with a digit)",
            field="db",
        )
    return name


def _column(name: str, ftype: FieldType, required: bool) -> str:
    base = _TYPE[ftype]
    if ftype == FieldType.LABELS:
        return f"{name} {base}"
    if not required:
        base = f"Nullable({base})"
    if name in _LOW:
        base = f"LowCardinality({base})"
    return f"{name} {base}"


def bucket_sql(grain: str, time: str = "time") -> str:
    """The start of ``time``'s bucket at ``grain``, as ``DateTime64(6, 'UTC')`` (whole range)."""
    if grain == "hour":
        return f"toStartOfHour({time})"
    if grain == "day":
        return f"toStartOfDay({time})"
    m = f"toUnixTimestamp64Micro({time})"  # Int64, negative before 1970: floor, not truncate
    return f"fromUnixTimestamp64Micro({m} - ((({m} % {WEEK_US}) + {WEEK_US}) % {WEEK_US}), 'UTC')"


class _Ddl:
    def __init__(self, db: str, cluster: str | None) -> None:
        self.db = check_name("database", db)
        self.on = f" ON CLUSTER `{check_name('cluster', cluster)}`" if cluster else ""
        self.replicated = "Replicated" if cluster else ""

    def table(self, name: str, cols: str, engine: str, tail: str) -> str:
        return (
            f"CREATE TABLE IF NOT EXISTS `{self.db}`.{name}{self.on} ({cols}) ENGINE = {self.replicated}{engine} {tail}"
        )

    def view(self, name: str, target: str, select: str) -> str:
        return f"CREATE MATERIALIZED VIEW IF NOT EXISTS `{self.db}`.{name}{self.on} TO `{self.db}`.{target} AS {select}"


_MEASURES = (
    "toInt64(count()) AS events",
    "toInt64(countIf(job_id IS NOT NULL AND action != 'refunds')) AS jobs",
    "toInt64(count(asset_kind)) AS assets",
    "sum(cu) AS cu",
    "sum(discount) AS discount",
)


def rollup_select(r: Rollup, source: str, sign: str = "") -> str:
    """The rows of rollup ``r`` that the events of ``source`` (a table or a subquery) add, at
    every grain; with ``sign="-"`` the rows that take them out again (a void)."""
    dims = [("label" if d == "label" else d) for d in r.dims] + ["NULL"] * (2 - len(r.dims))
    d1 = f"CAST({dims[0]} AS Nullable(String))"
    d2 = f"CAST({dims[1]} AS Nullable(String))"
    grains = ", ".join(str(GRAIN_CODES[g]) for g in r.grains)
    bucket = f"multiIf(grain = {GRAIN_CODES['hour']}, {bucket_sql('hour')}, grain = {GRAIN_CODES['day']}, "
    bucket += f"{bucket_sql('day')}, {bucket_sql('week')})"
    labels = " ARRAY JOIN nsfw AS label" if "label" in r.dims else ""
    measures = ", ".join(f"{sign}{m}" for m in _MEASURES)
    return (
        f"SELECT toUInt8({r.code}) AS kind, toUInt8(grain) AS grain, toDateTime64({bucket}, 6, 'UTC') AS bucket, "
        f"team_id, project_id, is_api_key, {d1} AS d1, {d2} AS d2, {measures} "
        f"FROM {source}{labels} ARRAY JOIN [{grains}] AS grain "
        "GROUP BY kind, grain, bucket, team_id, project_id, is_api_key, d1, d2"
    )


def _rollup_view(ddl: _Ddl, r: Rollup) -> str:
    return ddl.view(f"rollups_{r.name}_mv", "rollups", rollup_select(r, f"`{ddl.db}`.events"))


def schema_sql(db: str, cluster: str | None = None) -> list[str]:
    """CREATE statements for the database and every table and view (idempotent), in order."""
    ddl = _Ddl(db, cluster)
    # CONTRACT §1's defaults are applied before a write: CU, discount and the API-key flag are never NULL
    events = ", ".join(_column(f.column, f.type, f.required or f.column in _NOT_NULL) for f in EVENT_FIELDS)
    events += ", nsfw_null Bool"
    stmts = [
        f"CREATE DATABASE IF NOT EXISTS `{ddl.db}`{ddl.on}",
        ddl.table("meta", "key String, value String, version UInt64", "ReplacingMergeTree(version)", "ORDER BY key"),
        ddl.table(
            "events",
            events,
            "MergeTree",
            "PARTITION BY toYYYYMM(time) ORDER BY (team_id, time, id) "
            "SETTINGS non_replicated_deduplication_window = 10000",
        ),
        ddl.table(
            "event_ids",
            "team_id LowCardinality(String), id String",
            "ReplacingMergeTree",
            "ORDER BY (team_id, id) SETTINGS index_granularity = 256",
        ),
        ddl.view("event_ids_mv", "event_ids", f"SELECT team_id, id FROM `{ddl.db}`.events"),
        # corrections (CONTRACT §1): a voided event's row, with who, when and why; its id stays
        # in event_ids, so it stays taken
        ddl.table(
            "voids",
            f"{events}, voided_at DateTime64(6, 'UTC'), voided_by String, reason String",
            "ReplacingMergeTree",
            "ORDER BY (team_id, id)",
        ),
        ddl.table(
            "team_projects",
            "team_id LowCardinality(String), project_id LowCardinality(String)",
            "ReplacingMergeTree",
            "ORDER BY (team_id, project_id)",
        ),
        ddl.view("team_projects_mv", "team_projects", f"SELECT DISTINCT team_id, project_id FROM `{ddl.db}`.events"),
        ddl.table(
            "rollups",
            "kind UInt8, grain UInt8, bucket DateTime64(6, 'UTC'), team_id LowCardinality(String), "
            "project_id LowCardinality(String), is_api_key Bool, d1 Nullable(String), d2 Nullable(String), "
            # signed: a void adds rows that subtract what its events added
            "events Int64, jobs Int64, assets Int64, cu Decimal(38, 6), discount Decimal(38, 6)",
            "SummingMergeTree",
            "ORDER BY (team_id, kind, grain, bucket, project_id, is_api_key, d1, d2) "
            "SETTINGS allow_nullable_key = 1, non_replicated_deduplication_window = 10000",
        ),
        *(_rollup_view(ddl, r) for r in ROLLUPS),
        # budgets, grants, deliveries (the newest version wins) and alerts raised (the earliest wins)
        ddl.table(
            "docs",
            "kind String, id String, doc Nullable(String), version UInt64",
            "ReplacingMergeTree(version)",
            "ORDER BY (kind, id)",
        ),
        ddl.table(
            "claims",
            "kind String, id String, doc String, version UInt64",
            "ReplacingMergeTree(version)",
            "ORDER BY (kind, id) SETTINGS non_replicated_deduplication_window = 10000",
        ),
        ddl.table(
            "api_keys",
            "key_id String, secret_hash String, salt String, team_id String, kind String, "
            "project_id Nullable(String), label Nullable(String), created_at DateTime64(6, 'UTC'), "
            "revoked_at Nullable(DateTime64(6, 'UTC')), version UInt64",
            "ReplacingMergeTree(version)",
            "ORDER BY key_id",
        ),
    ]
    for kind, fields in ENTITY_FIELDS.items():
        cols = ", ".join(_column(f.column, f.type, f.required) for f in fields)
        key = ", ".join(("owner", *entity_key(kind)))
        stmts.append(
            ddl.table(kind, f"owner String, {cols}, version UInt64", "ReplacingMergeTree(version)", f"ORDER BY ({key})")
        )
    return stmts
