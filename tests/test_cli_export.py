"""``usagelens export`` as a user runs it (real subprocesses, started together to save time): from
a store file and through ``--url``, the files read back to the same answers, remote and local
files are the same bytes, and a failed export leaves no file behind."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest

from export_support import OTHER, TEAM, answers, demo_store, export_all, load
from http_server import serving
from usagelens.auth import KeyStore
from usagelens.export import EventExport, ExportScope
from usagelens.surfaces.http import create_app

pytestmark = pytest.mark.filterwarnings("ignore:Arrow output on a DB-API result:UserWarning")
CLI = [sys.executable, "-m", "usagelens.surfaces"]
FORMATS = ("jsonl", "csv", "parquet")


def run_all(*commands: list[str]) -> list[subprocess.CompletedProcess]:
    """Run the commands at once; their results in order."""
    env = dict(os.environ, COLUMNS="200")
    for name in ("USAGELENS_DB", "USAGELENS_URL", "USAGELENS_KEY"):
        env.pop(name, None)
    procs = [
        subprocess.Popen([*CLI, *c], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
        for c in commands
    ]
    done = []
    for c, p in zip(commands, procs, strict=True):
        out, err = p.communicate(timeout=120)
        done.append(subprocess.CompletedProcess(c, p.returncode, out, err))
    return done


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> str:
    path = str(tmp_path_factory.mktemp("export") / "demo.duckdb")
    demo_store(path).close()
    return path


@pytest.fixture(scope="module")
def served() -> Iterator[dict[str, Any]]:
    """The same demo in memory behind a real server, with an analytics key of the team."""
    led = demo_store()
    key = KeyStore(led).create(TEAM, "analytics").credential()
    with serving(create_app(led, require_keys=True)) as url:
        yield {"ledger": led, "url": url, "key": key}
    led.close()


def _core(led: Any, fmt: str) -> bytes:
    sink = io.BytesIO()
    EventExport(led, ExportScope(TEAM), None, None).write(fmt, sink)
    return sink.getvalue()


def test_local_and_remote_exports_are_the_same_bytes_and_read_back_to_the_same_answers(store, served, tmp_path):
    local = {f: tmp_path / f"local.{f}" for f in FORMATS}
    remote = {f: tmp_path / f"remote.{f}" for f in FORMATS}
    at = ["--url", served["url"], "--key", served["key"]]
    results = run_all(
        *(["export", "--team", TEAM, "--out", str(local[f]), "--db", store] for f in FORMATS),
        *(["export", "--out", str(remote[f]), *at] for f in FORMATS),  # the key's only team: no --team
        ["export", "--team", TEAM, "--entity", "users", "--out", str(tmp_path / "users.csv"), "--db", store],
    )
    for r in results:
        assert r.returncode == 0 and r.stderr == "", r.stderr
    for r, f in zip(results, FORMATS * 2, strict=False):
        assert r.stdout.startswith(f"exported 7,064 events to {tmp_path}/") and f".{f} in " in r.stdout, r.stdout
    assert results[-1].stdout.startswith(f"exported 129 users to {tmp_path / 'users.csv'} in ")
    for f in FORMATS:  # the same bytes, which are the core's (whose round trips test_export.py checks)
        assert local[f].read_bytes() == remote[f].read_bytes() == _core(served["ledger"], f), f
    names = export_all(served["ledger"], "jsonl", tmp_path, ExportScope(TEAM))
    assert (tmp_path / "users.csv").read_text().count("\n") == names["users"].read_text().count("\n") + 1
    copy = load({**names, "events": local["csv"]})
    try:
        assert answers(copy) == answers(served["ledger"])
    finally:
        copy.close()
    assert not list(tmp_path.glob(".*.part"))


def _times(jsonl: str) -> list[str]:
    return [line.split('"time":"')[1][:19] for line in jsonl.splitlines()]


def test_dates_are_whole_utc_days_and_stdout_takes_the_file(store):
    day = ["export", "--team", TEAM, "--start", "2026-04-01", "--out", "-", "--db", store]
    (days, instant) = run_all([*day, "--end", "2026-04-01"], [*day, "--end", "2026-04-01T12:00:00Z"])
    times = _times(days.stdout)
    assert times[0] >= "2026-04-01T00:00:00" and "2026-04-01T12" < times[-1] < "2026-04-02T00:00:00"
    assert days.stderr.startswith(f"exported {len(times):,} events to stdout in ")
    assert _times(instant.stdout) == [t for t in times if t < "2026-04-01T12:00:00"]


def test_refusals_through_the_server_are_one_line_and_leave_no_file(served, tmp_path):
    at = ["--url", served["url"], "--key", served["key"]]
    other, missing, errors = run_all(
        ["export", "--team", OTHER, "--out", str(tmp_path / "o.jsonl"), *at],
        ["export", "--team", "no_such_team", "--out", str(tmp_path / "o.jsonl"), *at],
        ["export", "--end", "2026-04-01", "--out", str(tmp_path / "x.txt"), *at],
    )
    assert other.returncode == missing.returncode == 2
    assert other.stderr.replace(OTHER, "X") == missing.stderr.replace("no_such_team", "X")
    assert other.stderr.startswith("error: teamId: 'team_b_1' is not a team you can see; use one of: team_b_0.")
    assert errors.returncode == 2 and errors.stdout == ""
    assert errors.stderr.startswith("error: --out: cannot tell the format from '.txt' (accepted: .csv, ")
    assert errors.stderr.count("\n") == 1 and os.listdir(tmp_path) == []


class _Breaks:
    """A store whose event stream fails after its first batch (a server dying mid-export)."""

    def __init__(self, ledger: Any) -> None:
        self._ledger = ledger

    def __getattr__(self, name: str) -> Any:
        return getattr(self._ledger, name)

    def events(self, *args: Any) -> Iterator[Any]:
        for batch in self._ledger.events(*args):
            yield batch.slice(0, 1000)
            raise RuntimeError("the disk went away")


def test_an_export_that_breaks_off_leaves_the_previous_file_and_no_part(served, tmp_path):
    out = tmp_path / "kept.jsonl"
    out.write_text("the previous export\n")
    with serving(create_app(_Breaks(served["ledger"]), require_keys=False)) as url:  # type: ignore[arg-type]
        (broken,) = run_all(["export", "--team", TEAM, "--out", str(out), "--url", url])
    assert broken.returncode == 2, broken.stderr
    assert broken.stderr.startswith(f"error: the export from {url} broke off (") and broken.stderr.count("\n") == 1
    assert out.read_text() == "the previous export\n" and os.listdir(tmp_path) == ["kept.jsonl"]
