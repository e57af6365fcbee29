"""The usage answer (issue 3): default summary and each expansion, against raw-table aggregation.

Baseline, measured in the same run on the same DuckDB file: the same figures computed by
GROUP BY over the raw ``events`` table (no rollups), which is what a store without rollups does.
"""

from __future__ import annotations

import statistics
import warnings
from datetime import datetime, timedelta
from pathlib import Path

from bench.common import Row, Section, timed
from bench.ingest_bench import BASE, END, prepare
from usagelens import service
from usagelens.auth import Caller
from usagelens.demo import DemoSpec
from usagelens.ledger.duckdb import DuckDBLedger
from usagelens.query import INCLUDES, UsageArgs, resolve
from usagelens.service import usage
from usagelens.surfaces.cli.store import load_demo

NAME = "report"
TITLE = "The usage answer (issue 3)"
NOW = datetime(2026, 11, 25, 12)
TEAM = "team_7_0"
RUNS = 7
EXPANSIONS = list(INCLUDES)
#: What the naive baseline computes for each case: GROUP BY keys over the raw events.
_NAIVE = {
    None: ["", "user_id", "model_id", "asset_kind", "action", "label"],
    "usages": ["action"],
    "usages.daily": ["day, action"],
    "modelUsages": ["model_id"],
    "modelUsages.daily": ["day, model_id"],
    "nsfwUsages": ["label"],
    "activity": ["page"],
    "entities": ["user_id"],
    "consumption": ["user_id"],
}


def _one_million(data: Path) -> Path:
    path = data / "demo1m.duckdb"
    if not path.exists():
        led = DuckDBLedger(str(data / "demo1m.tmp.duckdb"))
        load_demo(led, DemoSpec(seed=7, events=1_000_000, days=120, end=END))
        led.close()
        (data / "demo1m.tmp.duckdb").rename(path)
    return path


def _naive(led: DuckDBLedger, start: datetime, end: datetime, groups: list[str]) -> None:
    """The figures straight from the raw table, for one team and window."""
    cur = led._con.cursor()
    where = f"team_id = '{TEAM}' AND time >= TIMESTAMP '{start}' AND time < TIMESTAMP '{end}'"
    for g in groups:
        if g == "page":
            cur.execute(f"SELECT * FROM events WHERE {where} ORDER BY time DESC, id DESC LIMIT 100").fetchall()
            continue
        src = "(SELECT *, unnest(nsfw) AS label FROM events)" if g == "label" else "events"
        sel = g.replace("day", "date_trunc('day', time) AS day")
        cur.execute(
            f"SELECT {sel + ',' if g else ''} is_api_key, count(*), sum(cu), sum(discount) FROM {src} "
            f"WHERE {where} GROUP BY ALL"
        ).fetchall()
    if groups == _NAIVE[None]:  # and the previous period's total
        prev = f"team_id = '{TEAM}' AND time >= TIMESTAMP '{start - (end - start)}' AND time < TIMESTAMP '{start}'"
        cur.execute(f"SELECT sum(cu) FROM events WHERE {prev}").fetchall()
    cur.close()


def _measure(led: DuckDBLedger, args: UsageArgs, include: str | None) -> tuple[float, float, int]:
    q = resolve(args, Caller.local(), led.teams(), NOW)
    usage(led, Caller.local(), args, now=NOW)  # warm

    def cold() -> float:
        service._CACHE.clear()  # measure the engine, not the answer cache
        return timed(lambda: usage(led, Caller.local(), args, now=NOW))

    ours = statistics.median(cold() for _ in range(RUNS))
    naive = statistics.median(timed(lambda: _naive(led, q.start, q.end, _NAIVE[include])) for _ in range(3))
    size = len(usage(led, Caller.local(), args, now=NOW).text.encode())
    return ours * 1000, naive * 1000, size


def run(data: Path) -> Section:
    warnings.simplefilter("ignore")
    stores = {"1M": _one_million(data), "10M": prepare(data)["base"]}
    rows: list[Row] = []
    for label, path in stores.items():
        led = DuckDBLedger(str(path), read_only=True)
        for days in (120, 30):
            first = (END - timedelta(days=days - 1)).isoformat()
            for include in [None, *EXPANSIONS]:
                if include and (label, days) != ("10M", 120):
                    continue  # expansions: measured on the largest case only
                args = UsageArgs(
                    team_id=TEAM,
                    start_date=first,
                    end_date=END.isoformat(),
                    include=[include] if include else [],
                )
                ours, naive, size = _measure(led, args, include)
                name = f"{label} events, {days}-day window: " + (f"+ {include}" if include else "default summary")
                target = "≤ 15 ms, ≥ 5×" if (label, days, include) == ("10M", 120, None) else "—"
                met = (
                    "—"
                    if target == "—"
                    else (
                        "yes"
                        if ours <= 15 and naive / ours >= 5
                        else f"**no** ({'ratio met' if naive / ours >= 5 else 'neither'})"
                    )
                )
                rows.append(
                    Row(
                        name,
                        f"{ours:.1f} ms ({size:,} B)",
                        f"{naive:.1f} ms",
                        f"{naive / ours:.0f}×",
                        target,
                        met,
                    )
                )
        led.close()
    return Section(
        NAME,
        TITLE,
        f"`service.usage` for team {TEAM} of the demo stores (seed 7, 120 days ending {END}; 1M and 10M "
        f"events), engine plus shaping plus JSON encoding, median of {RUNS} warm calls in one process; "
        "the answer's size in bytes beside each timing. Baseline: the same figures by GROUP BY over the "
        "raw events table of the same file (median of 3).",
        rows,
        [
            f"Generated against stores built by `bench/ingest_bench.py` ({BASE.events:,} events) and a "
            "1,000,000-event demo store."
        ],
    )


__all__ = ["NAME", "TITLE", "run"]
