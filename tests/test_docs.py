"""The README documents what a user can type: every CLI command and option, every HTTP endpoint,
every ``USAGELENS_*`` variable the code reads. A new one without documentation fails here."""

from __future__ import annotations

import re
from pathlib import Path

import click
import pytest
import typer.main

from usagelens.ledger.duckdb import DuckDBLedger
from usagelens.surfaces.cli.app import app
from usagelens.surfaces.http import create_app

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()


def _commands(group: click.Command, prefix: str = "usagelens") -> list[tuple[str, click.Command]]:
    out = []
    for name, cmd in getattr(group, "commands", {}).items():
        out.append((f"{prefix} {name}", cmd))
        out += _commands(cmd, f"{prefix} {name}")
    return out


COMMANDS = _commands(typer.main.get_command(app))


def test_the_cli_has_commands():
    assert {"usagelens usage", "usagelens serve", "usagelens keys create"} <= {c for c, _ in COMMANDS}


@pytest.mark.parametrize(("name", "command"), COMMANDS, ids=[c for c, _ in COMMANDS])
def test_every_command_and_option_is_in_the_readme(name, command):
    short = name.removeprefix("usagelens ")
    assert f"`{name}" in README or f"`{short}" in README, f"{name} is not documented"
    missing = [
        opt
        for p in command.params
        if isinstance(p, click.Option)
        for opt in p.opts
        if opt.startswith("--") and opt != "--help" and f"`{opt}" not in README and f" {opt}" not in README
    ]
    assert not missing, f"{name}: undocumented options {missing}"


def test_every_endpoint_is_in_the_readme():
    with DuckDBLedger(":memory:") as led:
        paths = create_app(led).openapi()["paths"]
    missing = [p for p in paths if f"`{p}" not in README and f" {p}" not in README and f"{p}`" not in README]
    assert paths and not missing, f"undocumented endpoints: {missing}"


def test_every_variable_the_code_reads_is_in_the_readme():
    names = set()
    for f in (ROOT / "src" / "usagelens").rglob("*.py"):
        names |= set(re.findall(r"USAGELENS_[A-Z_]+[A-Z]", f.read_text()))
    missing = sorted(n for n in names if n not in README)
    assert names and not missing, f"undocumented variables: {missing}"
