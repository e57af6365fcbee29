"""DuckDB and ClickHouse side by side (issue 13): the same answers on the same data, their costs.

ClickHouse runs in-process through chDB (the ClickHouse 26.9 engine, via clickhouse-connect's chDB
interface): no network, so the figures are the engine's and the backend code's, the floor of what
a server on the same machine would cost. Stores are built once by ``usagelens migrate``'s
``copy_store`` from the DuckDB bench stores and kept in ``bench/.data/chdb``.
"""

from __future__ import annotations

import shutil
import statistics
import time
import warnings
from datetime import timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa

from bench.common import Row, Section, timed
from bench.ingest_bench import BATCHES, END, NEW, prepare
from bench.report_bench import NOW, TEAM, _one_million
from usagelens import service
from usagelens.auth import Caller
from usagelens.demo import demo_events
from usagelens.ledger import open_ledger
from usagelens.ledger.base import Ledger
from usagelens.ledger.duckdb import DuckDBLedger
from usagelens.migrate import copy_store
from usagelens.query import INCLUDES, UsageArgs
from usagelens.service import usage

NAME = "clickhouse"
TITLE = "DuckDB and ClickHouse on the same data (issue 13)"
RUNS = 5
_NOTES: list[str] = []


def _chdb(data: Path, label: str, duck: Path) -> Ledger:
    url = f"chdb:///{data / 'chdb'}?database=demo{label}"
    led = open_ledger(url)
    if led.stats().events == 0:
        with DuckDBLedger(str(duck), read_only=True) as src:
            took = timed(lambda: copy_store(src, led))
        _NOTES.append(f"Building the {label}-event ClickHouse store with `copy_store` took {took:.0f} s (once).")
    return led


def _answer_ms(led: Ledger, args: UsageArgs) -> tuple[float, str]:
    text = usage(led, Caller.local(), args, now=NOW).text

    def cold() -> float:
        service._CACHE.clear()  # the engine, not the answer cache
        return timed(lambda: usage(led, Caller.local(), args, now=NOW))

    return statistics.median(cold() for _ in range(RUNS)) * 1000, text


def _answers(label: str, duck: Ledger, house: Ledger) -> list[Row]:
    rows = []
    first = (END - timedelta(days=119)).isoformat()
    for include in [None, *INCLUDES]:
        if include and label != "10M":
            continue
        args = UsageArgs(team_id=TEAM, start_date=first, end_date=END.isoformat(), include=[include] if include else [])
        d_ms, d_text = _answer_ms(duck, args)
        c_ms, c_text = _answer_ms(house, args)
        what = f"+ {include}" if include else "default summary"
        rows.append(
            Row(
                f"{label} events, 120 days: {what}",
                f"{c_ms:.1f} ms",
                f"{d_ms:.1f} ms",
                f"{c_ms / d_ms:.1f}×",
                "same bytes",
                "yes" if c_text == d_text else "**no**",
            )
        )
    return rows


def _ingest(data: Path) -> list[Row]:
    events = pa.concat_tables(list(demo_events(NEW)))
    batches = [b.slice(i, 1000) for b in demo_events(BATCHES) for i in range(0, 20_000, 1000)][:20]
    tmp = data / "ch-ingest.duckdb"
    tmp.unlink(missing_ok=True)
    out: dict[str, Any] = {}
    for name, url in (("duckdb", str(tmp)), ("clickhouse", f"chdb:///{data / 'chdb'}?database=ingest{time.time_ns()}")):
        with open_ledger(url) as led:
            out[name] = timed(lambda led=led: led.write_events(events))
            out[name + "_batch"] = statistics.median(timed(lambda b=b, led=led: led.write_events(b)) for b in batches)
            if name == "clickhouse":
                out["bytes_ch"] = led._query(  # type: ignore[attr-defined]
                    "SELECT sum(bytes_on_disk) FROM system.parts WHERE database = {db:String} AND active",
                    {"db": led.db},  # type: ignore[attr-defined]
                )[0][0]
                led._command(f"DROP DATABASE `{led.db}`")  # type: ignore[attr-defined]
    out["bytes_duck"] = tmp.stat().st_size
    tmp.unlink()
    n = events.num_rows
    d, c = out["duckdb"], out["clickhouse"]
    return [
        Row(
            f"ingest {n:,} events into an empty store",
            f"{n / c:,.0f} ev/s",
            f"{n / d:,.0f} ev/s",
            f"{d / c:.2f}×",
            "—",
            "—",
        ),
        Row(
            "one 1,000-event batch (median of 20)",
            f"{out['clickhouse_batch'] * 1000:.1f} ms",
            f"{out['duckdb_batch'] * 1000:.1f} ms",
            f"{out['clickhouse_batch'] / out['duckdb_batch']:.1f}×",
            "—",
            "—",
        ),
        Row(
            f"bytes on disk for {n + 20_000:,} events",
            f"{out['bytes_ch'] / 1e6:.0f} MB",
            f"{out['bytes_duck'] / 1e6:.0f} MB",
            f"{out['bytes_ch'] / out['bytes_duck']:.2f}×",
            "—",
            "—",
        ),
    ]


def run(data: Path) -> Section:
    warnings.simplefilter("ignore")
    _NOTES.clear()
    stores = {"1M": _one_million(data), "10M": prepare(data)["base"]}
    rows: list[Row] = []
    for label, path in stores.items():
        with DuckDBLedger(str(path), read_only=True) as duck, _chdb(data, label, path) as house:
            rows += _answers(label, duck, house)
    rows += _ingest(data)
    shutil.rmtree(data / "ch-ingest.duckdb", ignore_errors=True)
    return Section(
        NAME,
        TITLE,
        f"`service.usage` for team {TEAM} on the same demo events in DuckDB (baseline) and in ClickHouse "
        f"26.9 in-process (chDB through clickhouse-connect), median of {RUNS} calls with the answer cache "
        "emptied; `met` says whether both answers are the same bytes. Ingest: the same validated Arrow "
        f"table of {NEW.events:,} demo events into an empty store, then 20 batches of 1,000.",
        rows,
        list(_NOTES),
    )
