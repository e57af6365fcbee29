"""``usagelens init`` and ``usagelens migrate`` as a user runs them: real subprocesses, a DuckDB file
copied into a ClickHouse store (chDB in the command's process), resumed, compared."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from conftest import SMALL_DEMO
from usagelens.ledger.clickhouse.schema import schema_sql

CLI = [sys.executable, "-m", "usagelens.surfaces"]


def run(*args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, COLUMNS="120")
    env.pop("USAGELENS_DB", None)
    return subprocess.run([*CLI, *args], capture_output=True, text=True, env=env, timeout=300)


def test_a_duckdb_store_moves_to_clickhouse_with_its_keys_and_sync_state(tmp_path: Path):
    src = str(tmp_path / "src.duckdb")
    dst = f"chdb:///{tmp_path}/ch?database=usage"
    demo = run(
        "demo", "--events", "5000", "--days", "60", "--seed", str(SMALL_DEMO.seed), "--end", "2026-04-30", "--db", src
    )
    assert demo.returncode == 0, demo.stderr
    key = run("keys", "create", "--team", "team_b_1", "--db", src)
    assert key.returncode == 0, key.stderr
    init = run("init", "--db", dst)
    assert init.returncode == 0 and "store ready: chdb" in init.stdout, init.stderr
    first = run("migrate", "--from", src, "--to", dst)
    assert first.returncode == 0, first.stderr
    assert "copied 5,000 events (5,000 new)" in first.stdout and ", 1 keys" in first.stdout
    assert "compared: both stores give the same answers" in first.stdout
    again = run("migrate", "--from", src, "--to", dst)  # idempotent, and resumed after the last month
    assert again.returncode == 0, again.stderr
    assert "copied 0 events (0 new) (2 months already copied)" in again.stdout and ", 0 keys" in again.stdout
    stats = run("stats", "--format", "json", "--db", dst)
    assert '"events": 5000' in stats.stdout
    keys = run("keys", "list", "--db", dst)
    assert "team_b_1" in keys.stdout


def test_init_refuses_a_cluster_for_a_duckdb_file_in_one_line(tmp_path: Path):
    done = run("init", "--db", str(tmp_path / "x.duckdb"), "--cluster", "main")
    assert done.returncode == 2
    assert done.stderr.strip() == "error: --cluster: only a ClickHouse store (--db clickhouse://…) has clusters"


def test_a_cluster_schema_is_replicated_on_the_cluster():
    stmts = schema_sql("usage", "prod")
    assert all(" ON CLUSTER `prod`" in s for s in stmts)
    tables = [s for s in stmts if s.startswith("CREATE TABLE")]
    assert tables and all("ENGINE = Replicated" in s for s in tables)
    assert not any("Replicated" in s for s in schema_sql("usage"))
