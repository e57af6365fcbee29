"""The CLI as a user runs it: a real subprocess, real files, exit codes and one-line errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path

import pytest

from conftest import SMALL_DEMO

CLI = [sys.executable, "-m", "usagelens.surfaces"]


def run(*args: str, stdin: str | None = None, db: str | None = None) -> subprocess.CompletedProcess:
    env = dict(os.environ, COLUMNS="120")
    if db:
        env["USAGELENS_DB"] = db
    return subprocess.run([*CLI, *args], input=stdin, capture_output=True, text=True, env=env, timeout=120)


def test_ingest_prints_the_final_counts_line(tmp_path, store_path):
    out = tmp_path / "ev.jsonl"
    assert run("demo", "--events", "500", "--end", "2026-04-30", "--out", str(out)).returncode == 0
    first = run("ingest", str(out), db=store_path)
    again = run("ingest", str(out), db=store_path)
    assert first.returncode == 0 and again.returncode == 0, first.stderr
    assert first.stdout.startswith("read 500, written 500, duplicates 0, rejected 0 in ")
    assert first.stdout.rstrip().endswith("events/s)")
    assert again.stdout.startswith("read 500, written 0, duplicates 500, rejected 0 in ")


def test_ingest_reads_jsonl_from_stdin(store_path):
    line = json.dumps(
        {
            "id": "s1",
            "time": "2026-03-01T10:00:00Z",
            "teamId": "t",
            "projectId": "p",
            "userId": "u",
            "action": "upscale",
            "creativeUnitsCost": "2.5",
        }
    )
    res = run("ingest", "-", stdin=line + "\n", db=store_path)
    assert res.returncode == 0, res.stderr
    assert res.stdout.startswith("read 1, written 1, duplicates 0, rejected 0")


def test_bad_input_exits_2_with_the_problems_and_no_traceback(tmp_path, store_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id":"x","time":"2026-03-01T10:00:00","teamId":"t","projectId":"p","userId":"u","action":"a"}\n')
    res = run("ingest", str(bad), db=store_path)
    assert res.returncode == 2
    assert res.stderr.splitlines() == [
        f"error: {bad}: 1 of 1 records are invalid; nothing was written (fix them, or pass "
        "--skip-invalid to write the valid ones)",
        '  line 1: time: has no timezone offset; add Z or ±HH:MM (got "2026-03-01T10:00:00")',
    ]
    assert "Traceback" not in res.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["ingest", "nope.txt"], "error: nope.txt: unsupported file type '.txt'"),
        (["ingest", "missing.jsonl"], "error: cannot read missing.jsonl: No such file or directory"),
        (
            ["ingest", "x.jsonl", "--future-tolerance", "soon"],
            "error: --future-tolerance: 'soon' is not a duration (e.g. 90s, 15m, 1h, 2d)",
        ),
        (["demo", "--end", "tomorrow"], "error: --end: 'tomorrow' is not a date (YYYY-MM-DD)"),
        (["stats", "--format", "xml"], "error: --format: 'xml' is not accepted (accepted: text, json)"),
    ],
)
def test_usage_errors_are_one_line_and_exit_2(store_path, args, message):
    res = run(*args, db=store_path)
    assert res.returncode == 2
    assert res.stderr.splitlines()[0].startswith(message)
    assert len(res.stderr.splitlines()) == 1


def test_demo_then_stats_describe_the_store(store_path):
    res = run("demo", "--events", "3000", "--days", "30", "--seed", "3", "--end", "2026-04-30", db=store_path)
    assert res.returncode == 0 and "loaded 3,000 demo events" in res.stdout
    again = run("demo", "--if-empty", db=store_path)
    assert "already holds events" in again.stdout
    stats = json.loads(run("stats", "--format", "json", db=store_path).stdout)
    assert stats["events"] == 3000 and stats["teams"] == 4
    assert stats["first_event"] >= "2026-04-01" and stats["last_event"] < "2026-05-01"
    text = run("stats", db=store_path).stdout
    assert "3,000" in text and "teams" in text
    total = Decimal(str(stats["total_cu"])).normalize()
    assert f"{total:,f} " in text  # CU as every command prints them: grouped, no trailing zeros


def test_a_store_held_by_another_process_names_its_pid(store_path):
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            f"import duckdb,time; c = duckdb.connect({store_path!r}); print('ready', flush=True); time.sleep(30)",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "ready"
        res = run("stats", db=store_path)
        assert res.returncode == 2
        assert res.stderr.strip() == (
            f"error: the store {store_path} is in use by another process (PID {holder.pid}, "
            f"{Path(sys.executable).resolve().name}); stop it, or, if it is usagelens serve, run the command "
            "through it with --url http://HOST:PORT (or USAGELENS_URL) and an admin key --key key:secret (or "
            "USAGELENS_KEY); usage, ingest, stats, keys, teams, mcp, void, export and backup accept --url"
        )
    finally:
        holder.kill()
        holder.wait()
        holder.stdout.close()


def test_entities_are_ingested_with_the_entity_option(tmp_path, store_path):
    f = tmp_path / "models.jsonl"
    f.write_text('{"id": "m1", "name": "Neon"}\n{"id": "m2", "name": "Ink"}\n')
    res = run("ingest", str(f), "--entity", "models", db=store_path)
    assert res.returncode == 0, res.stderr
    assert res.stdout.startswith("read 2, written 2, duplicates 0, rejected 0")


def test_demo_file_output_is_deterministic(tmp_path):
    a, b = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    for p in (a, b):
        run("demo", "--events", "2000", "--seed", str(SMALL_DEMO.seed), "--end", "2026-04-30", "--out", str(p))
        time.sleep(0)
    assert a.read_bytes() == b.read_bytes() and len(a.read_text().splitlines()) == 2000
