"""The answer against the engine's floor (issue 16): the default answer, each fact, each expansion.

Three baselines, measured in the same run on the same file:
- the floor: the same figures fetched by one hand-written DuckDB query per figure over the
  team-level day rollups (what the store keeps for exactly this), plus encoding the same JSON;
- the naive baseline: the figures by GROUP BY over the raw events table;
- for an expansion, its raw data-movement floor: the default answer's floor plus the hand-written
  query of the expansion's rows, building them as Python rows and encoding them.
"""

from __future__ import annotations

import statistics
import time
import warnings
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from bench.common import QUICK, Row, Section, timed
from bench.ingest_bench import END, prepare
from bench.report_bench import _naive as naive_demo
from bench.report_bench import _one_million
from bench.size_bench import _naive as naive_teams
from bench.size_bench import _store as teams_store
from usagelens import service
from usagelens.auth import Caller
from usagelens.jsonout import dumps
from usagelens.ledger.duckdb import DuckDBLedger
from usagelens.query import INCLUDES, UsageArgs, resolve
from usagelens.report.facts import fact_query

NAME = "answer"
TITLE = "The answer against the engine's floor (issue 16)"
NOW = datetime(2026, 11, 25, 12)
DAYS = 120
RUNS = 5 if QUICK else 15
_FIGURES = {  # figure -> (rollup table, columns grouped)
    "by type and kind": ("action", "d1, d2"),
    "previous period": ("action", ""),
    "by identity": ("user", "d1"),
    "by model": ("model", "d1"),
    "by label": ("nsfw", "d1"),
}
_EXPANSION_SQL = {
    "usages": "SELECT d1, is_api_key, {s} FROM rollup_action_day_team WHERE {w} GROUP BY ALL",
    "usages.daily": "SELECT bucket, d1, is_api_key, {s} FROM rollup_action_day_team WHERE {w} GROUP BY ALL",
    "modelUsages.daily": "SELECT bucket, d1, is_api_key, {s} FROM rollup_model_day_team WHERE {w} GROUP BY ALL",
    "nsfwUsages": "SELECT d1, is_api_key, {s} FROM rollup_nsfw_day_team WHERE {w} GROUP BY ALL",
    "activity": "SELECT * FROM events WHERE {w2} ORDER BY time DESC, id DESC LIMIT 100",
    "entities": "SELECT * FROM users WHERE owner IN ('', '{team}') UNION ALL BY NAME SELECT * FROM models "
    "WHERE owner IN ('', '{team}')",
}
_SUMS = "sum(events)::BIGINT, sum(jobs)::BIGINT, sum(assets)::BIGINT, sum(cu), sum(discount)"


def _median(fn: Callable[[], object], runs: int = RUNS) -> float:
    fn()
    return statistics.median(timed(fn) for _ in range(runs)) * 1000


def _window() -> tuple[datetime, datetime]:
    end = datetime(END.year, END.month, END.day) + timedelta(days=1)
    return end - timedelta(days=DAYS), end


def _args(team: str, include: str | None = None) -> UsageArgs:
    start, end = _window()
    last = (end - timedelta(days=1)).date().isoformat()
    return UsageArgs(
        team_id=team, start_date=start.date().isoformat(), end_date=last, include=[include] if include else []
    )


def _where(team: str, start: datetime, end: datetime, column: str = "bucket") -> str:
    return f"team_id = '{team}' AND {column} >= TIMESTAMP '{start}' AND {column} < TIMESTAMP '{end}'"


def _floor_queries(led: DuckDBLedger, team: str) -> float:
    """ms of the default answer's figures by one hand-written query each (fetched as rows)."""
    start, end = _window()
    cur = led._con.cursor()
    total = 0.0
    for name, (table, cols) in _FIGURES.items():
        a, b = (start - (end - start), start) if name == "previous period" else (start, end)
        sel = f"{cols + ', ' if cols else ''}is_api_key, {_SUMS}"
        sql = f"SELECT {sel} FROM rollup_{table}_day_team WHERE {_where(team, a, b)} GROUP BY ALL"
        total += _median(lambda sql=sql: cur.execute(sql).fetchall())
    cur.close()
    return total


def _answer(led: DuckDBLedger, args: UsageArgs) -> float:
    def computed() -> None:
        service._CACHE.clear()  # the answer cache is empty: every answer is computed
        service.usage(led, Caller.local(), args, now=NOW)

    return _median(computed)


def _facts_max(led: DuckDBLedger, team: str) -> float:
    q = resolve(_args(team), Caller.local(), led.teams(), NOW)
    prev = q.previous
    queries = [fact_query(q, by) for by in [("action", "asset_kind"), ("user_id",), ("model_id",), ("label",)]]
    queries.append(fact_query(q, (), *prev))
    return max(_median(lambda fq=fq: led.facts(fq)) for fq in queries)


def _first_answer(path: Path, team: str) -> float:
    """ms of the first answer of a freshly opened store (its rollup rows read into memory)."""
    with DuckDBLedger(str(path), read_only=True) as led:
        service._CACHE.clear()
        t = time.perf_counter()
        service.usage(led, Caller.local(), _args(team), now=NOW)
        return (time.perf_counter() - t) * 1000


def _default(path: Path, label: str, team: str, what: str, target: float, naive: Callable[..., None]) -> list[Row]:
    with DuckDBLedger(str(path), read_only=True) as led:
        answer = service.usage(led, Caller.local(), _args(team), now=NOW)
        ours = _answer(led, _args(team))
        floor = _floor_queries(led, team) + _median(lambda: dumps(answer.data))
        fact = _facts_max(led, team)
        start, end = _window()
        raw = _median(lambda: naive(led, team, start, end), 3)
    first = _first_answer(path, team)
    size = len(answer.text.encode())
    big = label == "10M" and not QUICK
    return [
        Row(
            f"{label} events, {what}: default answer ({size:,} B), vs one hand-written query per figure + JSON",
            f"{ours:.2f} ms",
            f"{floor:.2f} ms",
            f"{ours / floor:.2f}×",
            f"≤ {target:g} ms, ≤ 2× floor",
            "yes" if ours <= target and ours <= 2 * floor else "**no**",
        ),
        Row(
            f"{label} events, {what}: the slowest of its five fact queries",
            f"{fact:.2f} ms",
            "—",
            "—",
            "≤ 1.5 ms",
            "yes" if fact <= 1.5 else "**no**",
        ),
        Row(
            f"{label} events, {what}: default answer vs GROUP BY over the raw events (naive)",
            f"{ours:.2f} ms",
            f"{raw:.1f} ms",
            f"{raw / ours:.0f}×",
            "≥ 50×" if big else "grows with the store",
            ("yes" if raw / ours >= 50 else "**no**") if big else "—",
        ),
        Row(
            f"{label} events, {what}: first answer after opening the store (rollup rows read into memory)",
            f"{first:.1f} ms",
            f"{ours:.2f} ms warm",
            f"{first / ours:.1f}×",
            "—",
            "—",
        ),
    ]


def _expansions(path: Path, team: str, label: str) -> list[Row]:
    rows = []
    start, end = _window()
    with DuckDBLedger(str(path), read_only=True) as led:
        base = _floor_queries(led, team) + _median(
            lambda: dumps(service.usage(led, Caller.local(), _args(team), now=NOW).data)
        )
        cur = led._con.cursor()
        for include in INCLUDES:
            args = _args(team, include)
            answer = service.usage(led, Caller.local(), args, now=NOW)
            key = "usages.daily" if include == "usages.daily" else include
            part: Any = answer.data.get(key)
            sql = _EXPANSION_SQL[include].format(
                s=_SUMS, w=_where(team, start, end), w2=_where(team, start, end, "time"), team=team
            )

            def move(sql: str = sql, part: Any = part) -> None:
                rel = cur.execute(sql).to_arrow_table()
                rel.to_pylist()  # building the rows it returns
                dumps(part)

            floor = base + _median(move, 3 if include == "modelUsages.daily" else RUNS)
            ours = (
                _answer(led, args)
                if include != "modelUsages.daily"
                else _median(
                    lambda args=args: (service._CACHE.clear(), service.usage(led, Caller.local(), args, now=NOW)), 3
                )
            )
            size = len(answer.text.encode())
            rows.append(
                Row(
                    f"{label} events, {team}: + {include} ({size:,} B), vs its rows' data-movement floor",
                    f"{ours:.1f} ms",
                    f"{floor:.1f} ms",
                    f"{ours / floor:.2f}×",
                    "≤ 2×",
                    "yes" if ours <= 2 * floor else "**no**",
                )
            )
        cur.close()
    return rows


_RSS = """
import sys, warnings
warnings.simplefilter("ignore")
from datetime import datetime
from usagelens import service
from usagelens.auth import Caller
from usagelens.ledger.duckdb import DuckDBLedger
from usagelens.query import INCLUDES, UsageArgs
with DuckDBLedger(sys.argv[1], read_only=True) as led:
    if sys.argv[2] == "answer":
        for team in ("t10", "t100", "t1k", "t10k"):
            for include in [None, *INCLUDES]:
                args = UsageArgs(team_id=team, start_date="2026-07-28", end_date="2026-11-24",
                                 include=[include] if include else [])
                service.usage(led, Caller.local(), args, now=datetime(2026, 11, 25, 12))
print(next(int(x.split()[1]) * 1024 for x in open("/proc/self/status") if x.startswith("VmHWM:")))
"""


def _rss(path: Path) -> Row:
    """Peak RSS (``VmHWM``: ``ru_maxrss`` carries the parent's peak over ``exec``, and the bench
    process holds a 100M store's loads by then) of a process answering every team's default
    answer and expansions, against one that only opens the store."""
    import subprocess
    import sys

    def peak(what: str) -> int:
        out = subprocess.run([sys.executable, "-c", _RSS, str(path), what], capture_output=True, text=True, check=True)
        return int(out.stdout.split()[-1])

    ours, floor = peak("answer"), peak("open")
    return Row(
        "100M events: peak RSS answering the default answer and every expansion of the four teams",
        f"{ours / 2**20:,.0f} MB",
        f"{floor / 2**20:,.0f} MB (the store opened)",
        f"{ours / floor:.1f}×",
        "≤ 1 GB",
        "yes" if ours <= 2**30 else "**no**",
    )


def run(data: Path) -> Section:
    warnings.simplefilter("ignore")
    rows: list[Row] = []
    if QUICK:
        demo, teams = {"1M": _one_million(data)}, {"1M": teams_store(data, "1M", 1_000_000)}
    else:
        demo = {"10M": prepare(data)["base"]}
        teams = {label: teams_store(data, label, n) for label, n in (("10M", 10_000_000), ("100M", 100_000_000))}
    for label, path in teams.items():
        rows += _default(path, label, "t10", "a 10-identity, 20-model team", 5, naive_teams)
    if not QUICK:
        rows.append(_rss(teams["100M"]))
    for label, path in demo.items():
        what = "the demo's largest team (116 identities, 421 models)"
        rows += _default(path, label, "team_7_0", what, 15, _naive_demo_team)
        rows += _expansions(path, "team_7_0", label)
    return Section(
        NAME + ("-quick" if QUICK else ""),
        TITLE + (" — quick profile (CI-sized stores)" if QUICK else ""),
        f"`service.usage` over {DAYS} whole UTC days ending {END}, answer cache emptied before each call "
        f"(median of {RUNS}); the store's rollup rows of the team are already in memory, as in a running "
        "server (the first answer after opening the store is its own row). Floor: one hand-written "
        "GROUP BY per figure over the team-level day rollups (fetched as rows) plus encoding the same "
        "JSON, summed. Naive: the figures by GROUP BY over the raw events table. Expansions: the "
        "answer with the expansion against the default floor plus the expansion's hand-written query, "
        "its rows built as Python rows and its part of the answer encoded.",
        rows,
        [
            "Stores: the four synthetic teams of the size benchmark (10 to 10,000 identities, 20 models "
            "each) and the demo store (seed 7, 120 days). Quick profile: the 1M-event stores.",
            "Why the floor is ~1.5-2 ms per figure: DuckDB's own profile of one hand-written GROUP BY "
            "(421 models, a month) gave 0.32 ms binding and planning, 0.43 ms optimising, 0.74 ms of "
            "operator CPU (scan 0.25 ms, hash aggregate 0.45 ms) and ~0.4 ms converting the result; "
            "`SELECT 1` alone costs 0.1 ms. usagelens answers these figures without a statement: the "
            "team's rollup rows are held in memory (`ledger/duckdb/hot.py`) and each figure is a "
            "subtraction of running sums per group for its whole days and a `bincount` per measure "
            "for its edge hours.",
        ],
    )


def _naive_demo_team(led: DuckDBLedger, team: str, start: datetime, end: datetime) -> None:
    del team  # the demo's largest team is report_bench's TEAM
    naive_demo(led, start, end, ["", "user_id", "model_id", "asset_kind", "action", "label"])


__all__ = ["NAME", "TITLE", "run"]
