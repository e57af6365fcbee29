"""A load generator run as its own process: ``python -m bench.loadgen [SPEC_JSON]`` (else the spec on
stdin) prints results.

SPEC: {"url", "auth": [key, secret] | null, "seconds", "workers": [{"kind": "get"|"post", "path",
"params": [...] (cycled), "stride", "event", "batch", "prefix", "concurrency"}]}. Reports per worker
group the request count, throughput and latency percentiles, plus events/s for ingest groups.

Why raw asyncio streams and not an HTTP client library: on the 2-core benchmark machine the load
generator shares the CPU with the server it measures. httpx spent ~1.3 ms of CPU per request, a
third of the server's own cost, so the figures measured the client as much as the server. This
speaks just enough HTTP/1.1 (keep-alive connections, ``Content-Length`` bodies, which is what
uvicorn sends for every response of ours) and costs ~0.15 ms of CPU per request, start-up included.
"""

from __future__ import annotations

import asyncio
import base64
import json
import statistics
import sys
import time
from typing import Any
from urllib.parse import urlencode, urlsplit


class _Connection:
    """One keep-alive HTTP/1.1 connection."""

    def __init__(self, host: str, port: int, auth: str | None) -> None:
        self.host, self.port = host, port
        self.head = f"Host: {host}:{port}\r\n" + (f"Authorization: Basic {auth}\r\n" if auth else "")
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def request(self, method: str, target: str, body: bytes = b"", kind: str = "") -> tuple[int, bytes]:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        extra = f"Content-Type: {kind}\r\nContent-Length: {len(body)}\r\n" if method == "POST" else ""
        self.writer.write(f"{method} {target} HTTP/1.1\r\n{self.head}{extra}\r\n".encode() + body)
        assert self.reader is not None
        head = await self.reader.readuntil(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ", 2)[1])
        length, close = 0, False
        for line in lines[1:]:
            name, _, value = line.partition(":")
            name = name.strip().lower()
            if name == "content-length":
                length = int(value)
            elif name == "connection" and value.strip().lower() == "close":
                close = True
            elif name == "transfer-encoding":
                raise RuntimeError("chunked responses are not supported by this load generator")
        payload = await self.reader.readexactly(length)
        if close:
            self.writer.close()
            self.reader = self.writer = None
        return status, payload


def _pct(values: list[float], p: float) -> float:
    if not values:
        return 0.0
    values = sorted(values)
    return values[min(len(values) - 1, int(p / 100 * len(values)))]


async def _worker(
    conn: _Connection, base: str, group: dict[str, Any], stop: float, out: dict[str, Any], n: int
) -> None:
    i = n
    path = base + group["path"]
    targets = [path + (f"?{urlencode(p, doseq=True)}" if p else "") for p in group.get("params", [{}])]
    # an event line with its id left open: ids are written into it (json.dumps per event took
    # 3 ms of the client's CPU per 1,000-event request)
    head, _, tail = (json.dumps(dict(group.get("event", {}), id="\0")) + "\n").partition("\\u0000")
    while time.perf_counter() < stop:
        t = time.perf_counter()
        if group["kind"] == "get":
            status, _ = await conn.request("GET", targets[i % len(targets)])
        else:
            body = "".join(f"{head}{group['prefix']}-{n}-{i}-{j}{tail}" for j in range(group["batch"])).encode()
            status, payload = await conn.request("POST", path, body, "application/x-ndjson")
            if status == 200:
                out["events"] += json.loads(payload)["written"]
        out["latencies"].append(time.perf_counter() - t)
        out["errors"] += status >= 400
        i += group.get("stride", 1)


async def main(spec: dict[str, Any]) -> dict[str, Any]:
    url = urlsplit(spec["url"])
    auth = base64.b64encode(":".join(spec["auth"]).encode()).decode() if spec.get("auth") else None
    stop = time.perf_counter() + spec["seconds"]
    results, tasks = [], []
    for g in spec["workers"]:
        out: dict[str, Any] = {"latencies": [], "errors": 0, "events": 0}
        results.append(out)
        for n in range(g["concurrency"]):
            conn = _Connection(url.hostname or "127.0.0.1", url.port or 80, auth)
            tasks.append(_worker(conn, url.path.rstrip("/"), g, stop, out, n))
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
                "client_cpu_ms": time.process_time() * 1000 / max(1, sum(len(r["latencies"]) for r in results)),
            }
        )
    return {"elapsed": elapsed, "groups": report}


if __name__ == "__main__":
    spec = json.loads(sys.argv[1] if len(sys.argv) > 1 else sys.stdin.read())
    print(json.dumps(asyncio.run(main(spec))))
