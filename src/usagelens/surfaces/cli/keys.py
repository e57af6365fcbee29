"""``usagelens keys create|list|revoke``: API keys for the REST API and the MCP server."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from usagelens.auth import KeyStore
from usagelens.errors import InvalidArgument
from usagelens.ledger import open_ledger
from usagelens.surfaces.cli.options import DbOption

__all__ = ["register"]

out = Console()
keys = typer.Typer(
    help="Create, list and revoke API keys (secrets are shown once, stored hashed).", no_args_is_help=True
)


def _format(fmt: str) -> str:
    if fmt not in ("text", "json"):
        raise InvalidArgument(f"--format: '{fmt}' is not accepted (accepted: text, json)")
    return fmt


@keys.command()
def create(
    team: Annotated[str | None, typer.Option(help="The team the key belongs to (none for an admin key).")] = None,
    kind: Annotated[
        str,
        typer.Option(
            help="analytics (read the team), project (read one project), ingest (write the team's events) or admin "
            "(the platform: every team, keys, stats)."
        ),
    ] = "analytics",
    project: Annotated[str | None, typer.Option(help="The project of a project key.")] = None,
    label: Annotated[str | None, typer.Option(help="A note to recognise the key by.")] = None,
    fmt: Annotated[str, typer.Option("--format", help="text or json.")] = "text",
    db: DbOption = None,
) -> None:
    """Create a key; its secret is printed once and never again."""
    _format(fmt)
    ledger = open_ledger(db)
    try:
        new = KeyStore(ledger).create(team, kind, project, label)
    finally:
        ledger.close()
    if fmt == "json":
        print(
            json.dumps(
                {"key": new.key, "secret": new.secret, "team": new.team, "kind": new.kind, "project": new.project}
            )
        )
        return
    out.print(
        f"key     {new.key}\nsecret  {new.secret}\nteam    {new.team or 'every team'}\nkind    {new.kind}"
        + (f"\nproject {new.project}" if new.project else ""),
        highlight=False,
    )
    out.print(
        "[dim]The secret is not stored: keep it now. Use it as HTTP Basic key:secret, "
        "'Authorization: Bearer key:secret' or 'X-API-Key: key:secret'.[/]"
    )


@keys.command(name="list")
def list_keys(
    fmt: Annotated[str, typer.Option("--format", help="text or json.")] = "text", db: DbOption = None
) -> None:
    """List keys (never their secrets)."""
    _format(fmt)
    ledger = open_ledger(db)
    try:
        rows = KeyStore(ledger).list()
    finally:
        ledger.close()
    if fmt == "json":
        print(json.dumps(rows, default=str))
        return
    table = Table("key", "team", "kind", "project", "label", "created", "revoked")
    for r in rows:
        table.add_row(
            r["key_id"],
            r["team_id"],
            r["kind"],
            r["project_id"] or "",
            r["label"] or "",
            f"{r['created_at']:%Y-%m-%d %H:%M}",
            f"{r['revoked_at']:%Y-%m-%d %H:%M}" if r["revoked_at"] else "",
        )
    out.print(table)


@keys.command()
def revoke(key: Annotated[str, typer.Argument(help="The key id (ul_…).")], db: DbOption = None) -> None:
    """Revoke a key: it stops working at once."""
    ledger = open_ledger(db)
    try:
        KeyStore(ledger).revoke(key)
    finally:
        ledger.close()
    out.print(f"revoked {key}", highlight=False)


def register(app: typer.Typer) -> None:
    """Add ``keys`` to ``app``."""
    app.add_typer(keys, name="keys")
