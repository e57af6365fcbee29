"""Store commands: ``ingest``, ``demo``, ``stats``."""

from __future__ import annotations

import dataclasses
import json
import re
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Annotated, Any, cast

import typer
from rich.table import Table

from usagelens.errors import InvalidArgument
from usagelens.jsonout import num
from usagelens.ledger import open_ledger
from usagelens.ledger.base import Ledger, StoreStats, UsageWriter
from usagelens.surfaces.cli.console import err, out
from usagelens.surfaces.cli.options import DbOption, FormatOption, KeyOption, UrlOption, text_or_json
from usagelens.surfaces.cli.remote import remote_from_env

if TYPE_CHECKING:  # numpy and pyarrow load when a command writes, not with the CLI
    from usagelens.demo import DemoSpec

__all__ = ["load_demo", "parse_duration", "register"]


def parse_duration(text: str, option: str = "--future-tolerance") -> timedelta:
    """``90s``, ``15m``, ``1h``, ``2d`` → timedelta; anything else is an InvalidArgument."""
    m = re.fullmatch(r"\s*(\d+)\s*([smhd])\s*", text)
    if not m:
        raise InvalidArgument(f"{option}: '{text}' is not a duration (e.g. 90s, 15m, 1h, 2d)")
    unit = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}[m.group(2)]
    return timedelta(**{unit: int(m.group(1))})


@contextmanager
def _progress(label: str) -> Iterator:
    """A progress callback drawing a Rich bar on a terminal (and nothing otherwise)."""
    if not err.is_terminal:
        yield None
        return
    from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeRemainingColumn

    columns = (TextColumn("{task.description}"), BarColumn(), TaskProgressColumn(), TimeRemainingColumn())
    with Progress(*columns, console=err, transient=True) as bar:
        task = bar.add_task(label, total=None)

        def update(phase: str, done: int, total: int) -> None:
            # the write is one transaction with no steps to count: the bar pulses until it commits
            pulse = phase == "writing" and done < total
            bar.update(task, description=f"{label}: {phase}", completed=done, total=None if pulse else total)

        yield update


def ingest(
    file: Annotated[str, typer.Argument(help="JSONL, CSV or Parquet file; - for JSONL on stdin.")],
    entity: Annotated[
        str | None,
        typer.Option(
            help="Ingest entities of this kind instead of events: teams, projects, users, models, jobs, assets."
        ),
    ] = None,
    fmt: Annotated[
        str | None, typer.Option("--format", help="jsonl, csv or parquet (default: from the file name).")
    ] = None,
    skip_invalid: Annotated[bool, typer.Option(help="Write the valid records and report the rejected ones.")] = False,
    future_tolerance: Annotated[
        str, typer.Option(help="Reject event times later than now plus this (e.g. 15m, 1h, 2d).")
    ] = "1h",
    db: DbOption = None,
    url: UrlOption = None,
    key: KeyOption = None,
) -> None:
    """Ingest usage events (or entities) from a file, atomically and idempotently."""
    from usagelens.budgets.watch import Watched
    from usagelens.ingest.pipeline import DEFAULT_FUTURE_TOLERANCE, ingest_file

    started = time.perf_counter()  # the summary's time covers the whole command, opening the store too
    tolerance = parse_duration(future_tolerance) if future_tolerance else DEFAULT_FUTURE_TOLERANCE
    remote = remote_from_env(url, key)
    ledger = remote or open_ledger(db)
    # a local store: budgets are checked after the write (a server checks its own)
    writer = remote or Watched(cast(Ledger, ledger))
    try:
        with _progress(f"ingest {file}") as progress:
            report = ingest_file(
                writer,
                file,
                kind=entity or "events",
                fmt=fmt,
                skip_invalid=skip_invalid,
                future_tolerance=tolerance,
                progress=progress,
            )
    finally:
        ledger.close()
    for p in report.problems:
        err.print(f"  rejected {p}", highlight=False, markup=False)
    if report.rejected > len(report.problems):
        err.print(f"  … and {report.rejected - len(report.problems):,} more rejected")
    report.seconds = time.perf_counter() - started
    out.print(report.summary(), highlight=False)


def load_demo(ledger: UsageWriter, spec: DemoSpec, progress: Callable[[str, int, int], None] | None = None) -> int:
    """Write the demo workload's entities and events into ``ledger``; returns events written."""
    from usagelens.demo import demo_entities, demo_events

    for kind, table in demo_entities(spec).items():
        ledger.upsert_entities(kind, table)
    written = 0
    for batch in demo_events(spec):
        written += ledger.write_events(batch).written
        if progress:
            progress("writing", written, spec.events)
    ledger.maintain()
    return written


def demo(
    events: Annotated[int, typer.Option(min=1, help="Number of events.")] = 100_000,
    days: Annotated[int, typer.Option(min=1, max=3650, help="Days of history.")] = 120,
    seed: Annotated[int, typer.Option(help="Random seed: same seed, same workload.")] = 7,
    end: Annotated[str | None, typer.Option(help="Last day (YYYY-MM-DD, default today).")] = None,
    out_file: Annotated[
        str | None,
        typer.Option("--out", help="Write events to this .jsonl, .csv or .parquet file instead of the store."),
    ] = None,
    if_empty: Annotated[bool, typer.Option(help="Do nothing when the store has events.")] = False,
    db: DbOption = None,
) -> None:
    """Fill the store (or a file) with a deterministic, realistic demo workload."""
    from usagelens.demo import DemoSpec, demo_events
    from usagelens.ingest.export import write_events_file

    try:
        last = date.fromisoformat(end) if end else None
    except ValueError:
        raise InvalidArgument(f"--end: '{end}' is not a date (YYYY-MM-DD)") from None
    spec = DemoSpec(seed=seed, events=events, days=days, end=last)
    if out_file:
        n = write_events_file(demo_events(spec), out_file)
        out.print(f"wrote {n:,} demo events to {out_file}", highlight=False)
        return
    ledger = open_ledger(db)
    try:
        if if_empty and ledger.stats().events:
            out.print("the store already holds events; demo not loaded", highlight=False)
            return
        with _progress("demo") as progress:
            n = load_demo(ledger, spec, progress)
    finally:
        ledger.close()
    out.print(f"loaded {n:,} demo events (seed {seed}, {days} days)", highlight=False)


def _stats_rows(s: StoreStats) -> list[tuple[str, str]]:
    span = f"{s.first_event:%Y-%m-%d %H:%M} → {s.last_event:%Y-%m-%d %H:%M} UTC" if s.events else "—"
    ents = ", ".join(f"{k} {v:,}" for k, v in s.entities.items())
    return [
        ("store", f"{s.backend} {s.location}"),
        ("events", f"{s.events:,}"),
        ("time span", span),
        ("teams", f"{s.teams:,}"),
        ("projects", f"{s.projects:,}"),
        ("users", f"{s.users:,}"),
        ("models", f"{s.models:,}"),
        ("usage types", f"{s.actions:,}"),
        ("API-key events", f"{s.api_key_events:,}"),
        ("total CU", f"{num(s.total_cu):,f}"),  # as every other command prints CU
        ("entities", ents),
    ]


def stats(
    fmt: FormatOption = "text",
    db: DbOption = None,
    url: UrlOption = None,
    key: KeyOption = None,
) -> None:
    """Show what the store holds."""
    text_or_json(fmt)
    remote = remote_from_env(url, key)
    if remote:
        try:
            data = remote.stats()
        finally:
            remote.close()
        fields: dict[str, Any] = {
            k: (datetime.fromisoformat(v[:-1]) if k.endswith("_event") and v else v) for k, v in data.items()
        }
        s = StoreStats(**fields)
    else:
        ledger = open_ledger(db)
        try:
            s = ledger.stats()
        finally:
            ledger.close()
    if fmt == "json":
        out.print_json(json.dumps(dataclasses.asdict(s), default=str))
        return
    table = Table(title="usagelens store", show_header=False)
    for k, v in _stats_rows(s):
        table.add_row(k, v)
    out.print(table)


def register(app: typer.Typer) -> None:
    """Add the store commands to ``app``."""
    app.command()(ingest)
    app.command()(demo)
    app.command()(stats)
