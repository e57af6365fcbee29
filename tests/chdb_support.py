"""One chDB directory per test process (chDB runs one engine per process), a database per store.

``chdb_url()`` names a new, empty ClickHouse store on the process's chDB engine; every test that
opens a chDB store in-process takes its URL from here.
"""

from __future__ import annotations

import atexit
import itertools
import shutil
import tempfile

__all__ = ["CHDB_DIR", "chdb_url"]

CHDB_DIR = tempfile.mkdtemp(prefix="usagelens-chdb-")
atexit.register(shutil.rmtree, CHDB_DIR, ignore_errors=True)
_NUMBERS = itertools.count(1)


def chdb_url(name: str = "store") -> str:
    """The URL of a new, empty store (its own database) on this process's chDB engine."""
    return f"chdb:///{CHDB_DIR}?database={name}_{next(_NUMBERS)}"
