"""Files a careless client really has (issue 10, item 10): random bytes, Latin-1, Excel's
"CSV UTF-8" with its byte-order mark, one JSON array in a .json file, a null line on stdin.
Each is accepted where the intent is clear, or gets one line naming the line and the fix (exit 2)."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest

from usagelens.ledger.duckdb import DuckDBLedger

CLI = [sys.executable, "-m", "usagelens.surfaces"]
HEADER = "id,time,teamId,projectId,userId,action,creativeUnitsCost"
GOOD = {
    "id": "f1",
    "time": "2026-03-01T10:00:00Z",
    "teamId": "t",
    "projectId": "p",
    "userId": "u",
    "action": "upscale",
}


def ingest(path: Path | str, db: str, stdin: bytes | None = None) -> subprocess.CompletedProcess:
    env = dict(os.environ, COLUMNS="200", USAGELENS_DB=db)
    return subprocess.run(
        [*CLI, "ingest", str(path)], input=stdin, capture_output=True, env=env, timeout=120, check=False
    )


def events(db: str) -> list[tuple]:
    with DuckDBLedger(db, read_only=True) as led:
        cur = led._con.cursor()
        rows = cur.execute("SELECT id, user_id, cu FROM events ORDER BY id").fetchall()
        cur.close()
    return rows


def one_line_error(res: subprocess.CompletedProcess) -> str:
    err = res.stderr.decode()
    assert res.returncode == 2, err
    assert "Traceback" not in err and "internal error" not in err
    return err.splitlines()[0]


def test_random_bytes_are_invalid_lines_not_a_crash(tmp_path, store_path):
    path = tmp_path / "noise.jsonl"
    path.write_bytes(random.Random(3).randbytes(20_000))
    first = one_line_error(ingest(path, store_path))
    assert first.startswith(f"error: {path}: ") and "records are invalid; nothing was written" in first
    assert "save the file as UTF-8" in ingest(path, store_path).stderr.decode()


def test_latin1_jsonl_names_the_line_that_is_not_utf8(tmp_path, store_path):
    path = tmp_path / "latin.jsonl"
    good = json.dumps(GOOD).encode()
    path.write_bytes(
        good + b"\n" + json.dumps(dict(GOOD, id="f2", userId="Jos\u00e9"), ensure_ascii=False).encode("latin-1") + b"\n"
    )
    res = ingest(path, store_path)
    assert one_line_error(res).startswith(f"error: {path}: 1 of 2 records are invalid")
    assert res.stderr.decode().splitlines()[1] == (
        "  line 2: record: is not valid UTF-8 (byte 93 of the line); save the file as UTF-8"
    )
    assert events(store_path) == []


def test_latin1_csv_names_the_line_and_the_fix(tmp_path, store_path):
    path = tmp_path / "latin.csv"
    path.write_bytes(f"{HEADER}\nf1,2026-03-01T10:00:00Z,t,p,Jos\u00e9,upscale,1\n".encode("latin-1"))
    assert one_line_error(ingest(path, store_path)) == (
        f"error: {path}: line 2 is not valid UTF-8; save the file as UTF-8 (in Excel: CSV UTF-8)"
    )


def test_a_csv_with_excels_byte_order_mark_is_accepted(tmp_path, store_path):
    path = tmp_path / "excel.csv"
    path.write_bytes(b"\xef\xbb\xbf" + f"{HEADER}\r\nf1,2026-03-01T10:00:00Z,t,p,u,upscale,0.125\r\n".encode())
    res = ingest(path, store_path)
    assert res.returncode == 0, res.stderr
    assert events(store_path) == [("f1", "u", Decimal("0.125"))]


def test_a_binary_csv_gets_one_line_about_its_header(tmp_path, store_path):
    path = tmp_path / "noise.csv"
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + random.Random(5).randbytes(2000))
    assert one_line_error(ingest(path, store_path)) == (
        f"error: {path}: line 1 (the header) is not valid UTF-8; save the file as UTF-8"
    )


@pytest.mark.parametrize("wrap", [False, True])
def test_a_json_file_holding_one_array_is_read_as_its_records_with_exact_numbers(tmp_path, store_path, wrap):
    path = tmp_path / "events.json"
    text = json.dumps([GOOD, dict(GOOD, id="f2")], indent=2).replace('"upscale"\n', '"upscale",\n')
    text = text.replace('"action": "upscale",\n', '"action": "upscale", "creativeUnitsCost": 123456789012.123456\n')
    path.write_text('{"events": ' + text + "}" if wrap else "\ufeff" + text)
    res = ingest(path, store_path)
    assert res.returncode == 0, res.stderr
    assert res.stdout.decode().startswith("read 2, written 2, duplicates 0, rejected 0")
    assert events(store_path) == [
        ("f1", "u", Decimal("123456789012.123456")),
        ("f2", "u", Decimal("123456789012.123456")),
    ]


def test_problems_of_a_json_array_file_are_numbered_by_record(tmp_path, store_path):
    path = tmp_path / "events.json"
    path.write_text(json.dumps([GOOD, None, dict(GOOD, id="f3", time="soon")]))
    res = ingest(path, store_path)
    one_line_error(res)
    assert res.stderr.decode().splitlines()[1:] == [
        "  record 2: record: must be one JSON object (got null)",
        '  record 3: time: must be an ISO 8601 date-time with offset, e.g. 2026-04-01T12:00:00Z (got "soon")',
    ]


@pytest.mark.parametrize("body", [b"null\n", b"[null]", b"\n\n", b'{"a": 1} {"b": 2}\n', b"[" * 50_000])
def test_odd_stdin_never_crashes_the_cli(store_path, body):
    res = ingest("-", store_path, stdin=body)
    first = one_line_error(res)
    assert first.startswith("error: stdin: "), first
    assert events(store_path) == []
