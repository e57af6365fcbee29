"""``sync scenario``: a Scenario account copied into a local store reproduces it exactly,
incrementally, idempotently, and a failed sync leaves whole windows and resumes."""

from __future__ import annotations

import io
import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from datetime import datetime, timedelta
from decimal import Decimal

import pytest

from scenario_upstream import Account, Fault, account, long_store
from usagelens.auth import Caller
from usagelens.errors import InvalidArgument, NotFound, Unavailable
from usagelens.jsonout import dumps
from usagelens.ledger.base import FactQuery
from usagelens.ledger.duckdb import DuckDBLedger
from usagelens.query import INCLUDES, UsageArgs
from usagelens.service import usage
from usagelens.sources.scenario import sync as scenario_sync
from usagelens.sources.scenario.activity import assign_ids, is_usage, to_event
from usagelens.sources.scenario.sync import sync_scenario

TEAM = "team_b_0"
NOW = datetime(2026, 5, 1)
EVERYTHING = list(INCLUDES)


@pytest.fixture(scope="module")
def upstream(demo_ledger) -> Iterator[Account]:
    with account(demo_ledger, TEAM) as acc:
        yield acc


@pytest.fixture
def source(upstream):
    upstream.upstream.reset()
    led = upstream.open()
    yield led
    led.close()


@pytest.fixture(scope="module")
def synced(upstream) -> Iterator[DuckDBLedger]:
    """The account synced once into a fresh store (shared by the read-only checks)."""
    led = DuckDBLedger(":memory:")
    src = upstream.open()
    report = sync_scenario(led, src, datetime(2026, 1, 1), NOW, now=NOW)
    src.close()
    assert report.read == report.written > 0 and report.duplicates == report.skipped == 0
    yield led
    led.close()


def answer(ledger, **kw):
    return usage(ledger, Caller.local(), UsageArgs(team_id=TEAM, **kw), now=NOW).data


@pytest.mark.parametrize("timezone", ["UTC", "Europe/Paris", "Asia/Kolkata"])
def test_a_synced_store_answers_exactly_like_the_upstream(demo_ledger, synced, timezone):
    for window in ({"start_date": "2026-04-01", "end_date": "2026-04-30"}, {"start_date": "2026-03-02"}):
        kw = {"timezone": timezone, "include": EVERYTHING, **window}
        assert answer(synced, **kw) == answer(demo_ledger, **kw)


def test_synced_events_keep_the_upstream_ids_team_and_names(demo_ledger, synced):
    assert synced.teams() == [t for t in demo_ledger.teams() if t["id"] == TEAM]
    q = FactQuery(TEAM, datetime(2026, 1, 1), NOW)
    assert synced.facts(q).to_pylist() == demo_ledger.facts(q).to_pylist()  # jobs, assets, discounts included
    state = json.loads(synced.get_meta("scenario.sync." + TEAM))
    assert state == {"from": "2026-01-01T00:00:00Z", "until": "2026-05-01T00:00:00Z"}


def test_a_second_sync_writes_nothing_new(synced, source, upstream):
    before = synced.stats().events
    report = sync_scenario(synced, source, datetime(2026, 1, 1), NOW, now=NOW)
    assert report.written == 0 and report.read == report.duplicates > 0  # only the last hour is read again
    assert synced.stats().events == before
    assert all(r.window()[0] >= datetime(2026, 4, 30, 23) for r in upstream.upstream.usages())


def test_sync_is_incremental_and_backfills_earlier_days(demo_ledger, source, upstream):
    led = DuckDBLedger(":memory:")
    seen: list[tuple[str, int, int]] = []
    first = sync_scenario(
        led, source, datetime(2026, 4, 1), datetime(2026, 4, 15), now=NOW, progress=lambda *a: seen.append(a)
    )
    assert seen[-1] == (TEAM, first.read, first.read) and [s[1] for s in seen] == sorted(s[1] for s in seen)
    upstream.upstream.reset()
    second = sync_scenario(led, source, datetime(2026, 4, 1), NOW, now=NOW)
    assert second.duplicates < 50 and second.written > 0
    assert min(r.window()[0] for r in upstream.upstream.usages()) == datetime(2026, 4, 14, 23)
    third = sync_scenario(led, source, datetime(2026, 3, 1), NOW, now=NOW)  # backfill March
    assert third.written > first.written
    state = json.loads(led.get_meta("scenario.sync." + TEAM))
    assert state == {"from": "2026-03-01T00:00:00Z", "until": "2026-05-01T00:00:00Z"}
    assert answer(led, start_date="2026-03-02", end_date="2026-04-30") == answer(
        demo_ledger, start_date="2026-03-02", end_date="2026-04-30"
    )
    led.close()


def test_unknown_teams_and_empty_periods_are_one_sentence(source):
    led = DuckDBLedger(":memory:")
    with pytest.raises(
        NotFound, match=f"--team: 'team_x' is not a team these Scenario credentials can see; use one of: {TEAM}"
    ):
        sync_scenario(led, source, datetime(2026, 4, 1), NOW, teams=["team_x"], now=NOW)
    with pytest.raises(InvalidArgument, match=r"--since .* must be before --until and now"):
        sync_scenario(led, source, NOW, NOW, now=NOW)
    assert led.stats().events == 0
    led.close()


def test_a_failed_sync_leaves_whole_windows_and_resumes(demo_ledger, source, upstream, monkeypatch):
    monkeypatch.setattr(scenario_sync, "WINDOW_EVENTS", 400)
    led = DuckDBLedger(":memory:")
    upstream.upstream.after = 25  # then every request fails
    upstream.upstream.always = Fault(500, b'{"error": {"code": "internal", "message": "boom"}}')
    with pytest.raises(Unavailable, match="failed with 500"):
        sync_scenario(led, source, datetime(2026, 4, 1), NOW, now=NOW)
    state = json.loads(led.get_meta("scenario.sync." + TEAM))
    until = datetime.fromisoformat(state["until"][:-1])
    assert datetime(2026, 4, 1) < until < NOW
    done = FactQuery(TEAM, datetime(2026, 4, 1), until)
    assert led.facts(done).to_pylist() == demo_ledger.facts(done).to_pylist()  # whole windows, nothing more
    assert led.facts(FactQuery(TEAM, until, NOW)).to_pylist()[0]["events"] == 0
    upstream.upstream.reset()
    report = sync_scenario(led, source, datetime(2026, 4, 1), NOW, now=NOW)
    assert report.windows > 1 and report.written > 0
    everything = FactQuery(TEAM, datetime(2026, 4, 1), NOW, by=("action",))
    assert led.facts(everything).to_pylist() == demo_ledger.facts(everything).to_pylist()
    led.close()


def test_a_long_account_is_synced_in_windows_of_at_most_120_days():
    upstream_store = long_store()
    led = DuckDBLedger(":memory:")
    with account(upstream_store, "team_c_0") as acc:
        src = acc.open()
        report = sync_scenario(led, src, datetime(2025, 10, 1), NOW, now=NOW)
        src.close()
        pages = [r for r in acc.upstream.usages() if "activity" in r.types]
    assert report.written == report.read > 10_000 and report.windows >= 2
    assert all(end - start <= timedelta(days=120) for start, end in (r.window() for r in pages))
    kw = {"team_id": "team_c_0", "start_date": "2025-10-13", "end_date": "2026-04-30", "include": ["usages"]}
    for timezone in ("UTC", "Asia/Kolkata"):
        args = UsageArgs(**kw, timezone=timezone)
        assert (
            usage(led, Caller.local(), args, now=NOW).data == usage(upstream_store, Caller.local(), args, now=NOW).data
        )
    led.close()
    upstream_store.close()


def test_entries_without_ids_get_stable_fingerprints_and_admin_actions_are_skipped():
    entry = {
        "action": "upscale",
        "time": "2026-04-02T10:00:00.123Z",
        "projectId": "p1",
        "userId": "u1",
        "creativeUnitsCost": Decimal("0.1"),
        "data": {"jobId": "j1", "assetId": "a1", "isApiKey": None},
    }
    twin = json.loads(json.dumps(entry, default=str))
    events = [to_event(e, "t1", {"a1": "image"}, {"u1": True}) for e in (entry, twin, {**entry, "userId": "u2"})]
    assign_ids([entry, twin, {**entry, "userId": "u2"}], events)
    ids = [e["id"] for e in events]
    assert ids[0].startswith("sc-") and ids[1] == ids[0] + "-2" and ids[2] != ids[0]
    again = [to_event(entry, "t1", {"a1": "image"}, {"u1": True})]
    assign_ids([entry], again)
    assert again[0]["id"] == ids[0]
    e = events[0]
    assert (e["team_id"], e["cu"], e["discount"], e["asset_kind"], e["is_api_key"]) == (
        "t1",
        Decimal("0.100000"),
        Decimal(0),
        "image",
        True,
    )
    assert e["time"] == datetime(2026, 4, 2, 10, 0, 0, 123000)
    assert is_usage(entry) and not is_usage({**entry, "action": "update-team", "creativeUnitsCost": 0})
    assert is_usage({**entry, "action": "oscu", "creativeUnitsCost": Decimal("5")})


# -- the command line ------------------------------------------------------------------------


def cli(*args: str, acc: Account, db: str) -> subprocess.CompletedProcess:
    env = dict(
        os.environ,
        COLUMNS="120",
        USAGELENS_DB=db,
        SCENARIO_SDK_API_KEY=acc.key,
        SCENARIO_SDK_API_SECRET=acc.secret,
        SCENARIO_BASE_URL=acc.url,
    )
    cmd = [sys.executable, "-m", "usagelens.surfaces", *args]
    return subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=120)


def test_the_sync_command_prints_counts_and_is_idempotent(tmp_path, upstream, demo_ledger):
    db = str(tmp_path / "synced.duckdb")
    line = re.compile(r"^synced 1 team from Scenario: read ([\d,]+), written ([\d,]+), duplicates ([\d,]+), .* s$")
    first = cli("sync", "scenario", "--since", "2026-04-09", "--until", "2026-04-30", acc=upstream, db=db)
    assert first.returncode == 0, first.stderr
    read, written, duplicates = line.match(first.stdout.strip()).groups()
    assert read == written != "0" and duplicates == "0"
    second = cli("sync", "scenario", "--since", "2026-04-09", "--until", "2026-04-30", acc=upstream, db=db)
    assert second.returncode == 0 and line.match(second.stdout.strip()).group(2) == "0"
    assert upstream.secret not in first.stdout + first.stderr + second.stdout + second.stderr
    args = ["usage", "--team", TEAM, "--start", "2026-04-20", "--end", "2026-04-30", "--format", "json"]
    local = cli(*args, acc=upstream, db=db)
    live = cli(*args, "--source", "scenario", acc=upstream, db=str(tmp_path / "absent.duckdb"))
    assert local.returncode == live.returncode == 0, live.stderr
    expected = answer(demo_ledger, start_date="2026-04-20", end_date="2026-04-30")
    assert json.loads(local.stdout) == json.loads(dumps(expected))
    remote = json.loads(live.stdout)
    remote["totals"].pop("jobs")
    synced = json.loads(local.stdout)
    synced["totals"].pop("jobs")
    assert remote == synced
    assert not os.path.exists(tmp_path / "absent.duckdb")  # live mode never opens a store


def test_a_terminal_gets_a_progress_bar(tmp_path, upstream, monkeypatch):
    from rich.console import Console

    from usagelens.surfaces.cli import sync as cli_sync

    screen, lines = io.StringIO(), io.StringIO()
    monkeypatch.setattr(cli_sync, "err", Console(file=screen, force_terminal=True, width=100))
    monkeypatch.setattr(cli_sync, "out", Console(file=lines, width=200))
    db = str(tmp_path / "bar.duckdb")
    cli_sync.scenario("2026-04-28", "2026-04-29", [TEAM], db, upstream.url, upstream.key, upstream.secret)
    assert f"sync scenario {TEAM}" in screen.getvalue() and "━" in screen.getvalue()
    assert lines.getvalue().startswith("synced 1 team from Scenario: read ")
    assert upstream.secret not in screen.getvalue() + lines.getvalue()
