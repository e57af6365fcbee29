"""Every ``usagelens usage`` example of the README answers something on a fresh demo store (issue
17): the demo ends today, so an example pinned to another month would print zeros."""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest

CLI = [sys.executable, "-m", "usagelens.surfaces"]
README = (Path(__file__).resolve().parents[1] / "README.md").read_text()


def _examples() -> list[str]:
    """The ``usagelens usage`` lines of the README's code blocks (their comments cut), but those
    that read a live Scenario account."""
    out = []
    for block in re.findall(r"```sh\n(.*?)```", README, re.S):
        for line in block.splitlines():
            command = re.split(r"\s{2,}#", line)[0].strip()
            if command.startswith("usagelens usage") and "--source scenario" not in command:
                out.append(command)
    return out


EXAMPLES = _examples()


def _run(*args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("USAGELENS_")}
    return subprocess.run([*CLI, *args], capture_output=True, text=True, env=env, timeout=120)


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> str:
    db = str(tmp_path_factory.mktemp("readme") / "demo.duckdb")
    assert _run("demo", "--events", "30000", "--db", db).returncode == 0  # ends today, like make run's
    return db


def test_the_readme_has_usage_examples():
    assert len(EXAMPLES) >= 6 and any("--month this" in e for e in EXAMPLES)


@pytest.mark.parametrize("example", EXAMPLES)
def test_each_usage_example_answers_something(store, example):
    args = shlex.split(example)[1:]
    done = _run(*args, "--db", store)
    assert done.returncode == 0 and done.stdout.strip(), done.stderr
    as_json = [a for a in args if a not in ("--format", "markdown", "json", "table")]
    answer = json.loads(_run(*as_json, "--format", "json", "--db", store).stdout, parse_float=Decimal)
    assert answer["totals"]["totalCU"] != 0 and answer["consumption"], example
