"""The options several ``usagelens`` commands share: one declaration each, imported by every
command that takes it (commands never import each other)."""

from __future__ import annotations

from typing import Annotated

import typer

from usagelens.errors import InvalidArgument

__all__ = [
    "DbOption",
    "FormatOption",
    "KeyOption",
    "ScenarioKey",
    "ScenarioSecret",
    "ScenarioUrl",
    "UrlOption",
    "text_or_json",
]

UrlOption = Annotated[
    str | None,
    typer.Option(
        "--url",
        envvar="USAGELENS_URL",
        help="Talk to a running usagelens serve at this URL (key in USAGELENS_KEY=key:secret).",
    ),
]
KeyOption = Annotated[
    str | None,
    typer.Option(
        "--key",
        envvar="USAGELENS_KEY",
        help="The key:secret to give the server named by --url (an admin key for keys, stats, void, export).",
        show_default=False,
    ),
]
DbOption = Annotated[
    str | None,
    typer.Option(
        "--db",
        help="The store: a DuckDB file path or duckdb:///path, or clickhouse://user:pass@host:8123/db, "
        "clickhouses://… (HTTPS), chdb:///dir (default $USAGELENS_DB, else ./usagelens.duckdb).",
        show_default=False,
    ),
]
ScenarioUrl = Annotated[
    str | None,
    typer.Option(
        "--scenario-url",
        help="Scenario API base URL (default $SCENARIO_BASE_URL, else https://api.cloud.scenario.com/v1).",
    ),
]
ScenarioKey = Annotated[
    str | None,
    typer.Option("--scenario-key", help="Scenario API key (default $SCENARIO_SDK_API_KEY).", show_default=False),
]
ScenarioSecret = Annotated[
    str | None,
    typer.Option(
        "--scenario-secret",
        help="Scenario API secret (default $SCENARIO_SDK_API_SECRET; prefer the variable).",
        show_default=False,
    ),
]
FormatOption = Annotated[str, typer.Option("--format", help="text or json.")]


def text_or_json(fmt: str) -> str:
    """``fmt`` when it is ``text`` or ``json``; else the one-line error naming ``--format``."""
    if fmt not in ("text", "json"):
        raise InvalidArgument(f"--format: '{fmt}' is not accepted (accepted: text, json)")
    return fmt
