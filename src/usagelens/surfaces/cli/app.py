"""The ``usagelens`` command line: a thin client of the library (Typer + Rich).

Every command is also a function of the library; this module only parses options, renders
results and maps ``UsageError`` to one line on stderr and exit code 2 (never a traceback).

Start-up stays short (``bench/startup_bench.py``): the command modules import at their top only
what declaring their options needs; the engine (DuckDB, pyarrow), the server stacks (FastAPI,
the MCP SDK, uvicorn), httpx and Rich's progress bars load inside the commands that use them, and
option values are converted without pydantic (``coerce.py``). ``tests/test_cli_errors.py`` checks it.
"""

from __future__ import annotations

import sys
from typing import Annotated

import typer
import typer.main
from typer._click.exceptions import NoArgsIsHelpError
from typer._click.exceptions import UsageError as ClickUsageError

from usagelens.errors import InvalidInput, UsageError
from usagelens.surfaces.cli import admin as cli_admin
from usagelens.surfaces.cli import alerts as cli_alerts
from usagelens.surfaces.cli import backup as cli_backup
from usagelens.surfaces.cli import budgets as cli_budgets
from usagelens.surfaces.cli import export as cli_export
from usagelens.surfaces.cli import keys as cli_keys
from usagelens.surfaces.cli import mcp as cli_mcp
from usagelens.surfaces.cli import serve as cli_serve
from usagelens.surfaces.cli import store as cli_store
from usagelens.surfaces.cli import sync as cli_sync
from usagelens.surfaces.cli import teams as cli_teams
from usagelens.surfaces.cli import usage as cli_usage
from usagelens.surfaces.cli import voids as cli_voids
from usagelens.surfaces.cli.coerce import plain_options

__all__ = ["app", "main"]

app = typer.Typer(
    name="usagelens",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
cli_store.register(app)
cli_export.register(app)
cli_usage.register(app)
cli_keys.register(app)
cli_teams.register(app)
cli_mcp.register(app)
cli_serve.register(app)
cli_sync.register(app)
cli_admin.register(app)
cli_voids.register(app)
cli_budgets.register(app)
cli_alerts.register(app)
cli_backup.register(app)


def _print_version(value: bool) -> None:
    if value:
        from usagelens.version import version  # importlib.metadata: only for --version

        print(f"usagelens {version()}")
        raise typer.Exit()


@app.callback()
def _root(
    show_version: Annotated[
        bool,
        typer.Option("--version", callback=_print_version, is_eager=True, help="Print the version and exit."),
    ] = False,
) -> None:
    """A self-hosted usage ledger for generative-AI platforms."""


def main() -> None:
    """Entry point of the ``usagelens`` script: every failure is one line on stderr (``error: …``),
    exit 2 for what the user can fix; help for a bare command group."""
    try:
        code = plain_options(typer.main.get_command(app))(standalone_mode=False, prog_name="usagelens")
    except NoArgsIsHelpError as e:  # a bare group (``usagelens keys``): its help, as click does
        print(e.ctx.get_help() if e.ctx else "", file=sys.stderr)
        sys.exit(2)
    except ClickUsageError as e:  # Typer's parsing: an unknown option, a missing argument, a bad value
        where = f" (see {e.ctx.command_path} --help)" if e.ctx else ""
        print(f"error: {e.format_message()}{where}", file=sys.stderr)
        sys.exit(2)
    except typer.Abort:
        print("interrupted", file=sys.stderr)
        sys.exit(130)
    except UsageError as e:
        print(f"error: {e}", file=sys.stderr)
        if isinstance(e, InvalidInput):
            for p in e.problems:
                print(f"  {p}", file=sys.stderr)
            if e.total > len(e.problems):
                print(f"  … and {e.total - len(e.problems):,} more", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        sys.exit(130)
    except Exception as e:  # a bug, not a usage error: still one line, never a traceback
        first = str(e).strip().splitlines()[0] if str(e).strip() else ""
        print(f"error: internal error ({type(e).__name__}: {first}); please report it", file=sys.stderr)
        sys.exit(1)
    sys.exit(code if isinstance(code, int) else 0)
