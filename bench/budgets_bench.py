"""Budgets (issue 15): the cost of the ``budgets`` block on the default answer, and of threshold
checks on ingest.

Baselines, measured in the same run: the same answer for the same team without a budget (cache
emptied before each call), and the same 1,000-event batches written straight to the ledger
(without ``Watched``). With budgets, every batch touches the budgeted team: the worst case.
"""

from __future__ import annotations

import shutil
import statistics
import tempfile
from datetime import timedelta
from pathlib import Path

import pyarrow as pa

from bench.common import Row, Section, timed
from bench.ingest_bench import BATCHES, prepare
from bench.report_bench import NOW, TEAM, _one_million
from usagelens import service
from usagelens.auth import Caller
from usagelens.budgets.registry import delete, set_budget
from usagelens.budgets.watch import Watched
from usagelens.demo import demo_events
from usagelens.ledger.duckdb import DuckDBLedger
from usagelens.query import UsageArgs
from usagelens.service import usage

NAME = "budgets"
TITLE = "Budgets: the answer's block and threshold checks (issue 15)"
RUNS = 15
LOCAL = Caller.local()


def _answer_ms(led: DuckDBLedger) -> float:
    args = UsageArgs(team_id=TEAM)

    def cold() -> float:
        service._CACHE.clear()
        return timed(lambda: usage(led, LOCAL, args, now=NOW))

    cold()
    return statistics.median(cold() for _ in range(RUNS)) * 1000


def _block_rows(label: str, path: Path) -> list[Row]:
    with DuckDBLedger(str(path)) as led:
        for doc_id in list(led.docs("budgets")):
            delete(led, LOCAL, doc_id)
        plain = _answer_ms(led)
        set_budget(led, LOCAL, TEAM, cu="250000", now=NOW - timedelta(days=40))
        try:
            with_block = _answer_ms(led)
            size = len(usage(led, LOCAL, UsageArgs(team_id=TEAM), now=NOW).data["budgets"].__repr__())
        finally:
            delete(led, LOCAL, TEAM)
    extra = with_block - plain
    return [
        Row(
            f"default answer with a team budget, {label} events (block ≈{size} chars)",
            f"{with_block:.1f} ms",
            f"{plain:.1f} ms without",
            f"{extra:+.2f} ms",
            "≤ +1 ms",
            "yes" if extra <= 1 else "no",
        )
    ]


def _batches() -> list[pa.Table]:
    events = pa.concat_tables(list(demo_events(BATCHES)))
    return [events.slice(i, 1000) for i in range(0, 40_000, 1000)]


def _ingest_rows(data: Path) -> list[Row]:
    batches = _batches()
    teams = sorted(set(batches[0]["team_id"].to_pylist()))
    with tempfile.TemporaryDirectory(dir=data) as tmp:
        times: dict[str, list[float]] = {"plain": [], "watched": []}
        for run in range(2):
            for mode in ("plain", "watched") if run == 0 else ("watched", "plain"):
                path = Path(tmp) / f"{mode}{run}.duckdb"
                shutil.copyfile(_one_million(data), path)
                with DuckDBLedger(str(path)) as led:
                    writer = led
                    if mode == "watched":
                        for team in teams:  # every batch touches a budgeted team
                            set_budget(led, LOCAL, team, cu="1000000000", thresholds="99", now=NOW)
                        writer = Watched(led)  # type: ignore[assignment]
                    led.warm()
                    half = len(batches) // 2
                    for b in batches[run * half : (run + 1) * half]:
                        times[mode].append(timed(lambda b=b, w=writer: w.write_events(b)))
    plain = statistics.median(times["plain"]) * 1000
    watched = statistics.median(times["watched"]) * 1000
    return [
        Row(
            "1,000-event batch with threshold checks (every batch's team budgeted), 1M-event store",
            f"{watched:.1f} ms",
            f"{plain:.1f} ms unchecked",
            f"{watched / plain:.2f}×",
            "≤ 1.05×",
            "yes" if watched <= plain * 1.05 else "no",
        )
    ]


def run(data: Path) -> Section:
    rows = _block_rows("1M", _one_million(data)) + _block_rows("10M", prepare(data)["base"]) + _ingest_rows(data)
    return Section(
        NAME,
        TITLE,
        f"`service.usage` for team {TEAM} (default window), answer cache emptied before each of {RUNS} calls, "
        "median; the budget's daily use (`budgets/series.py`) is read once and then kept current by writes, "
        "so it is warm here as in a running server (the first answer after a start pays one fact query, "
        "~3 ms). Ingest: 20 batches of 1,000 demo events per mode, alternating store copies, median; every "
        "batch touches a budgeted team.",
        rows,
    )
