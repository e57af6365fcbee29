"""File ingest: formats, round trips, and every bad-input case with its exact message."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from usagelens.errors import InvalidInput
from usagelens.ingest.export import write_events_file
from usagelens.ingest.pipeline import ingest_file

GOOD = {
    "id": "a1",
    "time": "2026-03-01T10:00:00Z",
    "teamId": "t1",
    "projectId": "p1",
    "userId": "u1",
    "action": "images-generation",
}


def _jsonl(tmp_path: Path, records: list, name: str = "e.jsonl") -> str:
    p = tmp_path / name
    p.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in records))
    return str(p)


def _problems(ledger, path: str, **kw) -> list[str]:
    with pytest.raises(InvalidInput) as e:
        ingest_file(ledger, path, **kw)
    return [str(p) for p in e.value.problems]


def test_demo_events_round_trip_through_every_file_format(ledger, tmp_path, small_demo_events):
    sample = small_demo_events.slice(0, 3000)
    for ext in ("jsonl", "csv", "parquet"):
        path = str(tmp_path / f"ev.{ext}")
        write_events_file([sample], path)
        from usagelens.ledger.duckdb import DuckDBLedger

        led = DuckDBLedger(":memory:")
        report = ingest_file(led, path)
        assert (report.read, report.written, report.duplicates) == (3000, 3000, 0), ext
        got = led._con.sql("SELECT * FROM events ORDER BY id").to_arrow_table()
        assert got.sort_by("id").to_pylist() == sample.sort_by("id").to_pylist(), ext
        led.close()


def test_json_decimals_are_read_exactly_and_sum_exactly(ledger, tmp_path):
    cus = ["0.1", "0.2", "0.3", "0.000001", "99999999999.999999", "-0.6"]
    recs = [dict(GOOD, id=f"a{i}", creativeUnitsCost=json.loads(c)) for i, c in enumerate(cus[:4])]
    recs.append(
        f'{{"id":"big","time":"2026-03-01T10:00:00Z","teamId":"t1","projectId":"p1",'
        f'"userId":"u1","action":"x","creativeUnitsCost":{cus[4]}}}'
    )
    recs.append(dict(GOOD, id="neg", creativeUnitsCost="-0.6"))
    ingest_file(ledger, _jsonl(tmp_path, recs))
    total = ledger._con.execute("SELECT sum(cu) FROM events").fetchone()[0]
    assert total == sum(Decimal(c) for c in cus) == Decimal("100000000000")


def test_reingesting_a_file_only_counts_duplicates(ledger, tmp_path):
    path = _jsonl(tmp_path, [dict(GOOD, id=f"a{i}") for i in range(5)] + [dict(GOOD, id="a0")])
    first = ingest_file(ledger, path)
    second = ingest_file(ledger, path)
    assert (first.written, first.duplicates) == (5, 1)
    assert (second.written, second.duplicates) == (0, 6)
    assert second.summary().startswith("read 6, written 0, duplicates 6, rejected 0 in ")


def test_blank_lines_are_skipped_and_line_numbers_stay_physical(ledger, tmp_path):
    path = _jsonl(tmp_path, [GOOD, "", "   ", dict(GOOD, id="a2", assetKind="gif")])
    assert _problems(ledger, path) == [
        'line 4: assetKind: must be one of 3d, audio, document, image, image-hdr, json, text, video (got "gif")'
    ]


@pytest.mark.parametrize(
    ("record", "problem"),
    [
        (
            dict(GOOD, time="2026-03-01T10:00:00"),
            'time: has no timezone offset; add Z or ±HH:MM (got "2026-03-01T10:00:00")',
        ),
        (dict(GOOD, time="2026-03-01"), 'time: has no timezone offset; add Z or ±HH:MM (got "2026-03-01")'),
        (
            dict(GOOD, time="yesterday"),
            'time: must be an ISO 8601 date-time with offset, e.g. 2026-04-01T12:00:00Z (got "yesterday")',
        ),
        (
            dict(GOOD, time="2026-02-30T10:00:00Z"),
            'time: must be an ISO 8601 date-time with offset, e.g. 2026-04-01T12:00:00Z (got "2026-02-30T10:00:00Z")',
        ),
        (
            dict(GOOD, assetKind="gif"),
            'assetKind: must be one of 3d, audio, document, image, image-hdr, json, text, video (got "gif")',
        ),
        (dict(GOOD, creativeUnitsCost="abc"), 'creativeUnitsCost: must be a decimal number (got "abc")'),
        (
            dict(GOOD, creativeUnitsCost=0.1234567),
            "creativeUnitsCost: has more than 6 decimal places (got 0.1234567)",
        ),
        (dict(GOOD, creativeUnitsCost=True), "creativeUnitsCost: must be a number (got true)"),
        (dict(GOOD, discount=-1), "discount: must not be negative (got -1)"),
        (dict(GOOD, isApiKey="yes"), 'isApiKey: must be true or false (got "yes")'),
        (dict(GOOD, nsfw="gore"), 'nsfw: must be a list of strings (got "gore")'),
        (dict(GOOD, id=5), "id: must be a string (got 5)"),
        (dict(GOOD, teamId=""), "teamId: must not be empty"),
        ({k: v for k, v in GOOD.items() if k != "userId"}, "userId: is required"),
        (
            dict(GOOD, colour="red"),
            "colour: unknown field (accepted: id, time, teamId, projectId, "
            "userId, action, creativeUnitsCost, discount, isApiKey, modelId, jobId, assetId, "
            "collectionId, assetKind, nsfw)",
        ),
        ("not json", "record: is not valid JSON (one JSON object per line) (got not json)"),
        ("[1, 2]", "record: must be one JSON object (got [1, 2])"),
    ],
)
def test_each_invalid_value_is_named_with_its_line_and_value(ledger, tmp_path, record, problem):
    path = _jsonl(tmp_path, [GOOD, record])
    assert _problems(ledger, path) == [f"line 2: {problem}"]
    assert ledger.stats().events == 0


def test_an_invalid_file_is_rejected_whole_listing_the_first_20_problems(ledger, tmp_path):
    path = _jsonl(tmp_path, [dict(GOOD, id=f"a{i}", assetKind="gif" if i % 2 else None) for i in range(60)])
    with pytest.raises(InvalidInput) as e:
        ingest_file(ledger, path)
    assert str(e.value) == (
        f"{path}: 30 of 60 records are invalid; nothing was written (fix "
        "them, or pass --skip-invalid to write the valid ones)"
    )
    assert len(e.value.problems) == 20 and str(e.value.problems[0]).startswith("line 2: assetKind")
    assert e.value.total == 30 and ledger.stats().events == 0


def test_skip_invalid_writes_the_valid_rows_and_reports_the_rejected(ledger, tmp_path):
    path = _jsonl(tmp_path, [dict(GOOD, id=f"a{i}", assetKind="gif" if i % 3 == 0 else None) for i in range(30)])
    report = ingest_file(ledger, path, skip_invalid=True)
    assert (report.read, report.written, report.rejected) == (30, 20, 10)
    assert str(report.problems[0]) == (
        'line 1: assetKind: must be one of 3d, audio, document, image, image-hdr, json, text, video (got "gif")'
    )
    assert ledger.stats().events == 20


def test_times_too_far_in_the_future_are_rejected_with_a_configurable_tolerance(ledger, tmp_path):
    soon = (datetime.now(UTC) + timedelta(minutes=30)).strftime("%Y-%m-%dT%H:%M:%SZ")
    path = _jsonl(tmp_path, [dict(GOOD, time=soon)])
    assert _problems(ledger, path, future_tolerance=timedelta(minutes=5)) == [
        f'line 1: time: is in the future beyond the accepted tolerance (got "{soon}")'
    ]
    assert ingest_file(ledger, path, future_tolerance=timedelta(hours=1)).written == 1


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        (
            "e.txt",
            "x",
            "{p}: unsupported file type '.txt' (accepted: .csv, .json, .jsonl, .ndjson, "
            ".parquet, .pq, or - for JSONL on stdin)",
        ),
        ("e.jsonl", "", "{p}: the file is empty"),
        ("e.jsonl", "\n\n", "{p}: the file holds no records"),
        ("e.csv", "id,time,teamId,projectId,userId,action\n", "{p}: the file holds no records"),
        (
            "e.csv",
            "id,time,teamId,projectId,userId,action,colour\n1,2,3,4,5,6,7\n",
            "{p}: unknown column 'colour' (accepted: id, time, teamId, projectId, userId, action, "
            "creativeUnitsCost, discount, isApiKey, modelId, jobId, assetId, collectionId, assetKind, nsfw)",
        ),
        ("e.csv", "id,time,teamId,projectId,action\n1,2,3,4,5\n", "{p}: missing required column 'userId'"),
        ("e.parquet", "PAR1 not really", "{p}: not a readable Parquet file"),
    ],
)
def test_whole_file_problems_get_one_clear_line(ledger, tmp_path, name, content, message):
    p = tmp_path / name
    p.write_text(content)
    with pytest.raises(InvalidInput) as e:
        ingest_file(ledger, str(p))
    assert str(e.value).startswith(message.format(p=p))


def test_an_unreadable_file_names_the_reason(ledger, tmp_path):
    with pytest.raises(InvalidInput) as e:
        ingest_file(ledger, str(tmp_path / "missing.jsonl"))
    assert str(e.value) == f"cannot read {tmp_path / 'missing.jsonl'}: No such file or directory"


@pytest.mark.parametrize(
    ("column", "message"),
    [
        (
            pa.array([0.5]),
            "column creativeUnitsCost has type DOUBLE; expected DECIMAL, integer or "
            "text (floating point would not be exact)",
        ),
    ],
)
def test_parquet_columns_of_the_wrong_type_are_refused(ledger, tmp_path, column, message):
    t = pa.table(
        {
            "id": ["a"],
            "time": pa.array([0], pa.timestamp("s", tz="UTC")),
            "teamId": ["t"],
            "projectId": ["p"],
            "userId": ["u"],
            "action": ["x"],
            "creativeUnitsCost": column,
        }
    )
    pq.write_table(t, tmp_path / "e.parquet")
    with pytest.raises(InvalidInput) as e:
        ingest_file(ledger, str(tmp_path / "e.parquet"))
    assert str(e.value) == f"{tmp_path / 'e.parquet'}: {message}"


def test_parquet_times_without_zone_are_refused(ledger, tmp_path):
    t = pa.table(
        {
            "id": ["a"],
            "time": pa.array([0], pa.timestamp("s")),
            "teamId": ["t"],
            "projectId": ["p"],
            "userId": ["u"],
            "action": ["x"],
        }
    )
    pq.write_table(t, tmp_path / "e.parquet")
    with pytest.raises(InvalidInput) as e:
        ingest_file(ledger, str(tmp_path / "e.parquet"))
    assert "column time has type TIMESTAMP; expected a timestamp with time zone" in str(e.value)


def test_csv_values_are_validated_per_line(ledger, tmp_path):
    p = tmp_path / "e.csv"
    p.write_text(
        "id,time,teamId,projectId,userId,action,creativeUnitsCost,isApiKey,nsfw\n"
        "c1,2026-03-01T10:00:00Z,t1,p1,u1,upscale,1.5,true,gore;hate\n"
        "c2,2026-03-01T10:00:00Z,t1,p1,u1,upscale,1,maybe,\n"
    )
    assert _problems(ledger, str(p)) == ['line 3: isApiKey: must be true or false (got "maybe")']
    report = ingest_file(ledger, str(p), skip_invalid=True)
    assert report.written == 1
    assert ledger._con.execute("SELECT cu, is_api_key, nsfw FROM events").fetchone() == (
        Decimal("1.5"),
        True,
        ["gore", "hate"],
    )


def test_entities_are_upserted_and_the_latest_name_wins(ledger, tmp_path):
    path = _jsonl(tmp_path, [{"id": "m1", "name": "Old"}, {"id": "m2", "name": "Two"}])
    assert ingest_file(ledger, path, kind="models").written == 2
    path = _jsonl(tmp_path, [{"id": "m1", "name": "New", "shortDescription": "d"}], "b.jsonl")
    ingest_file(ledger, path, kind="models")
    assert ledger.entities("models", ["m1", "m2", "zz"], "any_team") == [
        {"id": "m1", "name": "New", "short_description": "d"},
        {"id": "m2", "name": "Two", "short_description": None},
    ]


def test_an_unknown_entity_kind_lists_the_accepted_ones(ledger, tmp_path):
    with pytest.raises(InvalidInput) as e:
        ingest_file(ledger, _jsonl(tmp_path, [GOOD]), kind="robots")
    assert str(e.value) == (
        "unknown record kind 'robots' (accepted: events, teams, projects, users, models, jobs, assets)"
    )


def test_the_fast_and_the_line_by_line_json_paths_agree(tmp_path, small_demo_events):
    from usagelens.ingest.readers import open_source
    from usagelens.ingest.validate import Validator
    from usagelens.model import EVENT_FIELDS, EVENT_SCHEMA

    path = str(tmp_path / "ev.jsonl")
    write_events_file([small_demo_events.slice(0, 5000)], path)
    chunk = next(open_source(path, EVENT_FIELDS).chunks)
    far = datetime(2100, 1, 1)
    fast = Validator(path, EVENT_FIELDS, EVENT_SCHEMA, {}, max_time=far).check_jsonl(chunk)
    from usagelens.ingest.lines import split_lines

    slow = Validator(path, EVENT_FIELDS, EVENT_SCHEMA, {}, max_time=far).check(split_lines(chunk.jsonl, 1).table)
    assert fast.invalid == slow.invalid == 0
    assert fast.valid.to_pylist() == slow.valid.to_pylist() == small_demo_events.slice(0, 5000).to_pylist()
