"""``--include usages.daily`` / ``modelUsages.daily`` in table mode: the series as a per-day table.

One row per day with use (the most recent ``MAX_DAYS``), one column per series for the
``MAX_SERIES`` costliest, the rest summed in an "others" column, and the day's total; amounts
exact, like every table of ``usagelens usage``.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from rich.table import Table

__all__ = ["MAX_DAYS", "MAX_SERIES", "daily_table"]

MAX_DAYS = 31
MAX_SERIES = 4
_ZERO = Decimal(0)


def _cu(v: Decimal) -> str:
    return f"{Decimal(v).normalize():,f}" if v else "·"


def daily_table(title: str, series: list[dict[str, Any]], name: str) -> tuple[Table, str | None]:
    """The table of ``series`` (each ``{name: …, "points": [{"time", "cost", …}]}``) and a note
    when days were left out (None otherwise)."""
    totals = {s[name]: sum((Decimal(str(p["cost"])) for p in s["points"]), _ZERO) for s in series}
    top = sorted(totals, key=lambda k: (-totals[k], str(k)))[:MAX_SERIES]
    by_day: dict[str, dict[str, Decimal]] = {}
    for s in series:
        column = s[name] if s[name] in top else "others"
        for p in s["points"]:
            day = p["time"][:10]
            cells = by_day.setdefault(day, {})
            cells[column] = cells.get(column, _ZERO) + Decimal(str(p["cost"]))
    columns = top + (["others"] if len(totals) > len(top) else [])
    table = Table(title=title, title_justify="left")
    table.add_column("day", no_wrap=True)
    for c in [*columns, "total"]:
        table.add_column(str(c), justify="right", no_wrap=True, overflow="fold")
    days = sorted(by_day)
    shown = days[-MAX_DAYS:]
    for day in shown:
        cells = by_day[day]
        table.add_row(day, *(_cu(cells.get(c, _ZERO)) for c in columns), _cu(sum(cells.values(), _ZERO)))
    note = None
    if len(days) > len(shown):
        note = f"{len(days) - len(shown)} earlier days with use are in --format json"
    return table, note
