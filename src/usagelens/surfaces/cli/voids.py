"""Corrections: ``usagelens void`` (void events by id, with replacements) and ``usagelens audit``
(the trail of voids), on the store or through a running server (``--url``)."""

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


def void(
    ids: Annotated[
        list[str], typer.Argument(help="Ids of the events to void (activity lists them).", show_default=False)
    ],
    team: Annotated[str, typer.Option("--team", help="The team whose events these are.", show_default=False)],
    reason: Annotated[str, typer.Option("--reason", help="Why (kept in the audit trail).", show_default=False)],
    replacements: Annotated[
        str | None,
        typer.Option(
            "--replacements", help="Events (JSONL, CSV or Parquet) written in the same transaction as the void."
        ),
    ] = None,
    db: DbOption = None,
    url: UrlOption = None,
    key: KeyOption = None,
) -> None:
    """Void events by id (CONTRACT §1): answers leave them out, the audit trail keeps them, their
    ids stay taken; with --replacements, the corrected events are written in the same transaction."""
    from usagelens import corrections
    from usagelens.budgets.watch import Watched
    from usagelens.ingest.pipeline import read_valid

    table = read_valid(replacements)[0] if replacements else None
    remote = remote_from_env(url, key)
    if remote is not None:
        try:
            result = remote.void_events(team, ids, reason=reason, by="", replacements=table)
        finally:
            remote.close()
    else:
        ledger = open_ledger(db)
        try:
            result = corrections.void(Watched(ledger), Caller.local(), team, ids, reason, table)
        finally:
            ledger.close()
    parts = [f"voided {len(result.voided):,}"]
    if result.already_voided:
        parts.append(f"already voided {len(result.already_voided):,} ({', '.join(result.already_voided[:5])})")
    if table is not None:
        r = result.replacements
        parts.append(f"replacements written {r.written:,}, duplicates {r.duplicates:,}")
    out.print("; ".join(parts), highlight=False)


def audit(
    team: Annotated[str | None, typer.Option("--team", help="Only this team's voids.")] = None,
    fmt: FormatOption = "text",
    db: DbOption = None,
    url: UrlOption = None,
    key: KeyOption = None,
) -> None:
    """List voids, oldest first: the event, when, by whom (key id or local) and why."""
    from usagelens import corrections

    text_or_json(fmt)
    remote = remote_from_env(url, key)
    rows: list[dict[str, Any]] = []
    if remote is not None:
        try:
            offset: int | None = 0
            while offset is not None:
                params: dict[str, Any] = {"offset": offset, "limit": 10_000} | ({"teamId": team} if team else {})
                page = json.loads(remote.call("GET", "/v1/usage-events/voids", params=params).text)
                rows += page["voids"]
                offset = page["nextOffset"]
        finally:
            remote.close()
    else:
        ledger = open_ledger(db, read_only=False)
        try:
            rows = corrections.void_rows(corrections.audit(ledger, Caller.local(), team))
        finally:
            ledger.close()
    if fmt == "json":
        print(dumps(rows))
        return
    table = Table("voided at", "by", "team", "id", "time", "CU", "reason")
    for r in rows:
        table.add_row(
            r["voidedAt"], r["voidedBy"], r["teamId"], r["id"], r["time"], str(r["creativeUnitsCost"]), r["reason"]
        )
    out.print(table if rows else "no voids", highlight=False)


def register(app: typer.Typer) -> None:
    """Add ``void`` and ``audit`` to ``app``."""
    app.command()(void)
    app.command()(audit)
