"""``usagelens sync scenario``: copy a live Scenario account into the local store."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Annotated

import typer

from usagelens.ledger import open_ledger
from usagelens.surfaces.cli.console import err, out
from usagelens.surfaces.cli.options import DbOption, ScenarioKey, ScenarioSecret, ScenarioUrl

__all__ = ["register", "scenario"]

sync_app = typer.Typer(help="Copy usage from another system into the local store.", no_args_is_help=True)


@contextmanager
def _progress() -> Iterator[Callable[[str, int, int], None] | None]:
    """A Rich progress bar on a terminal (nothing otherwise)."""
    if not err.is_terminal:
        yield None
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    with Progress(*columns, console=err, transient=True) as bar:
        task = bar.add_task("sync scenario", total=None)

        def update(team: str, done: int, total: int) -> None:
            bar.update(task, description=f"sync scenario {team}", completed=done, total=total)

        yield update


@sync_app.command("scenario")
def scenario(
    since: Annotated[str, typer.Option(help="First day to copy (YYYY-MM-DD or ISO date-time, UTC).")],
    until: Annotated[
        str | None, typer.Option(help="Last day to copy, included (or an exclusive ISO date-time); default now.")
    ] = None,
    team: Annotated[
        list[str] | None, typer.Option(help="Team id to copy (repeatable; default every team the key sees).")
    ] = None,
    db: DbOption = None,
    scenario_url: ScenarioUrl = None,
    scenario_key: ScenarioKey = None,
    scenario_secret: ScenarioSecret = None,
) -> None:
    """Copy a Scenario account's activity (and the entities it names) into the store: incremental,
    idempotent, one atomic write per window."""
    from usagelens.sources.scenario import open_scenario  # the SDK takes ~1 s to import
    from usagelens.sources.scenario.sync import parse_bound, sync_scenario

    start = parse_bound(since, "--since")
    end = parse_bound(until, "--until", end=True) if until else None
    source = open_scenario(scenario_url, scenario_key, scenario_secret)
    try:
        ledger = open_ledger(db)
        try:
            with _progress() as progress:
                report = sync_scenario(ledger, source, start, end, teams=team, progress=progress)
        finally:
            ledger.close()
    finally:
        source.close()
    out.print(report.line(), highlight=False)


def register(app: typer.Typer) -> None:
    """Add ``sync`` (with ``sync scenario``) to ``app``."""
    app.add_typer(sync_app, name="sync")
