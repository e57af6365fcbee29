"""Ingest throughput (issue 2): bulk files into an empty and a 10M-event store, 1,000-event batches.

Baseline, measured in the same run: row-by-row parameterised INSERTs (``executemany``) of the
same events into the same schema, without duplicate checks or rollups (which only flatters it).
"""

from __future__ import annotations

import shutil
import statistics
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

import duckdb
import pyarrow as pa

from bench.common import Row, Section, median_of, timed
from usagelens.demo import DemoSpec, demo_events
from usagelens.ingest.export import write_events_file
from usagelens.ingest.pipeline import ingest_file
from usagelens.ledger.duckdb import DuckDBLedger
from usagelens.ledger.duckdb import sql as duckdb_sql
from usagelens.surfaces.cli.store import load_demo

NAME = "ingest"
TITLE = "Ingest throughput (issue 2)"
END = date(2026, 11, 24)
BASE = DemoSpec(seed=7, events=10_000_000, days=120, end=END)
NEW = DemoSpec(seed=8, events=1_000_000, days=120, end=END)
BATCHES = DemoSpec(seed=9, events=60_000, days=1, end=END)
RUNS = 3
BASELINE_ROWS = 20_000


def prepare(data: Path) -> dict[str, Path]:
    """Build (once) the 10M-event store and the 1M-event files."""
    paths = {
        "base": data / "base10m.duckdb",
        "parquet": data / "new1m.parquet",
        "jsonl": data / "new1m.jsonl",
    }
    if not paths["base"].exists():
        tmp = data / "base10m.tmp.duckdb"
        tmp.unlink(missing_ok=True)
        led = DuckDBLedger(str(tmp))
        load_demo(led, BASE)
        led.close()
        tmp.rename(paths["base"])
    for fmt in ("parquet", "jsonl"):
        if not paths[fmt].exists():
            write_events_file(demo_events(NEW), str(paths[fmt]))
    return paths


def _store(tmp: Path, base: Path | None) -> str:
    path = tmp / f"s{time.perf_counter_ns()}.duckdb"
    if base:
        shutil.copyfile(base, path)
    return str(path)


def _bulk(tmp: Path, file: Path, base: Path | None) -> float:
    path = _store(tmp, base)
    led = DuckDBLedger(path)
    seconds = timed(lambda: ingest_file(led, str(file), future_tolerance=_FAR))
    assert led.stats().events == NEW.events + (BASE.events if base else 0)
    led.close()
    Path(path).unlink()
    return NEW.events / seconds


def _baseline_rate(tmp: Path, base: Path | None, rows: list[tuple]) -> float:
    path = _store(tmp, base)
    con = duckdb.connect(path)
    for stmt in duckdb_sql.schema_sql():
        con.execute(stmt)
    cols = ", ".join(duckdb_sql.EVENT_COLUMNS)
    sql = f"INSERT INTO events ({cols}) VALUES ({', '.join('?' * len(duckdb_sql.EVENT_COLUMNS))})"
    con.execute("BEGIN")
    seconds = timed(lambda: con.executemany(sql, rows))
    con.execute("COMMIT")
    con.close()
    Path(path).unlink()
    return len(rows) / seconds


def _batches(tmp: Path, base: Path) -> tuple[float, float]:
    """Median ms per 1,000-event write_events on a warm 10M store, and the baseline's."""
    path = _store(tmp, base)
    led = DuckDBLedger(path)
    events = pa.concat_tables(list(demo_events(BATCHES)))
    led.write_events(events.slice(0, 1000))  # warm: the id set is loaded once per process
    ours = [timed(lambda i=i: led.write_events(events.slice(i, 1000))) for i in range(1000, 51_000, 1000)]
    led.close()
    con = duckdb.connect(path)
    cols = ", ".join(duckdb_sql.EVENT_COLUMNS)
    sql = f"INSERT INTO events ({cols}) VALUES ({', '.join('?' * len(duckdb_sql.EVENT_COLUMNS))})"
    rows = _tuples(events.slice(51_000, 5000))
    base_ms = []
    for i in range(0, 5000, 1000):
        con.execute("BEGIN")
        base_ms.append(timed(lambda i=i: con.executemany(sql, rows[i : i + 1000])))
        con.execute("COMMIT")
    con.close()
    Path(path).unlink()
    return statistics.median(ours) * 1000, statistics.median(base_ms) * 1000


def _tuples(t: pa.Table) -> list[tuple]:
    cols = [t[c].to_pylist() for c in duckdb_sql.EVENT_COLUMNS]
    return list(zip(*cols, strict=True))


_FAR = timedelta(days=3650)


def _row(scenario: str, ours: float, base: float, target: float, unit: str = "ev/s") -> Row:
    if unit == "ms":
        return Row(
            scenario,
            f"{ours:.1f} ms",
            f"{base:.1f} ms",
            f"{base / ours:.0f}× faster",
            f"≤ {target:.0f} ms",
            "yes" if ours <= target else "**no**",
        )
    return Row(
        scenario,
        f"{ours:,.0f} ev/s",
        f"{base:,.0f} ev/s",
        f"{ours / base:.0f}×",
        f"≥ {target:,.0f} ev/s" if target else "—",
        ("yes" if ours >= target else "**no**") if target else "—",
    )


def run(data: Path) -> Section:
    paths = prepare(data)
    sample = _tuples(pa.concat_tables(list(demo_events(NEW, chunk=BASELINE_ROWS))).slice(0, BASELINE_ROWS))
    rows = []
    with tempfile.TemporaryDirectory(dir=data) as d:
        tmp = Path(d)
        base_empty = median_of(lambda: _baseline_rate(tmp, None, sample), RUNS)
        base_full = median_of(lambda: _baseline_rate(tmp, paths["base"], sample), RUNS)
        for fmt, target in (("parquet", 500_000), ("jsonl", 200_000)):
            empty = median_of(lambda fmt=fmt: _bulk(tmp, paths[fmt], None), RUNS)
            rows.append(_row(f"1M events {fmt} → empty store", empty, base_empty, target))
            full = median_of(lambda fmt=fmt: _bulk(tmp, paths[fmt], paths["base"]), RUNS)
            rows.append(_row(f"1M events {fmt} → 10M-event store", full, base_full, target))
        ours_ms, base_ms = _batches(tmp, paths["base"])
        rows.append(_row("1,000-event batch → 10M-event store (ms per batch)", ours_ms, base_ms, 15, "ms"))
    return Section(
        NAME,
        TITLE,
        "Bulk: `ingest_file` of a 1,000,000-event demo file (seed 8) end to end — read, validate "
        "every field, check every id against the store, insert raw events and update the rollups "
        "in one transaction — into a fresh store and into a copy of a 10,000,000-event store "
        "(seed 7), timing from the file open to the commit (the rollup rows are in `rollups_recent` "
        "and answer queries at commit; their move into the sorted main tables runs afterwards in a "
        "background thread and is not timed; the in-memory id set is built from the "
        "store inside that time). Batches: `Ledger.write_events` of 50 validated 1,000-event "
        "batches on a warm 10M-event store, median. Baseline: `executemany` of parameterised "
        f"INSERTs into the same events table ({BASELINE_ROWS:,} rows for the rate; 1,000 rows per "
        "batch), without duplicate checks or rollups.",
        rows,
    )
