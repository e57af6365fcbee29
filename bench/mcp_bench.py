"""The MCP server (issue 4): a default ``usage`` call through an in-process MCP client session.

Baseline, measured in the same run on the same session: a no-op tool (``ping``, registered only on
this benchmark's server instance) — the protocol's own floor: request, dispatch, result conversion
and client-side validation. The call is timed with the answer computed (the core's answer cache
emptied first) and repeated (served from that cache); ``service.usage`` called directly shows
what the MCP layer adds on top of the core.
"""

from __future__ import annotations

import asyncio
import statistics
import time
import warnings
from datetime import datetime
from pathlib import Path

from mcp import Client
from mcp.client.session import ClientSession

from bench.common import Row, Section
from bench.ingest_bench import BASE, prepare
from usagelens import service
from usagelens.auth import Caller
from usagelens.ledger.duckdb import DuckDBLedger
from usagelens.query import UsageArgs
from usagelens.surfaces.mcp import build_server

NAME = "mcp"
TITLE = "The MCP server (issue 4)"
NOW = datetime(2026, 11, 25, 12)
ARGS = {"team_id": "team_7_0", "start_date": "2026-07-28", "end_date": "2026-11-24"}
RUNS = 31
WARM = 5
TARGET_MS = 30.0
TARGET_RATIO = 3.0


async def _ping() -> str:
    """No-op."""
    return "pong"


def _forget() -> None:
    """Empty the core's answer cache, if it has one, so the next answer is computed."""
    cache = getattr(service, "_CACHE", None)
    if cache is not None:
        cache.clear()


async def _session(led: DuckDBLedger, mode: str) -> dict[str, float]:
    """Median ms of: the usage call computed and repeated (answer cache hit), the no-op call and
    the direct core call, interleaved on one session."""
    server = build_server(led, Caller.local, now=lambda: NOW)
    server.add_tool(_ping, name="ping", title="Ping", description="No-op.")
    times: dict[str, list[float]] = {"cold": [], "warm": [], "ping": [], "direct": []}
    size = 0
    async with Client(server, mode=mode) as c:
        for i in range(WARM + RUNS):
            _forget()
            t = time.perf_counter()
            r = await c.call_tool("usage", ARGS)
            cold = time.perf_counter() - t
            assert not r.is_error, r.content
            t = time.perf_counter()
            await c.call_tool("usage", ARGS)
            warm = time.perf_counter() - t
            t = time.perf_counter()
            await c.call_tool("ping", {})
            ping = time.perf_counter() - t
            _forget()
            t = time.perf_counter()
            service.usage(led, Caller.local(), UsageArgs(**ARGS), now=NOW)
            direct = time.perf_counter() - t
            if i >= WARM:
                for k, v in (("cold", cold), ("warm", warm), ("ping", ping), ("direct", direct)):
                    times[k].append(v)
            size = len(r.content[0].text.encode())
        times["unchecked"] = await _unchecked(c)
    return {k: statistics.median(v) * 1000 for k, v in times.items()} | {"size": size}


async def _unchecked(c: Client) -> list[float]:
    """Seconds of the cached call with the client's output-schema validation off (the SDK's
    ``ClientSession.validate_tool_result``, a pure-Python jsonschema pass): the server's own cost."""
    real = ClientSession.validate_tool_result

    async def skip(self: ClientSession, name: str, result: object) -> None:
        return None

    ClientSession.validate_tool_result = skip  # type: ignore[method-assign]
    try:
        out = []
        for i in range(WARM + RUNS):
            t = time.perf_counter()
            await c.call_tool("usage", ARGS)
            if i >= WARM:
                out.append(time.perf_counter() - t)
        return out
    finally:
        ClientSession.validate_tool_result = real  # type: ignore[method-assign]


def _met(ms: float, ratio: float) -> str:
    fast, near = ms <= TARGET_MS, ratio <= TARGET_RATIO
    return "yes" if fast and near else f"**no** ({'≤ 30 ms met' if fast else 'neither'})"


def _rows(label: str, m: dict[str, float]) -> list[Row]:
    target = f"≤ {TARGET_MS:.0f} ms, ≤ {TARGET_RATIO:.0f}× no-op"
    cold, warm = m["cold"] / m["ping"], m["warm"] / m["ping"]
    return [
        Row(f"{label}: no-op tool call (the protocol's floor)", f"{m['ping']:.2f} ms", "—", "—", "—", "—"),
        Row(
            f"{label}: default `usage` call, answer computed, vs no-op",
            f"{m['cold']:.1f} ms ({int(m['size']):,} B)",
            f"{m['ping']:.2f} ms",
            f"{cold:.1f}×",
            target,
            _met(m["cold"], cold),
        ),
        Row(
            f"{label}: the same call vs `service.usage` direct (MCP layer's cost)",
            f"{m['cold']:.1f} ms",
            f"{m['direct']:.1f} ms",
            f"{m['cold'] / m['direct']:.2f}× (+{m['cold'] - m['direct']:.1f} ms)",
            "—",
            "—",
        ),
        Row(
            f"{label}: default `usage` call repeated (answer cache hit), vs no-op",
            f"{m['warm']:.2f} ms",
            f"{m['ping']:.2f} ms",
            f"{warm:.1f}×",
            target,
            _met(m["warm"], warm),
        ),
        Row(
            f"{label}: the cached call without the client's output-schema validation (the server's cost), vs no-op",
            f"{m['unchecked']:.2f} ms",
            f"{m['ping']:.2f} ms",
            f"{m['unchecked'] / m['ping']:.1f}×",
            "—",
            "—",
        ),
    ]


def run(data: Path) -> Section:
    warnings.simplefilter("ignore")
    led = DuckDBLedger(str(prepare(data)["base"]), read_only=True)
    try:
        modern = asyncio.run(_session(led, "auto"))
        legacy = asyncio.run(_session(led, "legacy"))
    finally:
        led.close()
    for label, m in (("direct dispatch", modern), ("JSON-RPC streams", legacy)):
        print(
            f"[mcp] {label}: usage {m['cold']:.1f} ms computed / {m['warm']:.2f} ms cached, no-op "
            f"{m['ping']:.2f} ms, cached without client validation {m['unchecked']:.2f} ms, service.usage "
            f"{m['direct']:.1f} ms; usage/no-op {m['cold'] / m['ping']:.1f}× "
            f"computed, {m['warm'] / m['ping']:.1f}× cached; usage/service.usage {m['cold'] / m['direct']:.2f}×",
            flush=True,
        )
    return Section(
        NAME,
        TITLE,
        f"A default `usage` call for {ARGS['team_id']} ({ARGS['start_date']} → {ARGS['end_date']}, now "
        f"{NOW:%Y-%m-%dT%H:%M}) on the {BASE.events:,}-event store through the SDK's in-process `Client`: "
        "argument validation, the core in a worker thread, result conversion and output-schema validation "
        "on both sides; median of "
        f"{RUNS} warm rounds. Each round, on one session, interleaved: the call with the core's answer "
        "cache emptied first (the answer is computed), the same call again (served from that cache), a "
        "no-op tool call (`ping`, registered only on this benchmark's server) and `service.usage` called "
        "directly with the cache emptied. Two sessions: the SDK's default in-process direct dispatch "
        "(protocol 2026-07-28) and the handshake-era JSON-RPC streams (`mode='legacy'`), closer to stdio.",
        _rows("direct dispatch", modern) + _rows("JSON-RPC streams", legacy),
        [
            f"The no-op call is the protocol's floor ({modern['ping']:.2f} ms); computing the answer "
            f"(`service.usage`, issue 3) takes {modern['direct']:.1f} ms, so a computed call cannot come "
            "within 3× of the floor whatever the MCP layer does; the layer's own cost is the third row "
            "of each session. Most of it is the Python SDK client's own JSON Schema validation of the "
            "structured content against the typed `outputSchema` (`jsonschema`, pure Python: "
            f"{modern['warm'] - modern['unchecked']:.0f} ms for the {int(modern['size']):,}-byte answer); "
            f"without it a cached call costs {modern['unchecked']:.1f} ms on the server's side. A client "
            "that validates in compiled code, or not at all, pays the last row.",
        ],
    )


__all__ = ["NAME", "TITLE", "run"]
