"""``usagelens alerts list|secret`` (CONTRACT §5): budget threshold crossings with their webhook
delivery state, and the secret webhooks are signed with; on the store or through a running server
(``--url``)."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer
from rich.table import Table

from usagelens.auth import Caller
from usagelens.jsonout import dumps
from usagelens.ledger import open_ledger
from usagelens.surfaces.cli.console import out
from usagelens.surfaces.cli.options import DbOption, FormatOption, KeyOption, UrlOption, text_or_json
from usagelens.surfaces.cli.remote import remote_from_env

__all__ = ["register"]

alerts = typer.Typer(help="Budget alerts and their webhook delivery.", no_args_is_help=True)


@alerts.command(name="list")
def list_(
    team: Annotated[str | None, typer.Option("--team", help="Only this team's alerts.")] = None,
    fmt: FormatOption = "text",
    db: DbOption = None,
    url: UrlOption = None,
    key: KeyOption = None,
) -> None:
    """List budget alerts, newest first, with their delivery state (pending, delivered, failed,
    no_webhook), attempts and last error."""
    from usagelens.budgets.delivery import alerts_view  # with httpx, for the webhooks

    text_or_json(fmt)
    remote = remote_from_env(url, key)
    rows: list[dict[str, Any]]
    if remote is not None:
        try:
            params = {"teamId": team} if team else {}
            rows = json.loads(remote.call("GET", "/v1/alerts", params=params).text)["alerts"]
        finally:
            remote.close()
    else:
        with open_ledger(db, must_exist=True) as led:
            rows = alerts_view(led, Caller.local(), team)
    if fmt == "json":
        print(dumps(rows))
        return
    table = Table("crossed at", "alert", "scope", "used / allowance CU", "delivery", "attempts", "last error")
    for a in rows:
        d = a["delivery"]
        scope = a["scope"] if a.get("target") is None else f"{a['scope']} {a['target']}"
        state = d["state"] + (f" (next {d['nextAt']})" if d["state"] == "pending" and d["attempts"] else "")
        table.add_row(
            a["crossedAt"], a["id"], scope, f"{a['usedCU']} / {a['allowanceCU']}", state, str(d["attempts"]),
            d["lastError"] or "",
        )  # fmt: skip
    out.print(table if rows else "no alerts", highlight=False)


@alerts.command()
def secret(db: DbOption = None, url: UrlOption = None, key: KeyOption = None) -> None:
    """Print the secret webhooks are signed with (created on first use; needs an admin key with --url)."""
    remote = remote_from_env(url, key)
    if remote is not None:
        try:
            value = remote.call("GET", "/v1/alerts/secret").json()["secret"]
        finally:
            remote.close()
    else:
        from usagelens.budgets.delivery import signing_secret

        with open_ledger(db, must_exist=True) as led:
            value = signing_secret(led, Caller.local())
    print(value)


def register(app: typer.Typer) -> None:
    """Add ``alerts`` to ``app``."""
    app.add_typer(alerts, name="alerts")
