"""A load generator run as its own process: ``python -m bench.loadgen [SPEC_JSON]`` (else the spec on
stdin) prints results.

SPEC: {"url", "auth": [key, secret] | null, "seconds", "workers": [{"kind": "get"|"post", "path",
"params": [...] (cycled), "bodies_from": {...}, "concurrency"}]}. Reports per worker group the
request count, throughput and latency percentiles, plus events/s for ingest groups.
"""

from __future__ import annotations

import asyncio
import json
import statistics
import sys
import time
from typing import Any

import httpx


def _pct(values: list[float], p: float) -> float:
    if not values:
        return 0.0
    values = sorted(values)
    return values[min(len(values) - 1, int(p / 100 * len(values)))]


async def _worker(client: httpx.AsyncClient, group: dict[str, Any], stop: float, out: dict[str, Any], n: int) -> None:
    i = n
    while time.perf_counter() < stop:
        t = time.perf_counter()
        if group["kind"] == "get":
            params = group["params"][i % len(group["params"])]
            r = await client.get(group["path"], params=params)
        else:
            body = "".join(
                json.dumps(dict(group["event"], id=f"{group['prefix']}-{n}-{i}-{j}")) + "\n"
                for j in range(group["batch"])
            )
            r = await client.post(group["path"], content=body, headers={"content-type": "application/x-ndjson"})
            if r.status_code == 200:
                out["events"] += r.json()["written"]
        out["latencies"].append(time.perf_counter() - t)
        out["errors"] += r.status_code >= 400
        i += group.get("stride", 1)


async def main(spec: dict[str, Any]) -> dict[str, Any]:
    auth = tuple(spec["auth"]) if spec.get("auth") else None
    limits = httpx.Limits(max_connections=256, max_keepalive_connections=256)
    async with httpx.AsyncClient(base_url=spec["url"], auth=auth, timeout=60, limits=limits) as client:
        stop = time.perf_counter() + spec["seconds"]
        results, tasks = [], []
        for g in spec["workers"]:
            out = {"latencies": [], "errors": 0, "events": 0}
            results.append(out)
            tasks += [_worker(client, g, stop, out, n) for n in range(g["concurrency"])]
        started = time.perf_counter()
        await asyncio.gather(*tasks)
        elapsed = time.perf_counter() - started
    report = []
    for g, out in zip(spec["workers"], results, strict=True):
        lat = out["latencies"]
        report.append(
            {
                "path": g["path"],
                "concurrency": g["concurrency"],
                "requests": len(lat),
                "rps": len(lat) / elapsed,
                "p50_ms": _pct(lat, 50) * 1000,
                "p99_ms": _pct(lat, 99) * 1000,
                "mean_ms": (statistics.fmean(lat) * 1000) if lat else 0,
                "errors": out["errors"],
                "events_per_s": out["events"] / elapsed,
            }
        )
    return {"elapsed": elapsed, "groups": report}


if __name__ == "__main__":
    spec = json.loads(sys.argv[1] if len(sys.argv) > 1 else sys.stdin.read())
    print(json.dumps(asyncio.run(main(spec))))
