"""The ``budgets`` block of the usage answer (CONTRACT §5): present exactly when a budget applies to
the answer's scope, exact against the events, never the team's budget for a project key, in
Markdown too, and refreshed when budgets change."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from decimal import Decimal

from conftest import event, table
from usagelens.auth import Caller
from usagelens.budgets.registry import add_grant, set_budget
from usagelens.ledger.duckdb import DuckDBLedger
from usagelens.query import UsageArgs
from usagelens.service import usage

NOW = datetime(2026, 12, 6, 12)
LOCAL = Caller.local()


def _store() -> tuple[DuckDBLedger, list[dict]]:
    rows = [
        event(i, datetime(2026, 11, 20) + timedelta(hours=7 * i), cu=Decimal(i % 5) + Decimal("0.25"),
              project_id=f"p{i % 2}", user_id=f"u{i % 3}")
        for i in range(80)
    ]  # fmt: skip
    led = DuckDBLedger(":memory:")
    led.write_events(table(rows))
    return led, rows


def _answer(led, caller=LOCAL, **kw) -> dict:
    args = UsageArgs(team_id="team_a", start_date="2026-12-01", end_date="2026-12-06", **kw)
    return json.loads(usage(led, caller, args, now=NOW).text, parse_float=Decimal)


def test_the_team_budget_shows_on_a_team_answer_with_exact_use():
    led, rows = _store()
    assert "budgets" not in _answer(led)
    set_budget(led, LOCAL, "team_a", cu="500", now=datetime(2026, 11, 1))
    add_grant(led, LOCAL, "team_a", cu="40", expires="2027-01-01", now=datetime(2026, 11, 1))
    got = _answer(led)
    used = sum((r["cu"] for r in rows if datetime(2026, 12, 1) <= r["time"] < datetime(2027, 1, 1)), Decimal(0))
    (item,) = got["budgets"]["items"]
    assert item["id"] == "team_a" and item["scope"] == "team"
    assert (item["allowanceCU"], item["usedCU"], item["remainingCU"]) == (500, used, 500 - used + 40)
    assert item["period"] == {"start": "2026-12-01", "end": "2026-12-31", "timezone": "UTC"}
    assert item["grantsRemainingCU"] == 40
    assert item["forecastCU"] >= used and "weekday" in got["budgets"]["forecastMethod"]
    assert list(got).index("budgets") == list(got).index("assetUsages") + 1
    assert len(json.dumps(got["budgets"], default=str)) < 600


def test_project_and_user_budgets_show_on_answers_filtered_to_them_only():
    led, rows = _store()
    set_budget(led, LOCAL, "team_a", cu="500", now=datetime(2026, 11, 1))
    set_budget(led, LOCAL, "team_a", target={"projectId": "p1"}, cu="50", now=datetime(2026, 11, 1))
    set_budget(led, LOCAL, "team_a", target={"userId": "u2"}, cu="20", now=datetime(2026, 11, 1))
    project = _answer(led, project_id="p1")["budgets"]["items"]
    assert [i["id"] for i in project] == ["team_a/project/p1"]
    used = sum((r["cu"] for r in rows if r["project_id"] == "p1" and r["time"] >= datetime(2026, 12, 1)), Decimal(0))
    assert project[0]["usedCU"] == used
    key = Caller(kind="project", team_id="team_a", project_id="p1", key_id="ul_x")
    assert [i["id"] for i in _answer(led, key)["budgets"]["items"]] == ["team_a/project/p1"]
    user = _answer(led, user_ids=["u2"])["budgets"]["items"]
    assert [i["id"] for i in user] == ["team_a/user/u2"]
    assert "budgets" not in _answer(led, project_id="p0")


def test_markdown_shows_the_budget_and_a_change_is_seen_at_once():
    led, _ = _store()
    set_budget(led, LOCAL, "team_a", cu="500", now=datetime(2026, 11, 1))
    assert _answer(led)["budgets"]["items"][0]["allowanceCU"] == 500
    set_budget(led, LOCAL, "team_a", cu="900", now=datetime(2026, 11, 1))
    assert _answer(led)["budgets"]["items"][0]["allowanceCU"] == 900  # not the cached answer
    args = UsageArgs(team_id="team_a", start_date="2026-12-01", end_date="2026-12-06", response_format="markdown")
    text = usage(led, LOCAL, args, now=NOW).text
    assert "## Budgets" in text and "| team_a | 900 |" in text and "2026-12-01 → 2026-12-31" in text
