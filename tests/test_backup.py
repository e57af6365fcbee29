"""``usagelens backup`` / ``restore`` on closed stores, the checks a backup must pass, and every refusal:
real files, the real CLI in subprocesses, exit codes and one-line errors."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import duckdb
import pytest
from fastapi.testclient import TestClient

from chdb_support import chdb_url
from conftest import SMALL_DEMO
from usagelens.auth import KeyStore
from usagelens.demo import demo_entities
from usagelens.errors import Conflict, InvalidArgument, NotFound
from usagelens.ledger import open_ledger
from usagelens.ledger.backup import check_backup
from usagelens.ledger.duckdb import DuckDBLedger
from usagelens.migrate import compare
from usagelens.model import ENTITY_KINDS
from usagelens.surfaces.cli import main
from usagelens.surfaces.http import create_app

CLI = [sys.executable, "-m", "usagelens.surfaces"]


def run(*args: str) -> subprocess.CompletedProcess:
    """The CLI as a user runs it: another process."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("USAGELENS_")}
    return subprocess.run([*CLI, *args], capture_output=True, text=True, env=env | {"COLUMNS": "200"}, timeout=120)


@pytest.fixture
def cli(capsys, monkeypatch) -> Callable[..., subprocess.CompletedProcess]:
    """The CLI's entry point in this process (the same ``main``: exit codes, one-line errors),
    without a second interpreter's start-up."""
    for name in [k for k in os.environ if k.startswith("USAGELENS_")]:
        monkeypatch.delenv(name)

    def call(*args: str) -> subprocess.CompletedProcess:
        monkeypatch.setattr(sys, "argv", ["usagelens", *args])
        capsys.readouterr()
        try:
            main()
            code = 0
        except SystemExit as e:
            code = int(e.code or 0)
        got = capsys.readouterr()
        return subprocess.CompletedProcess(args, code, got.out, got.err)

    return call


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def source(tmp_path_factory, small_demo_events) -> Path:
    """A closed store: the small demo, its entities, a key and a voided event."""
    path = tmp_path_factory.mktemp("source") / "store.duckdb"
    with DuckDBLedger(str(path)) as led:
        for kind, rows in demo_entities(SMALL_DEMO).items():
            led.upsert_entities(kind, rows)
        led.write_events(small_demo_events)
        team = small_demo_events["team_id"][0].as_py()
        led.void_events(team, [small_demo_events["id"][0].as_py()], reason="wrong model", by="test")
        KeyStore(led).create(team, "analytics")
        led.maintain()
    return path


@pytest.fixture(scope="module")
def backup(source, tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("backup") / "backup.duckdb"
    res = run("backup", str(path), "--db", str(source))
    assert res.returncode == 0, res.stderr
    assert res.stdout.startswith(f"backup {path}: 19,999 events of 4 teams")
    return path


def test_a_closed_store_backed_up_and_restored_answers_exactly_as_the_original(source, backup, tmp_path):
    target = tmp_path / "restored.duckdb"
    res = run("restore", str(backup), "--db", str(target))
    assert res.returncode == 0, res.stderr
    assert res.stdout.startswith(f"restored {target}: 19,999 events of 4 teams")
    with DuckDBLedger(str(source), read_only=True) as a, DuckDBLedger(str(target), read_only=True) as b:
        assert compare(a, b) == []
        assert a.api_keys() == b.api_keys() and len(a.api_keys()) == 1
        assert a.voids().equals(b.voids()) and a.voids().num_rows == 1
        assert all(a.entity_rows(k).equals(b.entity_rows(k)) for k in ENTITY_KINDS)
        assert a.meta_items() == b.meta_items()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["restored.duckdb"]  # no temporary file left


def test_backup_refuses_to_overwrite_a_file_unless_forced(cli, source, tmp_path):
    path = tmp_path / "b.duckdb"
    path.write_text("precious")
    res = cli("backup", str(path), "--db", str(source))
    assert (
        res.returncode == 2
        and res.stderr == f"error: {path} already exists; pass --force to replace it, or choose another name\n"
    )
    assert path.read_text() == "precious"
    assert cli("backup", str(path), "--db", str(source), "--force").returncode == 0
    assert check_backup(str(path)).events == 19_999
    assert sorted(p.name for p in tmp_path.iterdir()) == ["b.duckdb"]


def test_backup_of_a_store_that_does_not_exist_creates_nothing(cli, tmp_path):
    res = cli("backup", str(tmp_path / "b.duckdb"), "--db", str(tmp_path / "typo.duckdb"))
    assert (
        res.returncode == 2 and res.stderr.startswith("error: --db: the store ") and len(res.stderr.splitlines()) == 1
    )
    assert list(tmp_path.iterdir()) == []


def test_restore_refuses_a_store_in_use_and_leaves_it_as_it_was(cli, backup, tmp_path):
    target = tmp_path / "live.duckdb"
    with DuckDBLedger(str(target)):
        pass
    old = digest(target)
    hold = "import duckdb, sys; c = duckdb.connect(sys.argv[1]); print('ready', flush=True); sys.stdin.read()"
    holder = subprocess.Popen(
        [sys.executable, "-c", hold, str(target)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:  # another process holds it, as a running server does
        assert holder.stdout is not None and holder.stdout.readline().strip() == "ready"
        res = cli("restore", str(backup), "--db", str(target))
    finally:
        assert holder.stdin is not None
        holder.stdin.close()
        holder.wait(30)
        holder.stdout.close()
    assert res.returncode == 2 and len(res.stderr.splitlines()) == 1
    assert res.stderr.startswith(f"error: the store {target} is in use by a running process (PID {holder.pid}, ")
    assert res.stderr.endswith("stop the server first, then restore\n")
    assert digest(target) == old
    assert sorted(p.name for p in tmp_path.iterdir()) == ["live.duckdb"]


def test_restore_over_events_needs_force_and_keeps_the_previous_store(cli, backup, tmp_path, small_demo_events):
    target = tmp_path / "store.duckdb"
    with DuckDBLedger(str(target)) as led:
        led.write_events(small_demo_events.slice(0, 10))
    old = digest(target)
    res = cli("restore", str(backup), "--db", str(target))
    assert res.returncode == 2
    assert res.stderr == (
        f"error: the store {target} holds 10 events; pass --force to replace it with the backup (the current file "
        f"is kept as {target}.before-restore)\n"
    )
    assert digest(target) == old and not Path(f"{target}.before-restore").exists()
    res = cli("restore", str(backup), "--db", str(target), "--force")
    assert res.returncode == 0, res.stderr
    assert res.stdout.rstrip().endswith(f"the previous file is kept as {target}.before-restore")
    assert digest(Path(f"{target}.before-restore")) == old
    with DuckDBLedger(str(target), read_only=True) as led:
        assert led.stats().events == 19_999


def test_a_write_ahead_log_left_by_a_crash_stays_with_the_previous_store(cli, backup, tmp_path):
    target = tmp_path / "crashed.duckdb"
    crash = (
        "import os, duckdb; c = duckdb.connect(os.environ['T']); c.execute('CREATE TABLE events (id VARCHAR)'); "
        "c.execute('CHECKPOINT'); c.execute(\"INSERT INTO events VALUES ('only-in-the-wal')\"); os._exit(0)"
    )
    subprocess.run([sys.executable, "-c", crash], env=dict(os.environ, T=str(target)), check=True)
    assert Path(f"{target}.wal").stat().st_size > 0
    res = cli("restore", str(backup), "--db", str(target), "--force")
    assert res.returncode == 0, res.stderr
    assert not Path(f"{target}.wal").exists()  # never replayed into the restored store
    with DuckDBLedger(str(target), read_only=True) as led:
        assert led.stats().events == 19_999
    kept = duckdb.connect(f"{target}.before-restore", read_only=True)
    assert kept.execute("SELECT id FROM events").fetchall() == [("only-in-the-wal",)]
    kept.close()


@pytest.mark.parametrize("damage", ["truncated", "garbage", "empty", "missing"])
def test_restore_refuses_a_damaged_or_missing_backup_in_one_line(cli, backup, tmp_path, damage):
    bad = tmp_path / "bad.duckdb"
    if damage == "truncated":
        bad.write_bytes(backup.read_bytes()[: backup.stat().st_size // 2])
    elif damage == "garbage":
        bad.write_bytes(b"not a database\n" * 1000)
    elif damage == "empty":
        bad.write_bytes(b"")
    target = tmp_path / "target.duckdb"
    with DuckDBLedger(str(target)):
        pass
    old = digest(target)
    res = cli("restore", str(bad), "--db", str(target), "--force")
    assert res.returncode == 2 and len(res.stderr.splitlines()) == 1
    if damage == "missing":
        assert res.stderr == f"error: the backup {bad} does not exist\n"
    else:
        assert res.stderr.startswith(f"error: the backup {bad} is not a whole usagelens store (")
    assert digest(target) == old
    left = {"target.duckdb"} | ({bad.name} if damage != "missing" else set())
    assert {p.name for p in tmp_path.iterdir()} == left  # no temporary copy, no .before-restore


def _damaged_copy(backup: Path, tmp_path: Path, sql: str) -> str:
    path = tmp_path / "damaged.duckdb"
    path.write_bytes(backup.read_bytes())
    con = duckdb.connect(str(path))
    con.execute(sql)
    con.close()
    return str(path)


@pytest.mark.parametrize(
    ("sql", "message"),
    [
        ("DELETE FROM events WHERE id IN (SELECT id FROM events LIMIT 3)", "do not add up to its raw events"),
        (
            # rows of a merged table are appended after the deleted ones: rowids do not start at 0
            "UPDATE rollup_user_hour SET cu = cu + 0.000001 "
            "WHERE rowid = (SELECT min(rowid) + 7 FROM rollup_user_hour)",
            "do not add up to its raw events",
        ),
        (
            "UPDATE rollup_model_week_team SET events = events + 1 "
            "WHERE rowid = (SELECT min(rowid) FROM rollup_model_week_team)",
            "do not add up to its raw events",
        ),
        ("UPDATE meta SET value = '5' WHERE key = 'schema_version'", "has schema version 5, this usagelens needs 6"),
        ("DROP TABLE rollups_recent", "is not a whole usagelens store"),
    ],
)
def test_the_check_finds_rollups_that_disagree_with_the_events_and_foreign_schemas(backup, tmp_path, sql, message):
    path = _damaged_copy(backup, tmp_path, sql)
    with pytest.raises(InvalidArgument) as got:
        check_backup(path)
    assert message in str(got.value) and str(got.value).startswith(f"the backup {path} ")


def test_the_check_of_a_good_backup_compares_every_rollup_table(backup):
    check = check_backup(str(backup))
    assert (check.events, check.teams, check.schema_version) == (19_999, 4, "6")
    assert check.rollup_tables == 20  # 4 rollups x (week, day, hour) + their team-level weeks and days


def test_an_in_memory_store_is_backed_up_by_a_transaction_snapshot(tmp_path, small_demo_events):
    with DuckDBLedger(":memory:") as led:
        led.write_events(small_demo_events)
        info = led.backup(str(tmp_path / "m.duckdb"))
        with pytest.raises(Conflict):
            led.backup(str(tmp_path / "m.duckdb"))
    assert (info.method, info.events) == ("copy-database", 20_000)
    assert check_backup(info.path).events == 20_000


def test_restore_and_missing_backups_are_refused_before_anything_is_created(cli, tmp_path):
    with pytest.raises(NotFound):
        check_backup(str(tmp_path / "nope.duckdb"))
    res = cli("restore", str(tmp_path / "nope.duckdb"), "--db", "clickhouse://u:p@localhost:8123/usage")
    assert res.returncode == 2
    assert res.stderr == (
        "error: --db: restore installs a DuckDB file; to load a backup into ClickHouse use usagelens migrate "
        "--from BACKUP --to URL\n"
    )
    assert list(tmp_path.iterdir()) == []


def test_a_clickhouse_store_refuses_a_backup_naming_clickhouse_backup(tmp_path):
    led = open_ledger(chdb_url("backup"))
    try:
        with pytest.raises(Conflict) as got:
            led.backup(str(tmp_path / "b.duckdb"))
        assert "back it up with ClickHouse's own BACKUP (BACKUP DATABASE" in str(got.value)
        assert "usagelens migrate --from URL --to FILE.duckdb" in str(got.value)
        with TestClient(create_app(led), base_url="http://localhost") as client:
            r = client.get("/v1/backup")
        assert r.status_code == 409 and r.json()["error"]["code"] == "conflict"
        assert r.json()["error"]["message"] == str(got.value)
    finally:
        led.close()
    assert list(tmp_path.iterdir()) == []
