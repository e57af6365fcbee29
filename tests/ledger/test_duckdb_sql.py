"""The SQL text of DuckDB fact queries, table-driven: which rollup table a query reads, how buckets
are joined to their day or hour, the filters; then every case run on a real store, where the
statement the store builds is this one and its answer equals the plain-Python oracle.

The statements are plain values (``ledger/duckdb/facts.fact_sql`` after the planning of
``DuckDBLedger.facts``: ``choose_rollup``, then ``tiling.tile``), so their text is tested without
a database; ``statement`` below repeats that planning and the store tests check it still matches.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal

import pytest

from conftest import event, table
from ledger.contract import as_facts, expected_facts
from usagelens.ledger.base import FactQuery
from usagelens.ledger.duckdb import DuckDBLedger, factreader
from usagelens.ledger.duckdb import facts as duckdb_facts
from usagelens.ledger.duckdb.facts import fact_sql
from usagelens.ledger.rollups import choose_rollup
from usagelens.ledger.tiling import Piece, tile

D = datetime(2026, 3, 2)  # a Monday
SUMS = (
    "sum(r.events)::BIGINT AS events, sum(r.jobs)::BIGINT AS jobs, sum(r.assets)::BIGINT AS assets, "
    "sum(r.cu) AS cu, sum(r.discount) AS discount"
)


def statement(q: FactQuery, recent: bool = True) -> tuple[str, dict, dict]:
    """The statement, parameters and registered tables ``DuckDBLedger.facts`` runs for ``q``."""
    dims = set(q.by) | ({"user_id"} if q.user_ids is not None else set())
    dims |= {"model_id"} if q.model_ids is not None else set()
    rollup = choose_rollup(dims)
    day_tz = q.timezone if "day" in q.by else None
    pieces = tile(q.start, q.end, rollup.grains if rollup else (), day_tz, q.per)
    pieces = pieces or [Piece(None, q.start, q.start, q.start if day_tz else None)]
    sql, params, tables = fact_sql(q, rollup, pieces, recent)
    return " ".join(sql.split()), params, tables


def reads(sql: str) -> set[str]:
    """The tables a statement reads (registered Arrow tables included)."""
    return set(re.findall(r"\b(?:FROM|JOIN) (\w+)", sql))


@dataclass(frozen=True)
class Case:
    name: str
    query: FactQuery
    reads: set[str]
    has: tuple[str, ...] = ()
    lacks: tuple[str, ...] = ()
    registered: dict[str, int] = field(default_factory=dict)  # Arrow table -> rows


def q(start: datetime, end: datetime, **kw) -> FactQuery:
    return FactQuery("team_a", start, end, **kw)


RECENT = "rollups_recent"
CASES = [
    Case(
        "team totals over whole UTC days read the team-level day table",
        q(D, D + timedelta(days=2)),
        {"rollup_action_day_team", RECENT},
        (
            "r.team_id = 'team_a' AND ((r.bucket >= TIMESTAMP '2026-03-02 00:00:00' AND r.bucket < TIMESTAMP "
            "'2026-03-04 00:00:00'))",
        ),
        ("project_id IN", "JOIN"),
    ),
    Case(
        "a month reads whole weeks (uncompacted: from recent day rows) and the days around them",
        q(datetime(2026, 3, 1), datetime(2026, 4, 1)),
        {"rollup_action_week_team", "rollup_action_day_team", RECENT},
        (
            "SELECT 2::UTINYINT, time_bucket(INTERVAL 7 DAY, bucket, TIMESTAMP '1970-01-01 00:00:00')",
            "r.bucket >= TIMESTAMP '2026-03-05 00:00:00' AND r.bucket < TIMESTAMP '2026-03-26 00:00:00'",
        ),
    ),
    Case(
        "a project filter reads the per-project tables",
        q(D, D + timedelta(days=2), project_ids=("p1", "p2")),
        {"rollup_action_day", RECENT},
        ("r.team_id = 'team_a' AND r.project_id IN ('p1', 'p2')",),
        ("_team",),
    ),
    Case(
        "a model dimension and filter read the model rollup's key column",
        q(D, D + timedelta(days=2), by=("model_id",), model_ids=("m1",)),
        {"rollup_model_day_team", RECENT},
        ("SELECT r.d1 AS model_id, r.is_api_key,", "r.d1 IN ('m1')", "WHERE kind = 1 AND grain = 0"),
    ),
    Case(
        "a user filter alone reads the user rollup, the id quoted",
        q(D, D + timedelta(days=2), user_ids=("u'1",)),
        {"rollup_user_day_team", RECENT},
        ("r.d1 IN ('u''1')",),
        ("AS user_id",),
    ),
    Case(
        "labels read the nsfw rollup",
        q(D, D + timedelta(days=2), by=("label",)),
        {"rollup_nsfw_day_team", RECENT},
        ("r.d1 AS label", "WHERE kind = 3"),
    ),
    Case(
        "labels of chosen users need raw events, one row per label",
        q(D, D + timedelta(days=2), by=("label",), user_ids=("u1",)),
        {"events"},
        ("FROM (SELECT *, unnest(nsfw) AS label FROM events) e", "e.user_id IN ('u1')"),
        ("rollup",),
    ),
    Case(
        "two dimensions no rollup holds read raw events",
        q(D, D + timedelta(days=2), by=("model_id", "user_id")),
        {"events"},
        ("SELECT e.model_id, e.user_id, e.is_api_key, count(*) AS events",),
        ("rollup", "UNION"),
    ),
    Case(
        "a window off the hour reads hours, and its edges raw",
        q(D + timedelta(hours=10, minutes=7), D + timedelta(hours=13, minutes=52)),
        {"rollup_action_hour", "events", RECENT},
        (
            "(r.bucket >= TIMESTAMP '2026-03-02 11:00:00' AND r.bucket < TIMESTAMP '2026-03-02 13:00:00')",
            "((e.time >= TIMESTAMP '2026-03-02 10:07:00' AND e.time < TIMESTAMP '2026-03-02 11:00:00') OR "
            "(e.time >= TIMESTAMP '2026-03-02 13:00:00' AND e.time < TIMESTAMP '2026-03-02 13:52:00'))",
        ),
    ),
    Case(
        "India days join hour buckets to their day and label the raw half hours with CASE",
        q(
            D - timedelta(hours=5, minutes=30),
            D + timedelta(days=3) - timedelta(hours=5, minutes=30),
            by=("day",),
            timezone="Asia/Kolkata",
        ),
        {"rollup_action_hour", "_buckets", "events", RECENT},
        (
            "SELECT m.label AS day, r.is_api_key,",
            "JOIN _buckets m ON r.grain = m.grain AND r.bucket = m.bucket",
            "CASE WHEN e.time < TIMESTAMP '2026-03-01 19:00:00' THEN TIMESTAMP '2026-03-01 18:30:00' WHEN",
        ),
        ("_quarters",),
        {"_buckets": 3 * 23},
    ),
    Case(
        "two weeks of Nepal days join raw quarter hours to their day",
        q(
            D - timedelta(hours=5, minutes=45),
            D + timedelta(days=14) - timedelta(hours=5, minutes=45),
            by=("day", "action"),
            timezone="Asia/Kathmandu",
        ),
        {"rollup_action_hour", "_buckets", "events", "_quarters", RECENT},
        (
            "FROM events e JOIN _quarters m ON time_bucket(INTERVAL 15 MINUTE, e.time) = m.q",
            "SELECT m.label AS day, e.action, e.is_api_key",
        ),
        ("CASE",),
        {"_buckets": 14 * 23, "_quarters": 14 * 4},
    ),
    Case(
        "hour buckets read the hour rollup, each bucket its own label",
        q(D, D + timedelta(hours=6), by=("day",), per="hour", timezone="America/New_York"),
        {"rollup_action_hour", "_buckets", RECENT},
        ("r.bucket >= TIMESTAMP '2026-03-02 00:00:00' AND r.bucket < TIMESTAMP '2026-03-02 06:00:00'",),
        ("FROM events",),
        {"_buckets": 6},
    ),
    Case(
        "five-minute buckets are time buckets of raw events",
        q(D + timedelta(minutes=7), D + timedelta(hours=3), by=("day", "model_id"), per="5m"),
        {"events"},
        ("SELECT time_bucket(INTERVAL 5 MINUTE, e.time) AS day, e.model_id, e.is_api_key",),
        ("rollup", "CASE"),
    ),
    Case(
        "an empty window reads an empty raw slice",
        q(D, D),
        {"events"},
        ("(e.time >= TIMESTAMP '2026-03-02 00:00:00' AND e.time < TIMESTAMP '2026-03-02 00:00:00')",),
    ),
    Case(
        "an empty filter matches nothing",
        q(D, D + timedelta(days=1), by=("user_id",), project_ids=()),
        {"rollup_user_day", RECENT},
        ("r.project_id IN (NULL)",),
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_fact_sql_reads_the_narrowest_table_with_its_joins_and_filters(case):
    sql, params, tables = statement(case.query)
    assert reads(sql) == case.reads
    for part in case.has:
        assert part in sql
    for part in case.lacks:
        assert part not in sql
    assert params == {}  # values are quoted literals (a prepared statement cost more than the scan)
    assert {name: t.num_rows for name, t in tables.items()} == case.registered


def test_without_recent_rows_only_the_sorted_main_tables_are_read():
    for case in CASES:
        sql, _, _ = statement(case.query, recent=False)
        assert reads(sql) == case.reads - {RECENT}, case.name


@pytest.mark.parametrize(
    ("query", "text"),
    [
        (
            q(D, D + timedelta(days=2)),
            f"SELECT r.is_api_key, {SUMS} FROM (SELECT 0::UTINYINT AS grain, * FROM rollup_action_day_team) r "
            "WHERE r.team_id = 'team_a' AND ((r.bucket >= TIMESTAMP '2026-03-02 00:00:00' AND "
            "r.bucket < TIMESTAMP '2026-03-04 00:00:00')) GROUP BY ALL",
        ),
        (
            q(D, D + timedelta(hours=2), by=("day",), per="hour"),
            f"SELECT m.label AS day, r.is_api_key, {SUMS} FROM (SELECT 1::UTINYINT AS grain, * FROM "
            "rollup_action_hour) r JOIN _buckets m ON r.grain = m.grain AND r.bucket = m.bucket WHERE "
            "r.team_id = 'team_a' AND r.bucket >= TIMESTAMP '2026-03-02 00:00:00' AND "
            "r.bucket < TIMESTAMP '2026-03-02 02:00:00' GROUP BY ALL",
        ),
        (
            q(D, D + timedelta(hours=1), by=("day", "action"), per="15m", user_ids=("u1",)),
            "SELECT time_bucket(INTERVAL 15 MINUTE, e.time) AS day, e.action, e.is_api_key, count(*) AS events, "
            "count(*) FILTER (WHERE e.job_id IS NOT NULL AND e.action <> 'refunds') AS jobs, "
            "count(e.asset_kind) AS assets, sum(e.cu) AS cu, sum(e.discount) AS discount FROM events e "
            "WHERE e.team_id = 'team_a' AND e.user_id IN ('u1') AND ((e.time >= TIMESTAMP "
            "'2026-03-02 00:00:00' AND e.time < TIMESTAMP '2026-03-02 01:00:00')) GROUP BY ALL",
        ),
    ],
    ids=["whole days", "hours", "quarter hours"],
)
def test_single_part_statements_read_as_written(query, text):
    assert statement(query, recent=False)[0] == text


def _events() -> list[dict]:
    """Three weeks of events every 37 minutes in two teams, varied in every dimension."""
    start = D - timedelta(days=7)
    return [
        event(
            i,
            start + timedelta(minutes=37 * i, seconds=i % 60),
            team_id="team_a" if i % 5 else "team_b",
            project_id=f"p{i % 4}",
            user_id=["u1", "u2", "u'1"][i % 7 % 3],
            model_id=[None, "m1", "m2"][i % 3],
            action=["images-generation", "upscale", "refunds"][i % 4 % 3],
            cu=Decimal(i % 11) / 4,
            asset_kind="image" if i % 2 else None,
            nsfw=[None, ["gore"], ["gore", "nudity"]][i % 3],
            is_api_key=i % 4 == 0,
        )
        for i in range(21 * 24 * 60 // 37)
    ]


@pytest.fixture(scope="module", params=["recent rows", "compacted"])
def store(request) -> Iterator[tuple[DuckDBLedger, list[dict], bool]]:
    rows = _events()
    led = DuckDBLedger(":memory:")
    for i in range(0, len(rows), 200):
        led.write_events(table(rows[i : i + 200]))
    if request.param == "compacted":
        led.maintain()
    yield led, rows, request.param == "recent rows"
    led.close()


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_each_statement_is_the_one_the_store_runs_and_answers_exactly(store, case, monkeypatch):
    led, rows, recent = store
    ran = []

    def spy(*args, **kw):
        out = real(*args, **kw)
        ran.append(" ".join(out[0].split()))
        return out

    expected = expected_facts(rows, case.query)
    from_memory = led.facts(case.query)  # whole-day team queries of a compacted store: no statement
    assert as_facts(from_memory, case.query.by) == expected
    real = duckdb_facts.fact_sql
    monkeypatch.setattr(duckdb_facts, "fact_sql", spy)  # what DuckDBLedger.facts calls
    monkeypatch.setattr(factreader, "_whole_hours", lambda *a: False)
    got = led.facts(case.query)
    assert ran == [statement(case.query, recent)[0]]
    assert as_facts(got, case.query.by) == expected
    assert got.equals(from_memory)
