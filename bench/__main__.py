"""Run benchmarks: ``python -m bench [name …]`` (all by default), then write docs/benchmarks.md."""

from __future__ import annotations

import sys

from bench import (
    answer_bench,
    budgets_bench,
    clickhouse_bench,
    common,
    http_bench,
    ingest_bench,
    mcp_bench,
    report_bench,
    size_bench,
    startup_bench,
)

BENCHES = {
    m.NAME: m
    for m in (
        ingest_bench,
        answer_bench,
        report_bench,
        size_bench,
        mcp_bench,
        http_bench,
        clickhouse_bench,
        budgets_bench,
        startup_bench,
    )
}


#: The benchmarks with a quick profile (``USAGELENS_BENCH_QUICK=1``: CI-sized stores).
QUICK_BENCHES = ("ingest", "answer", "startup")


def main(names: list[str]) -> None:
    common.DATA.mkdir(parents=True, exist_ok=True)
    default = list(QUICK_BENCHES) if common.QUICK else list(BENCHES)
    for name in names or default:
        if name not in BENCHES:
            sys.exit(f"unknown benchmark {name!r} (known: {', '.join(BENCHES)})")
        section = BENCHES[name].run(common.DATA)
        common.save(section)
        for row in section.rows:
            print(
                f"[{name}] {row.scenario}: {row.ours} vs {row.baseline} ({row.ratio}) target {row.target}: {row.met}",
                flush=True,
            )
    common.write_report()
    print(f"wrote {common.REPORT}")


if __name__ == "__main__":
    main(sys.argv[1:])
