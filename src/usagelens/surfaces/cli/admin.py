"""Store administration commands: ``init`` (create a store's schema) and ``migrate`` (copy a store)."""

from __future__ import annotations

from typing import Annotated

import typer

from usagelens.ledger import open_ledger
from usagelens.surfaces.cli.console import err, out
from usagelens.surfaces.cli.options import DbOption

__all__ = ["register"]


def init(
    db: DbOption = None,
    cluster: Annotated[
        str | None,
        typer.Option(help="ClickHouse only: create Replicated tables ON CLUSTER this name (a multi-node deployment)."),
    ] = None,
) -> None:
    """Create the store's schema (a ClickHouse database or a DuckDB file); existing stores are left as they are."""
    with open_ledger(db, cluster=cluster) as ledger:
        s = ledger.stats()
    out.print(f"store ready: {s.backend} {s.location} ({s.events:,} events)", highlight=False)


def migrate(
    source: Annotated[str, typer.Option("--from", help="The store to copy (a path or store URL).")],
    target: Annotated[
        str, typer.Option("--to", help="The store to copy into, e.g. clickhouse://user:pass@host/usage.")
    ],
) -> None:
    """Copy a store (events, voids, entities, keys, sync state) into another, then compare their answers.

    Idempotent and resumable: run it again after an interruption and it goes on from the last month copied."""
    from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeRemainingColumn

    from usagelens.migrate import compare, copy_store

    with open_ledger(source, must_exist=True) as src, open_ledger(target) as dst:
        if err.is_terminal:
            columns = (TextColumn("{task.description}"), BarColumn(), TaskProgressColumn(), TimeRemainingColumn())
            with Progress(*columns, console=err, transient=True) as bar:
                task = bar.add_task("copying", total=None)
                result = copy_store(
                    src, dst, lambda what, done, total: bar.update(task, description=what, completed=done, total=total)
                )
        else:
            result = copy_store(src, dst)
        skipped = f" ({len(result.skipped_months)} months already copied)" if result.skipped_months else ""
        out.print(
            f"copied {result.events:,} events ({result.written:,} new){skipped}, {result.entities:,} entity rows, "
            f"{result.keys:,} keys, {result.voids:,} voids",
            highlight=False,
        )
        diffs = compare(src, dst)
    if diffs:
        for d in diffs:
            err.print(f"differs: {d}", highlight=False)
        raise typer.Exit(1)
    out.print("compared: both stores give the same answers", highlight=False)


def register(app: typer.Typer) -> None:
    """Add the administration commands to ``app``."""
    app.command()(init)
    app.command()(migrate)
