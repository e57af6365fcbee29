"""``GET /v1/backup`` and ``usagelens backup --url`` against a real server on 127.0.0.1 holding a
DuckDB file, while clients keep ingesting: the backup holds every acknowledged event, no request in
part, answers exactly what its events add up to, and restores to a store that answers as the source
did for the same events."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from collections.abc import Iterator
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import httpx
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from conftest import SMALL_DEMO
from http_server import serving
from usagelens.auth import Caller, KeyStore
from usagelens.demo import DemoSpec, demo_entities, demo_events
from usagelens.ledger.duckdb import DuckDBLedger
from usagelens.migrate import compare
from usagelens.model import ENTITY_KINDS, EVENT_FIELDS
from usagelens.query import UsageArgs
from usagelens.service import usage
from usagelens.surfaces.http import create_app

CLI = [sys.executable, "-m", "usagelens.surfaces"]
BATCH = 250
_NAMES = {f.column: f.name for f in EVENT_FIELDS}


def run(*args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("USAGELENS_")}
    return subprocess.run([*CLI, *args], capture_output=True, text=True, env=env | {"COLUMNS": "200"}, timeout=120)


class Batches:
    """Request bodies of ``BATCH`` events each, as many as asked for: batch ``n`` repeats one of a
    few demo slices (other teams than the demo store's) under ids of its own."""

    def __init__(self, slices: int = 40) -> None:
        spec = DemoSpec(seed=5, events=slices * BATCH, days=60, end=date(2026, 4, 30))
        events = pa.concat_tables(list(demo_events(spec)))
        self.templates: list[tuple[list[tuple[str, str]], bytes]] = []
        for start in range(0, events.num_rows, BATCH):
            lines, keys = [], []
            for r in events.slice(start, BATCH).to_pylist():
                keys.append((r["team_id"], r["id"]))
                record = {_NAMES[k]: v for k, v in r.items() if v is not None}
                record["id"] = f"@N@_{r['id']}"
                record["time"] = r["time"].isoformat() + "Z"
                lines.append(json.dumps(record, default=str))
            self.templates.append((keys, ("\n".join(lines) + "\n").encode()))

    def body(self, n: int) -> bytes:
        return self.templates[n % len(self.templates)][1].replace(b"@N@", f"load{n}".encode())

    def keys(self, n: int) -> list[tuple[str, str]]:
        return [(t, f"load{n}_{i}") for t, i in self.templates[n % len(self.templates)][0]]


class Load:
    """Threads POSTing batches until stopped, recording which were acknowledged, and when."""

    def __init__(self, url: str, key: str, batches: Batches) -> None:
        self.url, self.auth = url, tuple(key.split(":", 1))
        self.batches, self.sent, self.lock = batches, 0, threading.Lock()
        self.acked: list[tuple[float, int]] = []  # (monotonic time of the answer, batch)
        self.errors: list[str] = []
        self.stop, self.warm = threading.Event(), threading.Event()
        self.threads = [threading.Thread(target=self._post) for _ in range(4)]

    def _post(self) -> None:
        with httpx.Client(auth=self.auth, timeout=60) as client:  # type: ignore[arg-type]
            while not self.stop.is_set():
                with self.lock:
                    n, self.sent = self.sent, self.sent + 1
                r = client.post(
                    f"{self.url}/v1/usage-events",
                    content=self.batches.body(n),
                    headers={"content-type": "application/x-ndjson"},
                )
                with self.lock:
                    if r.status_code == 200 and r.json() == {"written": BATCH, "duplicates": 0}:
                        self.acked.append((time.monotonic(), n))
                        if len(self.acked) >= 8:
                            self.warm.set()
                    else:
                        self.errors.append(f"{r.status_code} {r.text[:200]}")

    def __enter__(self) -> Load:
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        for t in self.threads:
            t.join(60)

    def acked_between(self, start: float, end: float) -> set[int]:
        with self.lock:
            return {n for t, n in self.acked if start <= t < end}


@pytest.fixture
def served(tmp_path, small_demo_events) -> Iterator[tuple[str, DuckDBLedger, Path, dict[str, str]]]:
    """A real server holding a DuckDB file with the small demo, and keys of each kind."""
    path = tmp_path / "live.duckdb"
    led = DuckDBLedger(str(path))
    for kind, rows in demo_entities(SMALL_DEMO).items():
        led.upsert_entities(kind, rows)
    led.write_events(small_demo_events)
    team = small_demo_events["team_id"][0].as_py()
    keys = KeyStore(led)
    creds = {
        "admin": keys.create(None, "admin").credential(),
        "analytics": keys.create(team, "analytics").credential(),
        "ingest": keys.create(team, "ingest").credential(),
    }
    with serving(create_app(led, require_keys=True)) as url:
        yield url, led, path, creds
    led.close()


def _stored(path: Path) -> dict[tuple[str, str], tuple[Any, ...]]:
    """Every event of a store file by (team, id): user, CU, discount (read apart from usagelens)."""
    con = duckdb.connect(str(path), read_only=True)
    try:
        rows = con.execute("SELECT team_id, id, user_id, cu, discount FROM events").fetchall()
    finally:
        con.close()
    return {(t, i): (u, cu, d) for t, i, u, cu, d in rows}


def _same_events(source: DuckDBLedger, keep: set[tuple[str, str]]) -> DuckDBLedger:
    """A new store holding the source's entities and those of its events in ``keep``."""
    ref = DuckDBLedger(":memory:")
    for kind in ENTITY_KINDS:
        rows = source.entity_rows(kind)
        for owner in pc.unique(rows["owner"]).to_pylist():
            ref.upsert_entities(
                kind, rows.filter(pc.equal(rows["owner"], owner)).drop_columns(["owner"]), owner or None
            )
    wanted = pa.array([f"{t}\x00{i}" for t, i in keep])
    for batch in source.events():
        key = pc.binary_join_element_wise(batch["team_id"], batch["id"], "\x00")
        ref.write_events(batch.filter(pc.is_in(key, wanted)))
    ref.maintain()
    return ref


def test_a_backup_during_ingest_holds_every_acknowledged_event_and_restores_to_equal_answers(served, tmp_path):
    url, source, path, creds = served
    batches = Batches()
    backup, restored = tmp_path / "backup.duckdb", tmp_path / "restored.duckdb"
    with Load(url, creds["admin"], batches) as load:
        assert load.warm.wait(60), load.errors
        started = time.monotonic()
        before = load.acked_between(0, started)
        res = run("backup", str(backup), "--url", url, "--key", creds["admin"])
        finished = time.monotonic()
        during = load.acked_between(started, finished)
    assert res.returncode == 0, res.stderr
    assert not load.errors and during, "ingest went on while the backup was made"
    # the server still owns its file: copying it must not have dropped DuckDB's lock
    probe = subprocess.run([sys.executable, "-c", "import duckdb, sys; duckdb.connect(sys.argv[1])", str(path)],
                           capture_output=True, text=True)  # fmt: skip
    assert probe.returncode != 0 and "Conflicting lock" in probe.stderr

    res = run("restore", str(backup), "--db", str(restored))
    assert res.returncode == 0, res.stderr
    events = _stored(restored)
    for n in before:  # acknowledged before the backup started: all there
        assert all(k in events for k in batches.keys(n)), f"batch {n} acknowledged before the backup is missing"
    for n in range(load.sent):  # every request whole or absent
        present = sum(k in events for k in batches.keys(n))
        assert present in (0, BATCH), f"batch {n} is in the backup in part ({present} of {BATCH})"
    assert len(events) == 20_000 + BATCH * sum(batches.keys(n)[0] in events for n in range(load.sent))

    # consistent: rollup answers equal an independent sum over the backup's own events, to the last digit
    with DuckDBLedger(str(restored), read_only=True) as led:
        teams = sorted({t for t, _ in events})
        for team in teams:
            args = UsageArgs(team_id=team, start_date="2026-02-01", end_date="2026-05-01")
            answer = json.loads(usage(led, Caller.local(), args).text, parse_float=Decimal)
            by_user: dict[str, Decimal] = defaultdict(Decimal)
            for (t, _), (user, cu, _d) in events.items():
                if t == team:
                    by_user[user] += cu
            assert answer["totals"]["totalCU"] == sum(by_user.values())
            assert answer["totals"]["totalDiscountCU"] == sum(d for (t, _), (_u, _c, d) in events.items() if t == team)
            assert {c["userId"]: c["value"] for c in answer["consumption"]} == dict(by_user)
        # and equal to the source's answers over the same events
        with _same_events(source, set(events)) as ref:
            assert compare(ref, led) == []


def test_only_the_platform_may_download_a_backup_and_errors_have_the_one_shape(served):
    url, _, _, creds = served
    leftovers = set(Path(tempfile.gettempdir()).glob("usagelens-backup-*"))

    def get(key: str | None, **params: str) -> httpx.Response:
        auth = tuple(key.split(":", 1)) if key else None
        return httpx.get(f"{url}/v1/backup", params=params, auth=auth, timeout=60)  # type: ignore[arg-type]

    for key, status, code in ((creds["analytics"], 403, "forbidden"), (creds["ingest"], 403, "forbidden"),
                              (None, 401, "unauthorized"), ("ul_x:nope", 401, "unauthorized")):  # fmt: skip
        r = get(key)
        assert r.status_code == status and r.json()["error"]["code"] == code
    assert get(creds["analytics"]).json()["error"]["message"].startswith("a backup holds every team's data")
    r = get(creds["admin"], team="x")
    assert r.status_code == 400 and r.json()["error"]["field"] == "team"
    r = get(creds["admin"])
    assert r.status_code == 200 and r.headers["content-type"] == "application/vnd.duckdb"
    assert int(r.headers["content-length"]) == len(r.content) and r.headers["x-usagelens-events"] == "20000"
    assert r.headers["content-disposition"].startswith('attachment; filename="usagelens-backup-')
    assert set(Path(tempfile.gettempdir()).glob("usagelens-backup-*")) == leftovers  # nothing left on the server


def test_backup_through_a_server_with_a_team_key_writes_nothing(served, tmp_path):
    url, _, _, creds = served
    out = tmp_path / "out"
    out.mkdir()
    res = run("backup", str(out / "b.duckdb"), "--url", url, "--key", creds["analytics"])
    assert res.returncode == 2
    assert res.stderr == "error: a backup holds every team's data; it needs an admin key (or local use without keys)\n"
    assert list(out.iterdir()) == []  # not even a partial file


def test_a_download_cut_short_is_an_error_and_leaves_no_file(tmp_path):
    from fastapi import FastAPI
    from fastapi.responses import StreamingResponse

    cut = FastAPI()

    @cut.get("/v1/backup")
    def half() -> StreamingResponse:  # announces 1 MB, sends 1 KB, then the connection ends
        return StreamingResponse(iter([b"x" * 1024]), headers={"content-length": str(1 << 20)})

    with serving(cut) as url:
        res = run("backup", str(tmp_path / "b.duckdb"), "--url", url)
    assert res.returncode == 2 and len(res.stderr.splitlines()) == 1
    assert res.stderr.startswith(f"error: the backup from {url} ")
    assert list(tmp_path.iterdir()) == []
