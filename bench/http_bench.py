"""The HTTP service under load (issue 5), from a second process on loopback.

Baseline, measured in the same run against the same server: ``GET /healthz``, the HTTP
stack's own floor at the same concurrency.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

import httpx

from bench.common import ROOT, Row, Section, copy_store
from bench.ingest_bench import prepare
from bench.size_bench import _store as teams_store
from usagelens import service
from usagelens.auth import Caller
from usagelens.ledger.duckdb import DuckDBLedger
from usagelens.query import UsageArgs

NAME = "http"
TITLE = "The HTTP service under load (issues 5 and 16)"
SECONDS = 10
TEAM = "team_7_0"
CORES = os.cpu_count() or 1
EVENT = {
    "time": "2026-11-24T12:00:00Z",
    "teamId": TEAM,
    "projectId": "proj_7_1",
    "userId": "user_7_1",
    "action": "upscale",
    "creativeUnitsCost": "2.5",
}


def _serve(db: str, port: int) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "usagelens.surfaces", "serve", "--db", db, "--port", str(port)]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=ROOT)
    for _ in range(600):
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return proc
        except httpx.HTTPError:
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError("usagelens serve did not start")


def _load(url: str, workers: list[dict]) -> list[dict]:
    seconds = min(w.pop("seconds", SECONDS) for w in workers)
    spec = {"url": url, "auth": None, "seconds": seconds, "workers": workers}
    out = subprocess.run(
        [sys.executable, "-m", "bench.loadgen"],
        input=json.dumps(spec),
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=True,
    )
    return json.loads(out.stdout)["groups"]


def _cpu(proc: subprocess.Popen) -> float:
    """CPU seconds the server process has used so far (every thread's, from ``/proc``)."""
    fields = Path(f"/proc/{proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _measured(proc: subprocess.Popen, url: str, worker: dict) -> dict:
    """``_load`` of one worker group, with ``server_cpu_ms``: the server's CPU per request."""
    before = _cpu(proc)
    (g,) = _load(url, [worker])
    return g | {"server_cpu_ms": (_cpu(proc) - before) * 1000 / max(1, g["requests"])}


def _in_process(db: str, team: str) -> float:
    """Median ms of ``service.usage`` in this process for 300 of the distinct questions the load
    asks (answer cache emptied before each), after 50 to warm the store's memory."""
    led = DuckDBLedger(db)
    try:
        ms = []
        for i, p in enumerate(_summary(True, 1, team)["params"][:350]):
            args = UsageArgs(**p)
            service._CACHE.clear()  # every answer computed, as every distinct question over HTTP
            t = time.perf_counter()
            service.usage(led, Caller.local(), args)
            if i >= 50:
                ms.append((time.perf_counter() - t) * 1000)
    finally:
        led.close()
    return statistics.median(ms)


def _bound_note(g: dict, who: str, answer_ms: float) -> str:
    """The requests/s a request of ``g``'s CPU cost allows on this machine, at best."""
    per = g["server_cpu_ms"] + g["client_cpu_ms"]
    return (
        f"{who}: an answer to one of these questions takes {answer_ms:.1f} ms in process (median); over HTTP "
        f"the server spent {g['server_cpu_ms']:.1f} CPU-ms per question at concurrency 8 and the load generator "
        f"{g['client_cpu_ms']:.2f}. {CORES} cores with none idle would allow at most {CORES * 1000 / per:,.0f} "
        f"req/s at that cost; one core — the server's Python runs under one interpreter lock — "
        f"{1000 / g['server_cpu_ms']:,.0f} req/s (measured: {g['rps']:,.0f})."
    )


def _summary(distinct: bool, concurrency: int, team: str = TEAM) -> dict:
    """Summary requests: one repeated (answered from the answer cache after the first), or
    thousands of distinct windows, each asked once (every answer computed)."""
    if not distinct:
        params = [{"team_id": team, "start_date": "2026-07-28", "end_date": "2026-11-24"}]
    else:
        first, last = date(2026, 7, 28), date(2026, 11, 24)
        params = [
            {
                "team_id": team,
                "start_date": (first + timedelta(days=i)).isoformat(),
                "end_date": (last - timedelta(days=j)).isoformat(),
                "timezone": tz,
            }
            for j in range(10)
            for i in range(100)
            for tz in ("UTC", "Europe/Paris", "Asia/Tokyo")
        ]
    # each worker takes every concurrency-th set of arguments: no two requests share an answer
    return {"kind": "get", "path": "/v1/usage", "params": params, "concurrency": concurrency, "stride": concurrency}


def _small_team(data: Path, notes: list[str]) -> Row:
    """Distinct questions about a 10-identity, 20-model team (the size benchmark's 10M store)."""
    with tempfile.TemporaryDirectory(dir=data) as tmp:
        db = str(Path(tmp) / "teams.duckdb")
        copy_store(teams_store(data, "10M", 10_000_000), db)
        answer_ms = _in_process(db, "t10")
        port = 8798
        proc = _serve(db, port)
        url = f"http://127.0.0.1:{port}"
        try:
            (floor,) = _load(url, [{"kind": "get", "path": "/healthz", "params": [{}], "concurrency": 8}])
            g = _measured(proc, url, _summary(True, 8, "t10"))
        finally:
            proc.terminate()
            proc.wait(30)
    notes.append(_bound_note(g, "The 10-identity team", answer_ms))
    return Row(
        "GET /v1/usage 10M events, concurrency 8, distinct windows, a 10-identity 20-model team",
        f"{g['rps']:,.0f} req/s, p50 {g['p50_ms']:.0f} ms, p99 {g['p99_ms']:.0f} ms",
        f"{floor['rps']:,.0f} req/s (/healthz)",
        f"{g['rps'] / floor['rps']:.2f}×",
        "≥ 300 req/s, p99 ≤ 100 ms",
        "yes" if g["rps"] >= 300 and g["p99_ms"] <= 100 else "**no**",
    )


def run(data: Path) -> Section:
    base = prepare(data)["base"]
    rows: list[Row] = []
    notes: list[str] = []
    with tempfile.TemporaryDirectory(dir=data) as tmp:
        db = str(Path(tmp) / "store.duckdb")
        copy_store(base, db)
        answer_ms = _in_process(db, TEAM)
        port = 8799
        proc = _serve(db, port)
        url = f"http://127.0.0.1:{port}"
        try:
            for c in (1, 8, 32):
                (floor,) = _load(url, [{"kind": "get", "path": "/healthz", "params": [{}], "concurrency": c}])
                for distinct in (False, True):
                    g = _measured(proc, url, _summary(distinct, c))
                    if distinct and c == 8:
                        notes.append(_bound_note(g, "The largest team (116 identities, 421 models)", answer_ms))
                    label = "distinct windows" if distinct else "same request (answer cache)"
                    target, met = "—", "—"
                    if c == 8:
                        target = "≥ 300 req/s, p99 ≤ 100 ms"
                        met = "yes" if g["rps"] >= 300 and g["p99_ms"] <= 100 else "**no**"
                    rows.append(
                        Row(
                            f"GET /v1/usage 10M events, concurrency {c}, {label}",
                            f"{g['rps']:,.0f} req/s, p50 {g['p50_ms']:.0f} ms, p99 {g['p99_ms']:.0f} ms",
                            f"{floor['rps']:,.0f} req/s (/healthz)",
                            f"{g['rps'] / floor['rps']:.2f}×",
                            target,
                            met,
                        )
                    )
            ingest = {
                "kind": "post",
                "path": "/v1/usage-events",
                "event": EVENT,
                "batch": 1000,
                "prefix": f"bench{os.getpid()}",
                "concurrency": 8,
            }
            # steady state: the store's id set (10M hashes, loaded by the first write) is in memory,
            # as in a server that has been ingesting; else the first seconds measure that load
            _load(url, [ingest | {"prefix": f"warm{os.getpid()}", "concurrency": 1} | {"seconds": 1}])
            (w, r) = _load(url, [ingest, _summary(True, 4)])
            (alone,) = _load(url, [ingest | {"prefix": f"alone{os.getpid()}"}])
            (floor,) = _load(url, [{"kind": "get", "path": "/healthz", "params": [{}], "concurrency": 8}])
            rows.append(
                Row(
                    "POST /v1/usage-events alone, 1,000-event batches from 8 writers",
                    f"{alone['events_per_s']:,.0f} events/s ({alone['rps']:,.0f} req/s, p99 {alone['p99_ms']:.0f} ms)",
                    f"{floor['rps']:,.0f} req/s (/healthz)",
                    f"{alone['rps'] / floor['rps']:.2f}× (requests)",
                    "≥ 100,000 events/s",
                    "yes" if alone["events_per_s"] >= 100_000 else "**no**",
                )
            )
            rows.append(
                Row(
                    "POST /v1/usage-events, 1,000-event batches from 8 writers, with 4 concurrent readers",
                    f"{w['events_per_s']:,.0f} events/s; reads p50 {r['p50_ms']:.0f} ms, p99 {r['p99_ms']:.0f} ms",
                    f"{alone['events_per_s']:,.0f} events/s without readers",
                    f"{w['events_per_s'] / alone['events_per_s']:.2f}×",
                    "≥ 50,000 events/s",
                    "yes" if w["events_per_s"] >= 50_000 else "**no**",
                )
            )
        finally:
            proc.terminate()
            proc.wait(30)
    rows.append(_small_team(data, notes))
    notes.append(_LARGEST)
    return Section(
        NAME,
        TITLE,
        f"`usagelens serve` (uvicorn, one process) on a copy of the 10M-event demo store; load from a second "
        f"process (`bench/loadgen.py`: asyncio keep-alive HTTP/1.1 connections, ~0.15 ms of CPU per request) "
        f"for {SECONDS} s per row on the same "
        "2-core machine, so client and server share the CPU. Baseline: `GET /healthz` at the same concurrency.",
        rows,
        notes,
    )


_LARGEST = (
    "Why 300 distinct questions/s is met for the small team and not for the largest: the issue allows the "
    "largest team's answer 15 ms (and measures its floor, one hand-written query per figure plus the same "
    "89 KB of JSON, at ~12 ms: the answer benchmark), while 300 req/s from one interpreter lock leaves "
    "3.3 CPU-ms per request for the answer and the HTTP stack together. The server is one process (DuckDB's "
    "file lock admits one writing process) whose answers are Python under that lock, so its distinct "
    "answers are bound by one core: the one-core figures above match the measured rates."
)
