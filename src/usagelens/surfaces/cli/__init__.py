"""The ``usagelens`` command line (Typer + Rich): a thin client of the core."""

from usagelens.surfaces.cli.app import app, main

__all__ = ["app", "main"]
