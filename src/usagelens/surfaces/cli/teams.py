"""``usagelens teams``: the teams the store knows, each with its projects and their names.

Reads the store (``--db``, opened read-only) or a running ``usagelens serve`` (``--url`` or
``USAGELENS_URL``, through ``GET /v1/teams``, with ``--key``/``USAGELENS_KEY``: the teams that key
can see). A team or project without a name shows its id, as ``GET /v1/teams`` does, so both
ways print the same.
"""

from __future__ import annotations

import json
from typing import Any

import typer
from rich.table import Table

from usagelens.auth import Caller
from usagelens.ledger import open_ledger
from usagelens.ledger.base import Team
from usagelens.surfaces.cli.console import out
from usagelens.surfaces.cli.options import DbOption, FormatOption, KeyOption, UrlOption, text_or_json
from usagelens.surfaces.cli.remote import remote_from_env

__all__ = ["register", "teams", "teams_json"]


def _load(db: str | None, url: str | None, key: str | None) -> list[Team]:
    remote = remote_from_env(url, key)
    if remote:
        try:
            return remote.teams()
        finally:
            remote.close()
    ledger = open_ledger(db, read_only=True, must_exist=True)
    try:
        return Caller.local().visible_teams(ledger.teams())
    finally:
        ledger.close()


def teams_json(found: list[Team]) -> dict[str, Any]:
    """``{"teams": [{"id", "name", "projects": [{"id", "name"}]}]}``, names defaulting to ids."""
    return {
        "teams": [
            {
                "id": t["id"],
                "name": t["name"] or t["id"],
                "projects": [{"id": p["id"], "name": p["name"] or p["id"]} for p in t["projects"]],
            }
            for t in found
        ]
    }


def teams(
    fmt: FormatOption = "text",
    db: DbOption = None,
    url: UrlOption = None,
    key: KeyOption = None,
) -> None:
    """List the teams with their projects (ids and names)."""
    text_or_json(fmt)
    data = teams_json(_load(db, url, key))
    if fmt == "json":
        print(json.dumps(data, ensure_ascii=False))
        return
    table = Table("team", "name", "project", "project name")
    for t in data["teams"]:
        rows = [(p["id"], p["name"]) for p in t["projects"]] or [("—", "")]
        for i, (project, name) in enumerate(rows):
            table.add_row(t["id"] if i == 0 else "", t["name"] if i == 0 else "", project, name)
    out.print(table)
    if not data["teams"]:
        out.print("no teams yet: ingest events (usagelens ingest FILE) or teams (--entity teams)", highlight=False)


def register(app: typer.Typer) -> None:
    """Add ``teams`` to ``app``."""
    app.command()(teams)
