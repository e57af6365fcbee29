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


@pytest.mark.parametrize(("include", "name"), [("modelUsages.daily", "modelId"), ("usages.daily", "usageName")])
def test_daily_series_print_as_a_per_day_table_that_adds_up(store, include, name):
    april = ["--start", "2026-04-01", "--end", "2026-04-30"]
    answer = json.loads(_run("usage", "--team", "team_7_0", *april, "--include", include, "--format", "json",
                             "--db", store).stdout, parse_float=Decimal)  # fmt: skip
    table = _run("usage", "--team", "team_7_0", *april, "--include", include, "--db", store).stdout
    rows = [line.split("│") for line in table.splitlines() if line.startswith("│ 2026-04-")]
    days = {p["time"][:10] for s in answer[include] for p in s["points"]}
    assert [r[1].strip() for r in rows] == sorted(days)
    total = sum((Decimal(r[-2].strip().replace(",", "")) for r in rows), Decimal(0))
    want = sum((Decimal(str(p["cost"])) for s in answer[include] for p in s["points"]), Decimal(0))
    assert total == want and "rows (see --format json)" not in table
