"""``python -m usagelens.surfaces`` runs the CLI (used by tests and when no script is installed)."""

from usagelens.surfaces.cli import main

main()
