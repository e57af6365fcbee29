"""``usagelens usage`` as a user runs it."""

from __future__ import annotations

import json

import pytest

from test_cli_store import run


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    path = str(tmp_path_factory.mktemp("u") / "s.duckdb")
    assert (
        run("demo", "--events", "5000", "--days", "40", "--seed", "5", "--end", "2026-04-30", db=path).returncode == 0
    )
    return path


def test_json_output_is_the_tool_answer(store):
    res = run(
        "usage",
        "--team",
        "team_5_0",
        "--start",
        "2026-04-01",
        "--end",
        "2026-04-30",
        "--format",
        "json",
        db=store,
    )
    assert res.returncode == 0, res.stderr
    d = json.loads(res.stdout)
    assert d["totals"]["startDate"] == "2026-04-01" and d["scope"]["teamId"] == "team_5_0"
    assert len(d["consumption"]) == d["totals"]["users"] and len(d["modelUsages"]) == d["totals"]["models"]


def test_markdown_and_table_outputs(store):
    md = run("usage", "--team", "team_5_0", "--format", "markdown", "--include", "usages", db=store)
    assert md.returncode == 0 and md.stdout.startswith("# Usage ") and "## Usage types" in md.stdout
    table = run("usage", "--team", "team_5_0", "--include", "activity", db=store)
    assert table.returncode == 0 and "Top consumers" in table.stdout and "Activity" in table.stdout


def test_the_seed_examples_work(store):
    month = run(
        "usage",
        "--team",
        "team_5_1",
        "--start",
        "2026-04-01",
        "--end",
        "2026-04-30",
        "--format",
        "json",
        db=store,
    )
    april = ["--start", "2026-04-01", "--end", "2026-04-30", "--format", "json"]
    daily = run("usage", "--team", "team_5_1", "--include", "modelUsages.daily", *april, db=store)
    log = run("usage", "--team", "team_5_1", "--include", "activity", *april, db=store)
    nxt = run("usage", "--team", "team_5_1", "--include", "activity", "--activity-offset", "100", *april, db=store)
    assert all(r.returncode == 0 for r in (month, daily, log, nxt))
    assert "modelUsages.daily" in json.loads(daily.stdout)
    first, second = json.loads(log.stdout), json.loads(nxt.stdout)
    assert first["activityPagination"]["nextOffset"] == 100 and second["activityPagination"]["offset"] == 100
    assert first["activity"][0] != second["activity"][0]


def test_errors_are_one_line_with_exit_2(store):
    res = run("usage", db=store)
    assert res.returncode == 2
    assert res.stderr.startswith("error: context_missing: --team is required because you can see 4 teams: team_5_0 (")
    assert len(res.stderr.strip().splitlines()) == 1
    bad = run("usage", "--team", "team_5_0", "--include", "bogus", db=store)
    assert bad.returncode == 2 and bad.stderr.startswith("error: --include: 'bogus' is not a section")
