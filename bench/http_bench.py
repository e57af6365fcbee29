"""The HTTP service under load (issue 5), from a second process on loopback.

Baseline, measured in the same run against the same server: ``GET /healthz``, the HTTP
stack's own floor at the same concurrency.
"""

from __future__ import annotations

import json
import os
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

NAME = "http"
TITLE = "The HTTP service under load (issues 5 and 16)"
SECONDS = 10
TEAM = "team_7_0"
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


def _small_team(data: Path) -> Row:
    """Distinct questions about a 10-identity, 20-model team (the size benchmark's 10M store)."""
    with tempfile.TemporaryDirectory(dir=data) as tmp:
        db = str(Path(tmp) / "teams.duckdb")
        copy_store(teams_store(data, "10M", 10_000_000), db)
        port = 8798
        proc = _serve(db, port)
        url = f"http://127.0.0.1:{port}"
        try:
            (floor,) = _load(url, [{"kind": "get", "path": "/healthz", "params": [{}], "concurrency": 8}])
            (g,) = _load(url, [_summary(True, 8, "t10")])
        finally:
            proc.terminate()
            proc.wait(30)
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
    with tempfile.TemporaryDirectory(dir=data) as tmp:
        db = str(Path(tmp) / "store.duckdb")
        copy_store(base, db)
        port = 8799
        proc = _serve(db, port)
        url = f"http://127.0.0.1:{port}"
        try:
            for c in (1, 8, 32):
                (floor,) = _load(url, [{"kind": "get", "path": "/healthz", "params": [{}], "concurrency": c}])
                for distinct in (False, True):
                    (g,) = _load(url, [_summary(distinct, c)])
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
    rows.append(_small_team(data))
    return Section(
        NAME,
        TITLE,
        f"`usagelens serve` (uvicorn, one process) on a copy of the 10M-event demo store; load from a second "
        f"process (`bench/loadgen.py`: asyncio keep-alive HTTP/1.1 connections, ~0.15 ms of CPU per request) "
        f"for {SECONDS} s per row on the same "
        "2-core machine, so client and server share the CPU. Baseline: `GET /healthz` at the same concurrency.",
        rows,
    )
