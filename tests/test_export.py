"""Export through the core (``usagelens.export``): what is exported reads back, through the real
ingest, into a store that gives every answer exactly as the original; windows, scopes, tenancy
and exact decimals."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from conftest import event, table
from export_support import NOW, OTHER, PROJECT, TEAM, answers, demo_store, export_all, load
from usagelens.auth import Caller
from usagelens.errors import Forbidden, InvalidArgument, NotFound
from usagelens.export import EventExport, ExportScope, entity_table, export_scope, export_window
from usagelens.ingest.pipeline import ingest_file
from usagelens.ledger.duckdb import DuckDBLedger
from usagelens.model import ENTITY_SCHEMAS
from usagelens.query import UsageArgs
from usagelens.service import usage

#: The DuckDB backend's ``events`` reads through a cursor's Arrow reader, which DuckDB 2.0 warns
#: about; ``pyproject.toml`` ignores that warning, and so do these tests under ``-W error``.
pytestmark = pytest.mark.filterwarnings("ignore:Arrow output on a DB-API result:UserWarning")


@pytest.fixture(scope="module")
def demo() -> Iterator[DuckDBLedger]:
    led = demo_store()
    yield led
    led.close()


def _bytes(job: EventExport, fmt: str) -> bytes:
    sink = io.BytesIO()
    job.write(fmt, sink)
    return sink.getvalue()


@pytest.mark.parametrize("fmt", ["jsonl", "csv", "parquet"])
def test_a_team_exported_and_ingested_into_an_empty_store_gives_every_answer_unchanged(demo, tmp_path, fmt):
    files = export_all(demo, fmt, tmp_path, ExportScope(TEAM))
    assert {"events", "teams", "projects", "users", "models"} <= set(files)
    copy = load(files)
    try:
        assert copy.stats().events == sum(b.num_rows for b in demo.events(TEAM))
        assert answers(copy) == answers(demo)
        assert [t["id"] for t in copy.teams()] == [TEAM]  # nothing of the other teams
        mine = set(pa.concat_tables(demo.events(TEAM))["user_id"].to_pylist())
        assert set(copy.entity_rows("users")["id"].to_pylist()) <= mine
    finally:
        copy.close()


def test_a_date_only_end_includes_its_day_and_an_instant_end_excludes_itself(demo, demo_rows):
    def exported(start: str, end: str) -> list[datetime]:
        lo, hi = export_window(start, end)
        return [t for b in EventExport(demo, ExportScope(TEAM), lo, hi).tables() for t in b["time"].to_pylist()]

    days = exported("2026-04-01", "2026-04-15")
    expected = [
        r["time"] for r in demo_rows if r["team_id"] == TEAM and "2026-04-01" <= r["time"].isoformat() < "2026-04-16"
    ]
    assert days == sorted(expected) and days[-1].day == 15
    assert exported("2026-04-01", "2026-04-15T00:00:00Z")[-1].day == 14
    assert exported("2026-04-01T12:00:00+02:00", "2026-04-02")[0] >= datetime(2026, 4, 1, 10)


def test_events_come_ordered_by_time_then_id_and_total_counts_them(demo):
    job = EventExport(demo, ExportScope(TEAM), *export_window("2026-03-01", "2026-04-30"))
    rows = [(r["time"], r["id"]) for b in job.tables() for r in b.select(["time", "id"]).to_pylist()]
    assert rows == sorted(rows) and job.rows == len(rows) == job.total()


def test_a_project_keys_export_holds_only_its_project(demo, demo_rows):
    caller = Caller(kind="project", team_id=TEAM, project_id=PROJECT)
    scope = export_scope(demo, caller, None)
    assert scope == ExportScope(TEAM, PROJECT)
    got = pa.concat_tables(EventExport(demo, scope, None, None).tables())
    mine = [r for r in demo_rows if r["team_id"] == TEAM and r["project_id"] == PROJECT]
    assert set(got["project_id"].to_pylist()) == {PROJECT} and got.num_rows == len(mine)
    assert entity_table(demo, scope, "projects")["id"].to_pylist() == [PROJECT]
    users = set(entity_table(demo, scope, "users")["id"].to_pylist())
    assert users == {r["user_id"] for r in mine} & set(demo.entity_rows("users")["id"].to_pylist())


def test_who_may_export_which_team(demo):
    analytics = Caller(kind="analytics", team_id=TEAM)
    assert export_scope(demo, analytics, None) == ExportScope(TEAM)
    with pytest.raises(NotFound) as other:
        export_scope(demo, analytics, OTHER, "teamId")
    with pytest.raises(NotFound) as missing:
        export_scope(demo, analytics, "no_such_team", "teamId")
    assert str(other.value).replace(OTHER, "X") == str(missing.value).replace("no_such_team", "X")
    with pytest.raises(Forbidden):
        export_scope(demo, Caller(kind="ingest", team_id=TEAM), TEAM)
    with pytest.raises(InvalidArgument, match=r"^--team is required because you can see 4 teams: team_b_0, "):
        export_scope(demo, Caller.local(), None, "--team")


@pytest.mark.parametrize(
    ("start", "end", "message"),
    [
        ("2026-04-02", "2026-04-01", "end (2026-04-01) is not after start (2026-04-02)"),
        ("2026-02-30", None, "start: '2026-02-30' is not a date"),
        (None, "9999-01-01", "end: '9999-01-01' is outside the dates usagelens answers for"),
        ("２０２６-01-01", None, "is not a date"),
    ],
)
def test_a_bad_window_is_one_sentence_naming_the_bound(start, end, message):
    with pytest.raises(InvalidArgument) as e:
        export_window(start, end)
    assert message in str(e.value) and "\n" not in str(e.value)


def _users(*rows: tuple[str, str]) -> pa.Table:
    return pa.Table.from_pylist(
        [{"id": i, "full_name": n, "email": None, "is_api_key": False} for i, n in rows], schema=ENTITY_SCHEMAS["users"]
    )


def _own_names_store() -> DuckDBLedger:
    """Team a and team b share user u1; b names it itself, a names u9 (no event) itself."""
    led = DuckDBLedger(":memory:")
    t = datetime(2026, 4, 1)
    rows = [
        event(1, t, team_id="team_a", user_id="u1"),
        event(2, t, team_id="team_a", user_id="u2", project_id="p2"),
        event(3, t, team_id="team_b", user_id="u1"),
        event(4, t, team_id="team_b", user_id="u3"),
    ]
    led.write_events(table(rows))
    led.upsert_entities("users", _users(("u1", "Default"), ("u2", "Two"), ("u3", "Three")))
    led.upsert_entities("users", _users(("u1", "B's own")), "team_b")
    led.upsert_entities("users", _users(("u9", "Nine")), "team_a")
    return led


def test_entities_are_the_teams_view_and_never_another_teams():
    led = _own_names_store()
    try:

        def names(scope: ExportScope) -> dict[str, str]:
            return {r["id"]: r["full_name"] for r in entity_table(led, scope, "users").to_pylist()}

        assert names(ExportScope("team_a")) == {"u1": "Default", "u2": "Two", "u9": "Nine"}
        assert names(ExportScope("team_b")) == {"u1": "B's own", "u3": "Three"}
        assert names(ExportScope("team_a", "proj_1")) == {"u1": "Default"}
    finally:
        led.close()


def test_exact_decimals_survive_every_format(tmp_path):
    src = DuckDBLedger(":memory:")
    t = datetime(2026, 4, 1, 9, 30, 0, 123456)
    cus = [Decimal("123456789012.123456"), Decimal("-0.5"), Decimal("0.1"), Decimal("0.2")]
    src.write_events(table([event(i, t, cu=c, discount=Decimal("0.000001") * i) for i, c in enumerate(cus)]))
    try:
        for fmt in ("jsonl", "csv", "parquet"):
            path = tmp_path / f"exact.{fmt}"
            path.write_bytes(_bytes(EventExport(src, ExportScope("team_a"), None, None), fmt))
            if fmt == "jsonl":
                first = path.read_text().splitlines()[0]
                assert '"creativeUnitsCost":123456789012.123456,' in first
                assert json.loads(first, parse_float=Decimal)["time"] == "2026-04-01T09:30:00.123456Z"
            elif fmt == "csv":
                assert ",123456789012.123456,0," in path.read_text()
            else:
                assert pq.read_schema(path).field("creativeUnitsCost").type == pa.decimal128(18, 6)
            copy = DuckDBLedger(":memory:")
            ingest_file(copy, str(path))
            got = pa.concat_tables(copy.events("team_a"))
            assert got["cu"].to_pylist() == cus and got["time"].to_pylist() == [t] * 4, fmt
            args = UsageArgs(team_id="team_a", start_date="2026-04-01", end_date="2026-04-01")
            assert usage(copy, Caller.local(), args, now=NOW).data["totals"]["totalCU"] == sum(cus)
            copy.close()
    finally:
        src.close()


def test_the_same_rows_give_the_same_bytes(demo):
    scope = ExportScope(TEAM)
    for fmt in ("jsonl", "csv", "parquet"):
        assert _bytes(EventExport(demo, scope, None, None), fmt) == _bytes(EventExport(demo, scope, None, None), fmt)


def test_an_export_without_rows_is_an_empty_file_or_a_header(demo, tmp_path: Path):
    window = export_window("2026-01-01", "2026-01-02")
    assert _bytes(EventExport(demo, ExportScope(TEAM), *window), "jsonl") == b""
    assert _bytes(EventExport(demo, ExportScope(TEAM), *window), "csv").count(b"\n") == 1
    assert pq.read_table(io.BytesIO(_bytes(EventExport(demo, ExportScope(TEAM), *window), "parquet"))).num_rows == 0


def test_awkward_text_and_labels_survive_every_format(tmp_path):
    t = datetime(2026, 4, 1, 12)
    rows = [
        event(1, t, model_id='x,"y"\nz', asset_id=" edge ", asset_kind="image", nsfw=["a;b", "c"]),
        event(2, t, model_id="é\u2028\u00a0", collection_id="[x]", nsfw=[], is_api_key=True),
        event(3, t, user_id="u,1\r", job_id="", nsfw=["x\ny", 'q"', "\\", ""]),
        event(4, t, model_id=None, job_id=None, nsfw=["plain", "two words", "[not json"]),
    ]
    src = DuckDBLedger(":memory:")
    src.write_events(table(rows))
    # ingest reads an empty text value as absent, in every format
    expected = [dict(r, job_id=r["job_id"] or None) for r in pa.concat_tables(src.events("team_a")).to_pylist()]
    try:
        for fmt in ("jsonl", "csv", "parquet"):
            path = tmp_path / f"awkward.{fmt}"
            path.write_bytes(_bytes(EventExport(src, ExportScope("team_a"), None, None), fmt))
            copy = DuckDBLedger(":memory:")
            ingest_file(copy, str(path))
            got = pa.concat_tables(copy.events("team_a")).to_pylist()
            copy.close()
            assert got == expected, fmt
    finally:
        src.close()


def test_duckdb_and_clickhouse_export_the_same_bytes(demo):
    from chdb_support import chdb_url
    from usagelens.ledger import open_ledger
    from usagelens.migrate import copy_store

    ch = open_ledger(chdb_url("export"))
    try:
        copy_store(demo, ch)
        for scope in (ExportScope(TEAM), ExportScope(TEAM, PROJECT)):
            window = export_window("2026-03-03T10:00:00Z", "2026-04-28")
            for fmt in ("jsonl", "csv", "parquet"):
                ours = _bytes(EventExport(demo, scope, *window), fmt)
                assert _bytes(EventExport(ch, scope, *window), fmt) == ours and len(ours) > 1000, (scope, fmt)
            for kind in ("users", "models", "projects", "teams"):
                tables = [entity_table(led, scope, kind) for led in (demo, ch)]
                assert tables[0].equals(tables[1]) and tables[0].num_rows, (scope, kind)
    finally:
        ch.close()


def test_parquet_row_groups_do_not_depend_on_how_the_store_batches(demo, monkeypatch):
    from usagelens.ingest import export as encoding
    from usagelens.model import EVENT_FIELDS, EVENT_SCHEMA

    monkeypatch.setattr(encoding, "ROW_GROUP", 1000)
    rows = pa.concat_tables(demo.events(TEAM)).slice(0, 4500)
    files = []
    for cuts in ([4500], [600, 1900, 1, 999, 1000], [3000, 1500]):
        parts, at = [], 0
        for n in cuts:
            parts.append(rows.slice(at, n))
            at += n
        sink = io.BytesIO()
        encoding.write_parquet(parts, EVENT_FIELDS, EVENT_SCHEMA, sink)
        files.append(sink.getvalue())
    meta = pq.ParquetFile(io.BytesIO(files[0])).metadata
    assert [meta.row_group(i).num_rows for i in range(meta.num_row_groups)] == [1000] * 4 + [500]
    assert files[0] == files[1] == files[2]


def test_a_long_history_is_read_a_month_at_a_time_and_nothing_is_missed():
    led = DuckDBLedger(":memory:")
    times = [datetime(2025, 1, 31, 23, 59), datetime(2025, 2, 1), datetime(2025, 7, 15), datetime(2099, 6, 1)]
    times += [datetime(2026, m, 1) + timedelta(days=d) for m in (3, 4) for d in (0, 9, 27)]
    led.write_events(table([event(i, t) for i, t in enumerate(times)]))
    try:
        job = EventExport(led, ExportScope("team_a"), None, None)
        assert len(job.spans()) > 20 and job.spans()[0][0] is None and job.spans()[-1][1] is None
        got = [t for b in job.tables() for t in b["time"].to_pylist()]
        assert got == sorted(times) and job.rows == len(times)
        window = export_window("2025-02-01", "2026-03-10")
        inside = [t for b in EventExport(led, ExportScope("team_a"), *window).tables() for t in b["time"].to_pylist()]
        assert inside == sorted(t for t in times if datetime(2025, 2, 1) <= t < datetime(2026, 3, 11))
    finally:
        led.close()
