"""``usagelens usage``: the usage answer on a terminal (Rich tables), as JSON or as Markdown."""

from __future__ import annotations

import dataclasses
from decimal import Decimal
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from usagelens.auth import Caller
from usagelens.errors import InvalidArgument
from usagelens.ledger import open_ledger
from usagelens.query import UsageArgs
from usagelens.report.rows import top_and_others
from usagelens.service import usage as usage_answer
from usagelens.surfaces.cli.options import DbOption, ScenarioKey, ScenarioSecret, ScenarioUrl, UrlOption
from usagelens.surfaces.cli.remote import remote_from_env

__all__ = ["register", "usage"]

out = Console()


def _cell(v: Any) -> str:
    if v is None:
        return "—"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, Decimal):
        return f"{v:,f}"
    return f"{v:,}" if isinstance(v, int) else str(v)


def _table(title: str, rows: list[dict[str, Any]], cols: list[tuple[str, str]], note: Any = None) -> Table:
    """The top rows and, when there are more, an "N others" row with their sums."""
    t = Table(title=title, title_justify="left")
    for _, header in cols:
        t.add_column(header, justify="right" if header in ("CU", "jobs", "count", "discount", "total") else "left")
    shown, others = top_and_others(rows, note)
    for r in shown:
        t.add_row(*(_cell(r.get(k)) for k, _ in cols))
    if others is not None:
        t.add_row(f"{others['others']:,} others", *(_cell(others[k]) if k in others else "" for k, _ in cols[1:]))
    return t


#: The tables printed: (answer key, title, (row key, column header) …).
_TABLES: tuple[tuple[str, str, list[tuple[str, str]]], ...] = (
    (
        "consumption",
        "Top consumers",
        [
            ("userId", "user"),
            ("name", "name"),
            ("isApiKey", "API key"),
            ("value", "CU"),
            ("discount", "discount"),
            ("total", "total"),
        ],
    ),
    (
        "modelUsages",
        "Top models",
        [
            ("modelId", "model"),
            ("modelName", "name"),
            ("totalCU", "CU"),
            ("totalJobs", "jobs"),
            ("totalApiKeyCU", "API-key CU"),
        ],
    ),
    ("assetUsages", "Assets by kind", [("kind", "kind"), ("count", "count"), ("countApiKey", "API key")]),
    ("usages", "Usage types", [("usageName", "type"), ("count", "count"), ("cu", "CU"), ("discount", "discount")]),
    (
        "activity",
        "Activity",
        [
            ("time", "time"),
            ("userId", "user"),
            ("action", "action"),
            ("creativeUnitsCost", "CU"),
            ("modelId", "model"),
        ],
    ),
)


def _print(d: dict[str, Any]) -> None:
    t, s = d["totals"], d["scope"]
    prev = t["previousPeriod"]
    change = f" ({prev['changePct']:+}% vs previous period)" if prev["changePct"] is not None else ""
    out.print(
        f"[bold]Usage {t['startDate']} → {t['endDate']}[/] ({t['window']['timezone']}) · team "
        f"{s['teamId']}" + (f" · projects {', '.join(s['projectIds'])}" if s["projectIds"] else "")
    )
    out.print(
        f"[bold]{_cell(t['totalCU'])} CU[/] charged{change} · {_cell(t['totalDiscountCU'])} discount · "
        f"{_cell(t['jobs'])} jobs · {_cell(t['assets'])} assets · {_cell(t['users'])} users · "
        f"{_cell(t['models'])} models"
    )
    for key, title, cols in _TABLES:
        if key in d:
            out.print(_table(title, d[key], cols, d["sections"].get(key)))
    for key in ("usages.daily", "modelUsages.daily", "nsfwUsages", "entities"):
        if key in d:
            out.print(f"[dim]{key}: {len(d[key])} rows (see --format json)[/]")
    out.print(f"[italic]{d['_hint']}[/]")


def usage(
    team: Annotated[str | None, typer.Option(help="Team id (required when the store has several).")] = None,
    project: Annotated[str | None, typer.Option(help="Context project: alone, it filters to it.")] = None,
    scope: Annotated[str | None, typer.Option(help="project or team.")] = None,
    projects: Annotated[str | None, typer.Option(help="Comma-separated project ids to filter.")] = None,
    users: Annotated[str | None, typer.Option(help="Comma-separated user ids to filter.")] = None,
    start: Annotated[str | None, typer.Option(help="Start date (YYYY-MM-DD or ISO date-time).")] = None,
    end: Annotated[str | None, typer.Option(help="End date, inclusive (default today).")] = None,
    timezone: Annotated[str, typer.Option(help="IANA timezone for dates and days.")] = "UTC",
    include: Annotated[list[str] | None, typer.Option(help="Section to expand (repeatable).")] = None,
    activity_offset: Annotated[int | None, typer.Option(help="Activity page offset (0, 100, …).")] = None,
    fmt: Annotated[str, typer.Option("--format", help="table, json or markdown.")] = "table",
    db: DbOption = None,
    url: UrlOption = None,
    source: Annotated[
        str, typer.Option(help="local (the store, or --url) or scenario (a live Scenario account).")
    ] = "local",
    scenario_url: ScenarioUrl = None,
    scenario_key: ScenarioKey = None,
    scenario_secret: ScenarioSecret = None,
) -> None:
    """Usage for a date range: totals, top consumers, top models, assets (the MCP tool's answer)."""
    if fmt not in ("table", "json", "markdown"):
        raise InvalidArgument(f"--format: '{fmt}' is not accepted (accepted: table, json, markdown)")
    if source not in ("local", "scenario"):
        raise InvalidArgument(f"--source: '{source}' is not accepted (accepted: local, scenario)")
    args = UsageArgs(
        team_id=team,
        project_id=project,
        scope=scope,
        project_ids=[p for p in projects.split(",") if p] if projects else None,
        user_ids=[u for u in users.split(",") if u] if users else None,
        start_date=start,
        end_date=end,
        timezone=timezone,
        include=list(include or []),
        activity_offset=activity_offset,
        response_format="markdown" if fmt == "markdown" else "json",
    )
    remote = remote_from_env(url) if source == "local" else None
    if source == "scenario":
        from usagelens.sources.scenario import open_scenario  # the SDK takes ~1 s to import

        live = open_scenario(scenario_url, scenario_key, scenario_secret)
        try:
            answer = usage_answer(live, Caller.local(), args)
        finally:
            live.close()
        data, text = answer.data, answer.text
    elif remote:
        try:
            data, text = remote.usage(dataclasses.asdict(args))
        finally:
            remote.close()
    else:
        ledger = open_ledger(db, read_only=False)
        try:
            answer = usage_answer(ledger, Caller.local(), args)
        finally:
            ledger.close()
        data, text = answer.data, answer.text
    if fmt == "table" and data is not None:
        _print(data)
    else:
        print(text)


def register(app: typer.Typer) -> None:
    """Add ``usage`` to ``app``."""
    app.command()(usage)
