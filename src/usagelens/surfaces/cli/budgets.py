"""``usagelens budgets set|grant|list|delete`` (CONTRACT §5), on the store or through a running
server (``--url``). ``--key`` names an API-key target here (as the issue's command line has it),
so the credential for ``--url`` comes from ``--auth`` or ``USAGELENS_KEY``."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from typing import Annotated, Any

import typer
from rich.table import Table

from usagelens.auth import Caller
from usagelens.budgets import registry
from usagelens.budgets.wire import budget_json, grant_json
from usagelens.jsonout import dumps
from usagelens.ledger import open_ledger
from usagelens.surfaces.cli.console import out
from usagelens.surfaces.cli.options import DbOption, FormatOption, UrlOption, text_or_json
from usagelens.surfaces.cli.remote import remote_from_env

__all__ = ["register"]

budgets = typer.Typer(help="Budgets (CU per period, alerts) and one-off grants.", no_args_is_help=True)
AuthOption = Annotated[
    str | None,
    typer.Option(
        "--auth",
        envvar="USAGELENS_KEY",
        help="key:secret for --url (an admin key to change budgets).",
        show_default=False,
    ),
]
Team = Annotated[str, typer.Option("--team", help="The team.", show_default=False)]


@budgets.command(name="set")
def set_(
    team: Team,
    cu: Annotated[str, typer.Option("--cu", help="CU allowed per period.", show_default=False)],
    project: Annotated[str | None, typer.Option("--project", help="A project's budget.")] = None,
    user: Annotated[str | None, typer.Option("--user", help="An identity's budget.")] = None,
    key: Annotated[str | None, typer.Option("--key", help="An API key's budget (its identity id).")] = None,
    period: Annotated[str, typer.Option("--period", help="monthly, weekly or Nd (e.g. 30d).")] = "monthly",
    anchor_day: Annotated[
        str | None, typer.Option("--anchor-day", help="monthly: 1-31; weekly: 1 (Mon)-7; Nd: first day YYYY-MM-DD.")
    ] = None,
    timezone: Annotated[str, typer.Option("--timezone", help="IANA zone of the periods.")] = "UTC",
    thresholds: Annotated[
        str, typer.Option("--thresholds", help="Alert thresholds, % of the allowance.")
    ] = "50,80,100",
    webhook: Annotated[str | None, typer.Option("--webhook", help="Where alerts are POSTed (signed).")] = None,
    db: DbOption = None,
    url: UrlOption = None,
    auth: AuthOption = None,
) -> None:
    """Set (create or replace) the budget of a team, a project, a user or an API key."""
    fields = {"teamId": team, "projectId": project, "userId": user, "keyId": key, "cu": cu, "period": period}
    fields |= {"anchorDay": anchor_day, "timezone": timezone, "thresholds": thresholds, "webhook": webhook}
    remote = remote_from_env(url, auth)
    if remote is not None:
        try:
            shown = remote.call("PUT", "/v1/budgets", json={k: v for k, v in fields.items() if v is not None}).json()
        finally:
            remote.close()
    else:
        with open_ledger(db) as led:
            b = registry.set_budget(
                led, Caller.local(), team, target={"projectId": project, "userId": user, "keyId": key}, cu=cu,
                period=period, anchor=anchor_day, timezone=timezone, thresholds=thresholds, webhook=webhook,
            )  # fmt: skip
            shown = json.loads(dumps(budget_json(b)))
    out.print(
        f"budget {shown['id']}: {shown['cu']} CU {shown['period']} ({shown['timezone']}), alerts at "
        + ", ".join(f"{t} %" for t in shown["thresholds"])
        + (f" to {shown['webhook']}" if shown["webhook"] else ""),
        highlight=False,
    )


@budgets.command()
def grant(
    team: Team,
    cu: Annotated[str, typer.Option("--cu", help="CU granted.", show_default=False)],
    expires: Annotated[str, typer.Option("--expires", help="Last usable day + 1 (YYYY-MM-DD).", show_default=False)],
    starts: Annotated[str | None, typer.Option("--starts", help="First usable day (default today).")] = None,
    db: DbOption = None,
    url: UrlOption = None,
    auth: AuthOption = None,
) -> None:
    """Grant a team one-off CU, consumed by its use beyond its budget until it expires."""
    remote = remote_from_env(url, auth)
    if remote is not None:
        body = {"teamId": team, "cu": cu, "expires": expires} | ({"starts": starts} if starts else {})
        try:
            shown = remote.call("POST", "/v1/budgets/grants", json=body).json()
        finally:
            remote.close()
    else:
        with open_ledger(db) as led:
            shown = grant_json(registry.add_grant(led, Caller.local(), team, cu=cu, expires=expires, starts=starts))
    out.print(
        f"grant {shown['id']}: {shown['cu']} CU for {team}, {shown['starts']} to {shown['expires']}", highlight=False
    )


@budgets.command(name="list")
def list_(
    team: Annotated[str | None, typer.Option("--team", help="Only this team's.")] = None,
    fmt: FormatOption = "text",
    db: DbOption = None,
    url: UrlOption = None,
    auth: AuthOption = None,
) -> None:
    """Budgets and grants, each budget with where it stands now (use, remaining, forecast)."""
    text_or_json(fmt)
    remote = remote_from_env(url, auth)
    if remote is not None:
        try:
            params = {"teamId": team} if team else {}
            data = json.loads(remote.call("GET", "/v1/budgets", params=params).text, parse_float=Decimal)
        finally:
            remote.close()
    else:
        with open_ledger(db) as led:
            data = _local_list(led, team)
    if fmt == "json":
        print(dumps(data))
        return
    _print(data)


def _local_list(led: Any, team: str | None) -> dict[str, Any]:
    from usagelens.budgets.block import item  # the use so far: with pyarrow, not for --help
    from usagelens.budgets.status import budget_status

    caller = Caller.local()
    found = registry.budgets(led, caller, team)
    grants = registry.grants(led, caller, team)
    now = datetime.now(UTC).replace(tzinfo=None)
    rows = []
    for b in found:
        mine = [g for g in grants if g.team_id == b.team_id]
        rows.append(budget_json(b) | {"status": item(budget_status(led, b, mine, now))})
    return json.loads(dumps({"budgets": rows, "grants": [grant_json(g) for g in grants]}), parse_float=Decimal)


def _print(data: dict[str, Any]) -> None:
    table = Table("budget", "allowance", "used", "remaining", "period", "forecast", "runs out")
    for b in data["budgets"]:
        s = b["status"]
        period = f"{s['period']['start']} → {s['period']['end']} {s['period']['timezone']}"
        table.add_row(
            b["id"],
            str(b["cu"]),
            str(s["usedCU"]),
            str(s["remainingCU"]),
            period,
            str(s["forecastCU"]),
            s["runsOutOn"] or "—",
        )
    out.print(table if data["budgets"] else "no budgets", highlight=False)
    for g in data["grants"]:
        out.print(f"grant {g['id']}: {g['cu']} CU for {g['teamId']}, {g['starts']} to {g['expires']}", highlight=False)


@budgets.command()
def delete(
    item_id: Annotated[
        str, typer.Argument(metavar="ID", help="A budget id (team, or team/project/P…) or a grant id (g_…).")
    ],
    db: DbOption = None,
    url: UrlOption = None,
    auth: AuthOption = None,
) -> None:
    """Delete a budget or a grant."""
    remote = remote_from_env(url, auth)
    if remote is not None:
        try:
            kind = remote.call("DELETE", "/v1/budgets", params={"id": item_id}).json()["kind"]
        finally:
            remote.close()
    else:
        with open_ledger(db) as led:
            kind = registry.delete(led, Caller.local(), item_id)
    out.print(f"deleted {kind} {item_id}", highlight=False)


def register(app: typer.Typer) -> None:
    """Add ``budgets`` to ``app``."""
    app.add_typer(budgets, name="budgets")
