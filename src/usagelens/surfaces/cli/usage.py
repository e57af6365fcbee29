"""``usagelens usage``: the usage answer on a terminal (Rich tables), as JSON or as Markdown.

Its options are the ``usage`` arguments as ``query.ARGUMENTS`` declares them (flag, help), plus
where to read (``--db``, ``--url``, ``--source`` …); ``--format`` adds ``table``, the default.
"""

from __future__ import annotations

import dataclasses
import re
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Annotated, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import typer
from rich.table import Table

from usagelens.auth import Caller
from usagelens.errors import InvalidArgument, UsageError
from usagelens.ledger import open_ledger
from usagelens.query import ARGUMENTS, Argument, UsageArgs
from usagelens.query_parse import split
from usagelens.surfaces.cli.console import out
from usagelens.surfaces.cli.daily import daily_table
from usagelens.surfaces.cli.options import DbOption, KeyOption, ScenarioKey, ScenarioSecret, ScenarioUrl, UrlOption
from usagelens.surfaces.cli.remote import remote_from_env
from usagelens.surfaces.signature import with_arguments

__all__ = ["register", "usage"]


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
    from usagelens.report.rows import top_and_others

    t = Table(title=title, title_justify="left")
    shown, others = top_and_others(rows, note)
    cells = [[_cell(r.get(k)) for k, _ in cols] for r in shown]
    if others is not None:
        cells.append([f"{others['others']:,} others", *(_cell(others[k]) if k in others else "" for k, _ in cols[1:])])
    for i, (_, header) in enumerate(cols):
        width = max([len(header), *(len(c[i]) for c in cells)])
        if header in _NUMERIC:  # never cut a number: narrower terminals wrap the text columns
            t.add_column(header, justify="right", no_wrap=True, min_width=width)
        elif i == 0:  # the id: whole, on one line
            t.add_column(header, no_wrap=True, min_width=width)
        else:  # names fold onto more lines rather than lose letters
            t.add_column(header, overflow="fold")
    for row in cells:
        t.add_row(*row)
    return t


#: Columns holding numbers: right-aligned, never wrapped or cut.
_NUMERIC = frozenset({"CU", "jobs", "count", "discount", "total", "API-key CU", "API key count"})


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
    if prev.get("partial"):
        change += f" (previous period has data from {prev['dataFrom'][:10]} only)"
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
            out.print(_table(title, d[key], cols, d["sections"].get(key)), crop=False)  # never cut a digit
    for key, name, title in (
        ("usages.daily", "usageName", "CU per day and usage type"),
        ("modelUsages.daily", "modelId", "CU per day and model"),
    ):
        if key in d:
            table, note = daily_table(title, d[key], name)
            out.print(table, crop=False)
            if note:
                out.print(f"[dim]{note}[/]")
    for key in ("nsfwUsages", "entities"):
        if key in d:
            out.print(f"[dim]{key}: {len(d[key])} rows (see --format json)[/]")
    out.print(f"[italic]{to_flags(d['_hint'])}[/]", highlight=False)


#: ``--format``: the answer's formats and the terminal's tables (the default).
_FORMATS = ("table", "json", "markdown")


def _option(arg: Argument) -> tuple[Any, Any]:
    """The option of a declared argument: its flag and help; a list option may be repeated or
    comma-separated. ``--format`` is the CLI's own (``table``, ``json`` or ``markdown``)."""
    if arg.name == "response_format":
        return Annotated[str, typer.Option(arg.flag, help="table, json or markdown.")], _FORMATS[0]
    if arg.is_list:
        described = f"{arg.help} Repeatable, or comma-separated" + (
            f": {', '.join(arg.choices)}." if arg.choices else "."
        )
        return Annotated[list[str] | None, typer.Option(arg.flag, help=described)], None
    return Annotated[arg.type | None, typer.Option(arg.flag, help=arg.help)], None


def _args(arguments: dict[str, Any]) -> UsageArgs:
    """The ``usage`` arguments as the options gave them (``--format`` must be one of ``_FORMATS``)."""
    fmt = arguments["response_format"]
    if fmt not in _FORMATS:
        raise InvalidArgument(f"--format: '{fmt}' is not accepted (accepted: {', '.join(_FORMATS)})")
    lists = {a.name: split(arguments[a.name]) for a in ARGUMENTS if a.is_list}
    fmt = "markdown" if fmt == "markdown" else "json"
    return UsageArgs(**{**arguments, **lists, "include": lists["include"] or [], "response_format": fmt})


def _answer(
    args: UsageArgs, source: str, db: str | None, remote_at: tuple[str | None, str | None], scenario: tuple
) -> tuple[Any, str]:
    """The answer's data (None for Markdown from a server) and text, from ``source``."""
    from usagelens.service import usage as usage_answer  # the engine (DuckDB, pyarrow): not for --help

    if source == "scenario":
        from usagelens.sources.scenario import open_scenario  # the SDK takes ~1 s to import

        live = open_scenario(*scenario)
        try:
            answer = usage_answer(live, Caller.local(), args)
        finally:
            live.close()
        return answer.data, answer.text
    remote = remote_from_env(*remote_at)
    if remote:
        try:
            return remote.usage(dataclasses.asdict(args))
        finally:
            remote.close()
    ledger = open_ledger(db, read_only=False)
    try:
        answer = usage_answer(ledger, Caller.local(), args)
    finally:
        ledger.close()
    return answer.data, answer.text


_FLAGS = {a.name: a.flag for a in ARGUMENTS if a.name != "response_format"}
_NAMES = re.compile(r"(?<![-\w])(" + "|".join(sorted(map(re.escape, _FLAGS), key=len, reverse=True)) + r")\b")


def to_flags(text: str) -> str:
    """A hint or an error of the answer in the CLI's words: ``include=['x']`` → ``--include x``,
    ``activity_offset=200`` → ``--activity-offset 200``, ``start_date`` → ``--start`` …"""
    text = re.sub(r"include=\['([^']+)'\]", r"--include \1", text)
    text = re.sub(r"\b(\w+)=(\d+)", lambda m: f"{_FLAGS.get(m.group(1), m.group(1))} {m.group(2)}", text)
    return _NAMES.sub(lambda m: _FLAGS[m.group(1)], text)


def month_window(month: str, timezone: str | None, now: datetime | None = None) -> tuple[str, str]:
    """``--month``: ``this``, ``last`` or ``YYYY-MM`` as inclusive start and end dates (the month's
    first and last day; ``this`` ends today), in ``timezone`` (default UTC)."""
    try:
        zone = ZoneInfo(timezone or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        zone = ZoneInfo("UTC")  # the answer itself names the bad --timezone
    today = (now or datetime.now(UTC)).astimezone(zone).date()
    if month == "this":
        return today.replace(day=1).isoformat(), today.isoformat()
    if month == "last":
        last = today.replace(day=1) - timedelta(days=1)
        return last.replace(day=1).isoformat(), last.isoformat()
    try:
        first = date.fromisoformat(f"{month}-01")
    except ValueError:
        raise InvalidArgument(f"--month: '{month}' is not accepted; use this, last or YYYY-MM (e.g. 2026-04)") from None
    after = (first.replace(day=28) + timedelta(days=4)).replace(day=1)
    return first.isoformat(), (after - timedelta(days=1)).isoformat()


@with_arguments(_option)
def usage(
    month: Annotated[
        str | None,
        typer.Option("--month", help="this, last or YYYY-MM: the month's first to last day (this: to today)."),
    ] = None,
    db: DbOption = None,
    url: UrlOption = None,
    key: KeyOption = None,
    source: Annotated[
        str, typer.Option(help="local (the store, or --url) or scenario (a live Scenario account).")
    ] = "local",
    scenario_url: ScenarioUrl = None,
    scenario_key: ScenarioKey = None,
    scenario_secret: ScenarioSecret = None,
    **arguments: Any,
) -> None:
    """Usage for a date range: totals, top consumers, top models, assets (the MCP tool's answer)."""
    if month is not None:
        if arguments["start_date"] is not None or arguments["end_date"] is not None:
            raise InvalidArgument("--month: give either --month or --start/--end, not both")
        arguments["start_date"], arguments["end_date"] = month_window(month, arguments["timezone"])
    args = _args(arguments)
    if source not in ("local", "scenario"):
        raise InvalidArgument(f"--source: '{source}' is not accepted (accepted: local, scenario)")
    try:
        data, text = _answer(args, source, db, (url, key), (scenario_url, scenario_key, scenario_secret))
    except UsageError as e:  # the answer's sentence names the argument; here, the flag as typed
        e.message = to_flags(e.message)
        raise
    if arguments["response_format"] == "table" and data is not None:
        _print(data)
    else:
        print(text)


def register(app: typer.Typer) -> None:
    """Add ``usage`` to ``app``."""
    app.command()(usage)
