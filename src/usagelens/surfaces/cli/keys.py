"""``usagelens keys create|list|revoke``: API keys for the REST API and the MCP server.

Each command works on the store (``--db``) or, with ``--url`` (or ``USAGELENS_URL``), on a running
``usagelens serve`` through ``POST/GET /v1/keys`` and ``DELETE /v1/keys/{keyId}`` with an admin key
(``--key`` or ``USAGELENS_KEY``): the same rules, the same text and JSON output either way.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer
from rich.table import Table

from usagelens.auth import KeyStore, NewKey
from usagelens.errors import InvalidArgument
from usagelens.key_admin import CLI_SPELLING, check_key_request, check_known, create_key
from usagelens.ledger import open_ledger
from usagelens.surfaces.cli.console import out
from usagelens.surfaces.cli.options import DbOption, FormatOption, KeyOption, UrlOption, text_or_json
from usagelens.surfaces.cli.remote import remote_from_env

__all__ = ["register"]

keys = typer.Typer(
    help="Create, list and revoke API keys (secrets are shown once, stored hashed).", no_args_is_help=True
)


def _create(
    url: str | None,
    key: str | None,
    db: str | None,
    request: tuple[str, str | None, str | None, str | None],
    allow_unknown: bool,
) -> NewKey:
    """The new key, made by the server named by ``url`` (or ``$USAGELENS_URL``), else in the store."""
    kind, team, project, label = request
    check_key_request(kind, team, project, label, CLI_SPELLING)  # the CLI's own spelling, before any call
    remote = remote_from_env(url, key)
    if remote:
        try:
            return remote.create_key(team, kind, project, label, allow_unknown)
        except InvalidArgument as e:
            if team and e.field in ("teamId", "projectId"):  # the same refusal, in the CLI's words
                check_known(remote, team, project, CLI_SPELLING)
            raise
        finally:
            remote.close()
    ledger = open_ledger(db)
    try:
        return create_key(KeyStore(ledger), ledger, kind, team, project, label, allow_unknown=allow_unknown)
    finally:
        ledger.close()


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
    allow_unknown: Annotated[
        bool,
        typer.Option("--allow-unknown", help="Create the key although the store has never seen the team (or project)."),
    ] = False,
    fmt: FormatOption = "text",
    db: DbOption = None,
    url: UrlOption = None,
    key: KeyOption = None,
) -> None:
    """Create a key; its secret is printed once and never again."""
    text_or_json(fmt)
    new = _create(url, key, db, (kind, team, project, label), allow_unknown)
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


def _records(url: str | None, key: str | None, db: str | None) -> list[dict[str, Any]]:
    """Every key record (``KeyStore.list()``'s shape), from the server or the store."""
    remote = remote_from_env(url, key)
    if remote:
        try:
            return remote.list_keys()
        finally:
            remote.close()
    ledger = open_ledger(db)
    try:
        return KeyStore(ledger).list()
    finally:
        ledger.close()


@keys.command(name="list")
def list_keys(
    fmt: FormatOption = "text",
    db: DbOption = None,
    url: UrlOption = None,
    key: KeyOption = None,
) -> None:
    """List keys (never their secrets)."""
    text_or_json(fmt)
    rows = _records(url, key, db)
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
def revoke(
    key_id: Annotated[str, typer.Argument(metavar="KEY", help="The key id (ul_…).")],
    db: DbOption = None,
    url: UrlOption = None,
    key: KeyOption = None,
) -> None:
    """Revoke a key: it stops working at once."""
    remote = remote_from_env(url, key)
    if remote:
        try:
            remote.revoke_key(key_id)
        finally:
            remote.close()
    else:
        ledger = open_ledger(db)
        try:
            KeyStore(ledger).revoke(key_id)
        finally:
            ledger.close()
    out.print(f"revoked {key_id}", highlight=False)


def register(app: typer.Typer) -> None:
    """Add ``keys`` to ``app``."""
    app.add_typer(keys, name="keys")
