"""Shared benchmark plumbing: data cache, timing, the machine line, the Markdown report.

Each benchmark module exposes ``NAME``, ``TITLE`` and ``run(data: Path) -> Section``; results
are kept per section in ``bench/results/<name>.json`` so one section can be re-run alone and
``docs/benchmarks.md`` always shows every section.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import statistics
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DATA = Path(os.environ.get("USAGELENS_BENCH_DATA", ROOT / "bench" / ".data"))
RESULTS = ROOT / "bench" / "results"
REPORT = ROOT / "docs" / "benchmarks.md"
#: ``USAGELENS_BENCH_QUICK=1`` (``make bench-quick``): CI-sized stores, saved beside the full run
#: as ``<name>-quick`` sections, so docs/benchmarks.md shows both.
QUICK = os.environ.get("USAGELENS_BENCH_QUICK") == "1"


@dataclass
class Row:
    """One measured line: ours against the baseline measured in the same run."""

    scenario: str
    ours: str
    baseline: str
    ratio: str
    target: str
    met: str


@dataclass
class Section:
    name: str
    title: str
    method: str
    rows: list[Row] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def median_of(fn: Callable[[], float], runs: int) -> float:
    """Median of ``runs`` calls of ``fn`` (each returns a measurement)."""
    return statistics.median(fn() for _ in range(runs))


def copy_store(src: Path | str, dst: Path | str) -> None:
    """Copy a store file and flush it to disk before anything is timed: else the first write's
    fsync pays for the copy's dirty pages (636 MB at 10M events: 2.6-7.5 s added to a 1M ingest)."""
    shutil.copyfile(src, dst)
    with open(dst, "rb+") as f:
        os.fsync(f.fileno())


def timed(fn: Callable[[], object]) -> float:
    """Seconds one call of ``fn`` takes."""
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


@dataclass(frozen=True)
class Cost:
    """Wall seconds of a call and the CPU seconds this process spent in it (every thread's, the
    database's own included): ``cpu / wall`` is how many cores it kept busy."""

    wall: float
    cpu: float


def costed(fn: Callable[[], object]) -> Cost:
    """The ``Cost`` of one call of ``fn``."""
    c, t = time.process_time(), time.perf_counter()
    fn()
    return Cost(time.perf_counter() - t, time.process_time() - c)


def median_cost(fn: Callable[[], Cost], runs: int) -> Cost:
    """Medians (wall and CPU apart) of ``runs`` calls of ``fn``."""
    got = [fn() for _ in range(runs)]
    return Cost(statistics.median(c.wall for c in got), statistics.median(c.cpu for c in got))


def machine() -> str:
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = ""
    try:
        kb = int(Path("/proc/meminfo").read_text().split()[1])
        mem = f", {kb / 1024 / 1024:.0f} GiB RAM"
    except (OSError, ValueError, IndexError):
        pass
    system = f"{platform.system()} {platform.release()}, Python {platform.python_version()}"
    return f"{os.cpu_count()} cores ({cpu}){mem}, {system}"


def save(section: Section) -> None:
    RESULTS.mkdir(parents=True, exist_ok=True)
    payload = asdict(section) | {"machine": machine(), "date": datetime.now(UTC).strftime("%Y-%m-%d")}
    (RESULTS / f"{section.name}.json").write_text(json.dumps(payload, indent=2) + "\n")


def render() -> str:
    """docs/benchmarks.md from every saved section."""
    lines = [
        "# Benchmarks",
        "",
        "Produced by `make bench` (`python -m bench`). Every figure is a "
        "median of several runs; every baseline is measured in the same run on the same machine.",
        "",
    ]
    for path in sorted(RESULTS.glob("*.json")):
        s = json.loads(path.read_text())
        lines += [f"## {s['title']}", "", f"Measured {s['date']} on {s['machine']}.", "", s["method"], ""]
        lines += [
            "| scenario | usagelens | baseline | ratio | target | met |",
            "|---|---:|---:|---:|---|---|",
        ]
        for r in s["rows"]:
            lines.append(
                f"| {r['scenario']} | {r['ours']} | {r['baseline']} | {r['ratio']} | {r['target']} | {r['met']} |"
            )
        lines += [""] + [f"- {n}" for n in s["notes"]] + ([""] if s["notes"] else [])
    return "\n".join(lines)


def write_report() -> None:
    """docs/benchmarks.md, and the same tables in the README between the bench markers."""
    REPORT.parent.mkdir(parents=True, exist_ok=True)
    text = render()
    REPORT.write_text(text)
    readme = ROOT / "README.md"
    start, end = "<!-- bench:start -->", "<!-- bench:end -->"
    body = readme.read_text()
    if start in body and end in body:
        tables = text.split("\n", 3)[3]  # without the page title and intro
        tables = tables.replace("## ", "#### ")
        head, rest = body.split(start, 1)
        readme.write_text(f"{head}{start}\n{tables}\n{end}{rest.split(end, 1)[1]}")
