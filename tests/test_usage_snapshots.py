"""Snapshots of the JSON and Markdown answers for a small fixed dataset.

Regenerate after an intended change with ``UPDATE_SNAPSHOTS=1 make test`` and review the diff.
"""

from __future__ import annotations

import os
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pytest

from conftest import event, table
from usagelens.auth import Caller
from usagelens.jsonout import dumps
from usagelens.query import UsageArgs
from usagelens.service import list_teams, usage

HERE = Path(__file__).parent / "snapshots"
NOW = datetime(2026, 4, 30, 18)
ACTIONS = ["images-generation", "upscale", "models-training", "refunds", "custom"]
KINDS = ["image", "image", None, None, "json"]


@pytest.fixture
def fixed(ledger):
    rows = []
    for i in range(60):
        a = i % 5
        rows.append(
            event(
                i,
                datetime(2026, 4, 1, 9) + timedelta(hours=11 * i),
                team_id="team_a",
                project_id=f"proj_{i % 2 + 1}",
                user_id=["ana", "ben", "ci-key"][i % 3],
                is_api_key=i % 3 == 2,
                action=ACTIONS[a],
                cu=Decimal(-3 if a == 3 else (i % 7) + 1) + Decimal("0.25") * (i % 4),
                discount=Decimal("0.5") if i % 6 == 0 else Decimal(0),
                model_id=None if a in (1, 3) else f"m{i % 4}",
                asset_kind=KINDS[a],
                asset_id=f"a{i}" if KINDS[a] else None,
                nsfw=["gore"] if i == 7 else None,
            )
        )
    ledger.write_events(table(rows))
    ledger.upsert_entities("teams", pa.table({"id": ["team_a"], "name": ["Aurora"]}))
    ledger.upsert_entities(
        "users",
        pa.table(
            {
                "id": ["ana", "ben", "ci-key"],
                "full_name": ["Ana Li", "Ben Ode", "CI"],
                "email": ["ana@x.io", None, None],
                "is_api_key": [False, False, True],
            }
        ),
    )
    ledger.upsert_entities(
        "models",
        pa.table(
            {
                "id": [f"m{i}" for i in range(4)],
                "name": ["Neon", "Ink", "Clay", "Noir"],
                "short_description": [None] * 4,
            }
        ),
    )
    return ledger


CASES = {
    "default": UsageArgs(start_date="2026-04-01", end_date="2026-04-30"),
    "expanded": UsageArgs(
        start_date="2026-04-01",
        end_date="2026-04-30",
        timezone="Asia/Kolkata",
        include=["usages", "usages.daily", "modelUsages.daily", "nsfwUsages", "activity", "entities"],
    ),
    "project": UsageArgs(project_id="proj_2", start_date="2026-04-10", end_date="2026-04-20", user_ids=["ana"]),
}


def _check(name: str, text: str) -> None:
    path = HERE / name
    if os.environ.get("UPDATE_SNAPSHOTS") or not path.exists():
        path.write_text(text)
    assert text == path.read_text(), f"{name} changed; review and UPDATE_SNAPSHOTS=1 if intended"


@pytest.mark.parametrize("case", list(CASES))
def test_json_answers_match_their_snapshots(fixed, case):
    answer = usage(fixed, Caller.local(), CASES[case], now=NOW)
    assert answer.text == dumps(answer.data)
    _check(f"{case}.json", dumps(answer.data, indent=1) + "\n")


@pytest.mark.parametrize("case", ["default", "expanded"])
def test_markdown_answers_match_their_snapshots(fixed, case):
    args = CASES[case]
    args = UsageArgs(**{**args.__dict__, "response_format": "markdown"})
    _check(f"{case}.md", usage(fixed, Caller.local(), args, now=NOW).text)


def test_list_teams_snapshot(fixed):
    _check("teams.md", list_teams(fixed, Caller.local(), "markdown").text)
    assert list_teams(fixed, Caller.local()).data == {
        "teams": [
            {
                "id": "team_a",
                "name": "Aurora",
                "projects": [{"id": "proj_1", "name": None}, {"id": "proj_2", "name": None}],
            }
        ]
    }
