"""Tables keep every digit: piped (Rich would otherwise assume 80 columns and cut cells) and on an
80-column terminal, each exact amount of the JSON answer appears whole in the table (issue 17)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from decimal import Decimal

import pytest

CLI = [sys.executable, "-m", "usagelens.surfaces"]
WINDOW = ["--start", "2026-03-01", "--end", "2026-04-30"]


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> str:
    db = str(tmp_path_factory.mktemp("pipe") / "d.duckdb")
    done = _run("demo", "--events", "20000", "--end", "2026-04-30", "--db", db)
    assert done.returncode == 0, done.stderr
    return db


def _run(*args: str, columns: str | None = None) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("USAGELENS_") and k != "COLUMNS"}
    if columns:
        env["COLUMNS"] = columns
    return subprocess.run([*CLI, *args], capture_output=True, text=True, env=env, timeout=120)


@pytest.mark.parametrize("columns", [None, "80", "50"])
def test_every_amount_reaches_the_table_whole(store, columns):
    answer = json.loads(_run("usage", "--team", "team_7_0", *WINDOW, "--format", "json", "--db", store).stdout,
                        parse_float=Decimal)  # fmt: skip
    table = _run("usage", "--team", "team_7_0", *WINDOW, "--db", store, columns=columns).stdout
    if columns == "80":
        assert max(len(line) for line in table.splitlines()) <= 80
    amounts = [answer["totals"]["totalCU"]]
    amounts += [c[k] for c in answer["consumption"][:10] for k in ("value", "discount", "total")]
    amounts += [m[k] for m in answer["modelUsages"][:10] for k in ("totalCU", "totalApiKeyCU")]
    missing = [a for a in amounts if f"{a:,}" not in table]
    assert amounts and not missing, missing
    if columns != "50":  # narrower than the numbers: names may lose letters, never a number its digits
        assert "…" not in table
