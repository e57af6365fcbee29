"""Streamed ingest (``UsageWriter.write_events_stream``): a file written batch by batch in one
transaction gives the same answers as one batch, writes nothing when any record is invalid or the
stream fails midway (DuckDB and chDB), counts duplicates across batches, and leaves the store's
in-memory state right after a rollback. Real stores, real files; small batches via the sizes."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chdb_support import chdb_url
from conftest import event, table
from usagelens.auth import Caller
from usagelens.budgets import series
from usagelens.budgets.registry import set_budget
from usagelens.budgets.status import budget_status
from usagelens.budgets.watch import Watched
from usagelens.errors import InvalidInput
from usagelens.ingest import pipeline, readers
from usagelens.ingest.export import write_events_file
from usagelens.ingest.pipeline import ingest_file
from usagelens.ledger import open_ledger
from usagelens.ledger.base import FactQuery, Ledger
from usagelens.ledger.duckdb import DuckDBLedger
from usagelens.model import WriteResult

WINDOW = (datetime(2000, 1, 1), datetime(2100, 1, 1))
T0 = datetime(2026, 3, 1, 9, 30)
BYS: tuple[tuple[Any, ...], ...] = ((), ("project_id", "user_id"), ("model_id", "action", "asset_kind"), ("day",))


@pytest.fixture
def small_batches(monkeypatch: pytest.MonkeyPatch) -> None:
    """Files read in chunks of a few hundred records, written in batches of about 1,000."""
    monkeypatch.setattr(pipeline, "WRITE_ROWS", 1000)
    monkeypatch.setattr(readers, "_BLOCK", 1 << 16)  # JSONL: ~230 demo lines per chunk
    monkeypatch.setattr(readers, "_ROWS", 250)  # Parquet rows per chunk


@pytest.fixture(params=["duckdb-memory", "duckdb-file", "chdb"])
def any_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Ledger]:
    url = {"duckdb-memory": ":memory:", "duckdb-file": str(tmp_path / "s.duckdb"), "chdb": chdb_url("stream")}
    led = open_ledger(url[request.param])
    yield led
    led.close()


def _sample(small_demo_events: pa.Table) -> pa.Table:
    return small_demo_events.slice(0, 5000)


def _file(tmp_path: Path, rows: pa.Table, ext: str, tail: str = "") -> str:
    path = tmp_path / f"events.{ext}"
    write_events_file([rows], str(path))
    if tail:
        with path.open("a") as f:
            f.write(tail + "\n")
    return str(path)


def _file_cu(path: str) -> Decimal:
    """The CU of a file summed from its own text or columns (not through ingest)."""
    if path.endswith(".parquet"):
        return sum((v for v in pq.read_table(path)["creativeUnitsCost"].to_pylist() if v is not None), Decimal(0))
    records = [json.loads(line, parse_float=Decimal) for line in Path(path).read_text().splitlines()]
    return sum((Decimal(str(r.get("creativeUnitsCost", 0))) for r in records), Decimal(0))


def _answers(led: Ledger) -> dict[str, Any]:
    """What the store answers: every team's facts by a few groupings, and its counts."""
    out: dict[str, Any] = {}
    for team in led.teams():
        for by in BYS:
            out[f"{team['id']}/{by}"] = led.facts(FactQuery(team["id"], *WINDOW, by=by)).to_pylist()
    stats = led.stats()
    out["stats"] = (stats.events, stats.teams, stats.projects, stats.users, stats.total_cu)
    out["activity"] = led.team_activity()
    return out


def _total_cu(led: Ledger) -> Decimal:
    return sum((led.facts(FactQuery(t["id"], *WINDOW)).to_pylist()[0]["cu"] for t in led.teams()), Decimal(0))


def _writes(progress: list[tuple[str, int, int]]) -> int:
    """Batches announced to the writer."""
    return sum(1 for phase, done, total in progress if phase == "writing" and done < total)


# -- (a) a file of several batches ------------------------------------------------------------


@pytest.mark.parametrize("ext", ["jsonl", "parquet"])
def test_a_file_of_many_batches_gives_exact_totals_and_the_answers_of_one_batch(
    ext, tmp_path, small_demo_events, monkeypatch
):
    path = _file(tmp_path, _sample(small_demo_events), ext)
    with DuckDBLedger(str(tmp_path / "one.duckdb")) as one:
        whole = ingest_file(one, path, future_tolerance=timedelta(days=3650))
        expected = _answers(one)
    assert (whole.read, whole.written, whole.duplicates) == (5000, 5000, 0)
    monkeypatch.setattr(pipeline, "WRITE_ROWS", 1000)
    monkeypatch.setattr(readers, "_BLOCK", 1 << 16)
    monkeypatch.setattr(readers, "_ROWS", 250)
    seen: list[tuple[str, int, int]] = []
    with DuckDBLedger(str(tmp_path / "many.duckdb")) as many:
        report = ingest_file(many, path, future_tolerance=timedelta(days=3650), progress=lambda *p: seen.append(p))
        assert _writes(seen) >= 4  # really streamed
        assert seen[-1] == ("writing", 5000, 5000)
        assert (report.read, report.written, report.duplicates, report.rejected) == (5000, 5000, 0, 0)
        assert _total_cu(many) == many.stats().total_cu == _file_cu(path)
        assert _answers(many) == expected


def test_a_file_of_many_batches_into_a_chdb_store_gives_the_same_answers(tmp_path, small_demo_events, small_batches):
    path = _file(tmp_path, _sample(small_demo_events), "parquet")
    house = open_ledger(chdb_url("stream_file"))
    try:
        report = ingest_file(house, path, future_tolerance=timedelta(days=3650))
        assert (report.written, report.duplicates) == (5000, 0)
        assert _total_cu(house) == _file_cu(path)
    finally:
        house.close()


# -- (b) an invalid record in the last batch ----------------------------------------------------

_BAD = json.dumps({"id": "bad", "time": "not a time", "teamId": "t", "projectId": "p", "userId": "u", "action": "a"})


def _future_row(rows: pa.Table) -> pa.Table:
    """The last row again under a new id, an hour past the future tolerance: invalid."""
    late = rows.slice(rows.num_rows - 1).to_pylist()[0]
    late |= {"id": "too-late", "time": datetime.now(UTC).replace(tzinfo=None) + timedelta(days=2)}
    return pa.concat_tables([rows, pa.Table.from_pylist([late], schema=rows.schema)])


@pytest.mark.parametrize("ext", ["jsonl", "parquet"])
def test_an_invalid_record_in_the_last_batch_writes_nothing_and_skip_invalid_writes_the_rest(
    ext, tmp_path, small_demo_events, small_batches
):
    sample = _sample(small_demo_events)
    path = _file(tmp_path, sample, ext, _BAD) if ext == "jsonl" else _file(tmp_path, _future_row(sample), ext)
    with DuckDBLedger(str(tmp_path / "s.duckdb")) as led:
        led.write_events(table([event(1, T0, team_id="team_b_0")]))  # the store holds something
        before = _answers(led)
        seen: list[tuple[str, int, int]] = []
        with pytest.raises(InvalidInput) as e:
            ingest_file(led, path, progress=lambda *p: seen.append(p))
        assert "1 of 5,001 records are invalid; nothing was written" in str(e.value)
        assert _writes(seen) >= 4  # batches went into the transaction before the bad record was read
        assert _answers(led) == before
        assert led.stats().events == 1
        report = ingest_file(led, path, skip_invalid=True)
        assert (report.read, report.written, report.duplicates, report.rejected) == (5001, 5000, 0, 1)
        assert led.stats().events == 5001
        assert _total_cu(led) == Decimal(1) + sum(sample["cu"].to_pylist(), Decimal(0))


# -- (c) the stream fails midway ------------------------------------------------------------------


def _failing(batches: list[pa.Table], error: Exception) -> Iterator[pa.Table]:
    yield from batches
    raise error


@pytest.mark.parametrize("good", [1, 3])
def test_an_exception_of_the_stream_rolls_everything_back(any_store, small_demo_events, good):
    led = any_store
    led.write_events(small_demo_events.slice(10_000, 100))
    before = _answers(led)
    sample = _sample(small_demo_events)
    batches = [sample.slice(i * 1000, 1000) for i in range(good)]
    with pytest.raises(InvalidInput, match="boom"):
        led.write_events_stream(_failing(batches, InvalidInput("boom")))
    assert _answers(led) == before
    assert led.write_events_stream(iter(batches)) == WriteResult(1000 * good, 0)


# -- (d) duplicates across batches -------------------------------------------------------------


def test_duplicates_across_the_batches_of_a_stream_are_counted(any_store):
    led = any_store
    assert led.write_events(table([event(0, T0)])) == WriteResult(1, 0)
    first = table([event(i, T0 + timedelta(minutes=i)) for i in range(1, 6)])
    second = table([event(i, T0 + timedelta(minutes=i)) for i in (0, 3, 5, 6, 7, 7)])  # stored, earlier, repeated
    assert led.write_events_stream(iter([first, table([]), second])) == WriteResult(7, 4)
    assert led.stats().events == 8
    assert led.write_events_stream(iter([first, second])) == WriteResult(0, 11)


def test_duplicates_across_the_batches_of_a_file_are_counted(tmp_path, small_demo_events, small_batches):
    sample = _sample(small_demo_events)
    path = _file(tmp_path, pa.concat_tables([sample, sample.slice(0, 10)]), "parquet")
    with DuckDBLedger(str(tmp_path / "s.duckdb")) as led:
        report = ingest_file(led, path, future_tolerance=timedelta(days=3650))
        assert (report.read, report.written, report.duplicates) == (5010, 5000, 10)
        assert led.stats().events == 5000


# -- (e) the store's memory after a rollback, and the entity views -------------------------------


@pytest.mark.parametrize("warm", [True, False])
def test_after_a_rolled_back_stream_the_same_events_are_written_not_duplicates(tmp_path, warm):
    with DuckDBLedger(str(tmp_path / "s.duckdb")) as led:
        led.write_events(table([event(i, T0) for i in range(3)]))
        if warm:
            led.warm()  # the id set in memory
        led.teams(), led.team_activity()  # the entity views in memory
        new = [table([event(i, T0, team_id="team_n", project_id="p_new", user_id=f"u{i}")]) for i in range(10, 13)]
        with pytest.raises(RuntimeError):
            led.write_events_stream(_failing(new, RuntimeError("lost")))
        assert [t["id"] for t in led.teams()] == ["team_a"]
        assert led.write_events_stream(iter(new)) == WriteResult(3, 0)
        assert led.write_events(table([event(i, T0) for i in range(4)])) == WriteResult(1, 3)
        assert [t["id"] for t in led.teams()] == ["team_a", "team_n"]
        assert led.team_activity()["team_n"]["users_count"] == 3
        assert _total_cu(led) == 7


def test_the_entity_views_count_only_the_rows_a_stream_wrote(tmp_path):
    with DuckDBLedger(str(tmp_path / "s.duckdb")) as led:
        led.write_events(table([event(1, T0, user_id="u1")]))
        assert led.team_activity()["team_a"]["users_count"] == 1
        whole = table([event(2, T0, user_id="u2")])
        part = table([event(1, T0 - timedelta(days=9), user_id="ghost"), event(3, T0, user_id="u3")])  # e1: stored
        assert led.write_events_stream(iter([whole, part])) == WriteResult(2, 1)
        activity = led.team_activity()["team_a"]
        assert (activity["users_count"], activity["created_at"]) == (3, T0)
        assert led.write_events_stream(iter([table([event(4, T0 - timedelta(days=1), user_id="u4")])])).written == 1
        activity = led.team_activity()["team_a"]
        assert (activity["users_count"], activity["created_at"]) == (4, T0 - timedelta(days=1))


# -- budgets: ``Watched`` streams too ------------------------------------------------------------


def test_a_watched_stream_records_its_alerts_and_keeps_the_budget_series_exact():
    now = datetime.now(UTC).replace(tzinfo=None, microsecond=0)
    month = datetime(now.year, now.month, 1)
    with DuckDBLedger(":memory:") as led:
        budget = set_budget(led, Caller.local(), "team_a", cu="100", thresholds="50,100", now=month)
        assert budget_status(led, budget, [], now).used == 0  # a series kept for this state
        w = Watched(led)
        ours = table([event(i, month + timedelta(seconds=i), cu=Decimal("20")) for i in range(3)])
        theirs = table([event(i, month, team_id="team_z", cu=Decimal("500")) for i in range(3, 5)])
        with pytest.raises(RuntimeError):
            w.write_events_stream(_failing([ours, theirs], RuntimeError("lost")))
        assert led.claims("alerts") == {} and budget_status(led, budget, [], now).used == 0
        assert w.write_events_stream(iter([ours, theirs])) == WriteResult(5, 0)
        assert list(led.claims("alerts")) == [f"team_a|{month.date().isoformat()}|50"]
        kept = budget_status(led, budget, [], now)
        series._KEPT[led] = {}
        assert kept.used == budget_status(led, budget, [], now).used == Decimal(60)


_LINE = st.one_of(
    st.builds(
        lambda i, cu, team: json.dumps(
            {
                "id": f"e{i}",
                "time": "2026-03-01T09:30:00Z",
                "teamId": team,
                "projectId": "p1",
                "userId": "u1",
                "action": "upscale",
                "creativeUnitsCost": cu,
            }
        ),
        st.integers(0, 40),  # ids repeat: duplicates within and across batches
        st.decimals(min_value=0, max_value=10**6, places=3, allow_nan=False).map(str),
        st.sampled_from(["team_a", "team_b"]),
    ),
    st.sampled_from(['{"id": ', "null", "[]", '{"id": "x"}', "\u00e9\u00ff", '{"creativeUnitsCost": "1e999"}']),
)


@settings(
    max_examples=int(os.environ.get("USAGELENS_FUZZ_EXAMPLES", "40")),
    deadline=None,
    suppress_health_check=list(HealthCheck),
)
@given(lines=st.lists(_LINE, min_size=1, max_size=60), skip=st.booleans())
def test_a_streamed_file_of_arbitrary_lines_is_written_whole_or_not_at_all(tmp_path_factory, lines, skip):
    """Any mix of valid and broken lines, read in batches of a few rows: without
    ``skip_invalid`` a file with one broken line writes nothing; otherwise exactly the valid
    rows are written once each, and each team's CU equals an independent sum of its first
    occurrences."""
    path = Path(tmp_path_factory.mktemp("stream")) / "f.jsonl"
    path.write_text("\n".join(lines) + "\n")
    with pytest.MonkeyPatch.context() as m:
        m.setattr(pipeline, "WRITE_ROWS", 3)
        m.setattr(readers, "_BLOCK", 256)
        with DuckDBLedger(":memory:") as led:
            try:
                report = ingest_file(led, str(path), skip_invalid=skip)
            except InvalidInput:
                assert led.stats().events == 0  # nothing partly written
                return
            first: dict[str, dict[str, Any]] = {}
            for raw in lines:
                try:
                    rec = json.loads(raw)
                except ValueError:
                    continue
                if isinstance(rec, dict) and "teamId" in rec:
                    first.setdefault(f"{rec['teamId']}/{rec['id']}", rec)
            assert report.written == led.stats().events == len(first)
            for team in ("team_a", "team_b"):
                expected = sum(
                    (Decimal(r["creativeUnitsCost"]) for r in first.values() if r["teamId"] == team), Decimal(0)
                )
                got = led.facts(FactQuery(team, *WINDOW)).column("cu").to_pylist()
                assert (got[0] if got else Decimal(0)) == expected
