"""The consoles every command prints through: stdout for results, stderr for progress and notes.

Piped or redirected (not a terminal, no ``COLUMNS``), Rich would assume 80 columns and cut table
cells, numbers included; here output then gets the width it needs (tables are never expanded to
it), so an exact CU amount reaches the pipe whole.
"""

from __future__ import annotations

import os
import sys

from rich.console import Console

__all__ = ["err", "out"]

#: Width given to output that is not a terminal: wide enough that no table cell is cut.
PIPE_WIDTH = 1_000


def _console(stream_is_terminal: bool, stderr: bool = False) -> Console:
    width = None if stream_is_terminal or os.environ.get("COLUMNS") else PIPE_WIDTH
    return Console(stderr=stderr, width=width)


out = _console(sys.stdout.isatty())
err = _console(sys.stderr.isatty(), stderr=True)
