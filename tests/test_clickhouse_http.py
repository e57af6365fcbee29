"""The ClickHouse backend over clickhouse-connect's real HTTP client, against the test-only front
(``clickhouse_front.py``: chDB behind ClickHouse's HTTP interface, in its own process).

Queries and Arrow inserts over HTTP give the same facts as the in-process engine; a wrong
password, a dead server and a slow one are one-sentence errors (503 on REST, exit 2 on the CLI);
a server that dies after committing an insert but before answering leaves nothing double-counted
once the write is retried.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path

import httpx
import pyarrow as pa
import pytest

from chdb_support import chdb_url
from clickhouse_front import Front
from conftest import event, table
from http_server import serving
from usagelens.errors import Unavailable
from usagelens.ledger import open_ledger
from usagelens.ledger.base import FactQuery
from usagelens.surfaces.http import create_app

T0 = datetime(2026, 4, 1, 10, 7)
WINDOW = (datetime(2026, 3, 1), datetime(2026, 7, 1))


def _events(n: int, start: int = 0) -> pa.Table:
    rows = [
        event(
            i, T0 + timedelta(minutes=37 * i), cu=Decimal("0.125") * (i % 7), user_id=f"u{i % 5}", model_id=f"m{i % 3}"
        )
        for i in range(start, start + n)
    ]
    return table(rows)


@pytest.fixture
def front(tmp_path: Path) -> Iterator[Front]:
    with Front(tmp_path / "ch", user="usagelens", password="s3cret") as f:
        yield f


def _totals(led) -> list[dict]:
    return led.facts(FactQuery("team_a", *WINDOW, by=("day", "model_id"), timezone="Asia/Kolkata")).to_pylist()


def test_queries_and_inserts_over_http_answer_like_the_engine_in_process(front):
    batch = _events(500)
    with open_ledger(front.url("usagelens", "s3cret", "usage")) as remote, open_ledger(chdb_url("http")) as local:
        assert remote.write_events(batch).written == 500
        assert remote.write_events(batch).duplicates == 500
        local.write_events(batch)
        assert _totals(remote) == _totals(local)
        assert remote.stats().events == 500
        assert remote.teams() == local.teams()


def test_a_wrong_password_is_one_sentence(front):
    with pytest.raises(Unavailable) as e:
        open_ledger(front.url("usagelens", "wrong", "usage"))
    message = str(e.value)
    assert "authentication failed" in message and "wrong" not in message and "\n" not in message


def test_a_dead_server_is_one_sentence_on_every_surface(front, tmp_path):
    url = front.url("usagelens", "s3cret", "usage")
    with open_ledger(url) as led:
        led.write_events(_events(10))
        app = create_app(led, require_keys=False)
        front.stop()
        with serving(app) as base:
            r = httpx.get(f"{base}/v1/usages", params={"teamId": "team_a"})
        assert r.status_code == 503
        error = r.json()["error"]
        assert error["code"] == "unavailable" and "is not reachable" in error["message"]
    cli = subprocess.run(
        [sys.executable, "-m", "usagelens.surfaces", "usage", "--team", "team_a", "--db", url],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert cli.returncode == 2, cli.stderr
    (line,) = cli.stderr.strip().splitlines()
    assert line.startswith("error: ClickHouse at clickhouse://usagelens@127.0.0.1") and "s3cret" not in line


def test_a_slow_server_times_out_with_one_sentence(tmp_path):
    with Front(tmp_path / "ch") as fast:
        open_ledger(fast.url(database="usage")).close()  # the schema, made quickly
    with Front(tmp_path / "ch", delay_ms=3000) as slow:
        started = time.monotonic()
        with pytest.raises(Unavailable) as e:
            open_ledger(slow.url(database="usage") + "?timeout=1")
        assert time.monotonic() - started < 2.5
    assert "did not answer within 1 s" in str(e.value)


def test_a_server_dying_mid_batch_converges_once_the_write_is_retried(tmp_path):
    path = tmp_path / "ch"
    with Front(path) as f:
        open_ledger(f.url(database="usage")).close()
    batch = _events(3000)  # spans three months: three inserts, the first committed before the server dies
    first_month = sum(1 for t in batch["time"].to_pylist() if t.month == 4)
    assert 0 < first_month < 3000
    with Front(path, die_after_inserts=1) as dying:
        url = dying.url(database="usage")
        with open_ledger(url) as led:
            with pytest.raises(Unavailable):
                led.write_events(batch)
            dying.restart()
            led2 = open_ledger(dying.url(database="usage"))
            assert led2.stats().events == first_month  # the committed month only
            result = led2.write_events(batch)  # the retry
            assert (result.written, result.duplicates) == (3000 - first_month, first_month)
            assert led2.write_events(batch).duplicates == 3000
            stats = led2.stats()
            assert stats.events == 3000
            assert stats.total_cu == sum(batch["cu"].to_pylist())
            (row,) = led2.facts(FactQuery("team_a", *WINDOW)).to_pylist()
            assert (row["events"], row["cu"]) == (3000, stats.total_cu)  # the rollups counted each event once
            led2.close()


def test_the_cli_runs_on_clickhouse(front, tmp_path):
    url = front.url("usagelens", "s3cret", "usage")
    src = tmp_path / "events.jsonl"
    rows = [
        {"id": f"e{i}", "time": f"2026-04-0{1 + i % 5}T10:00:00Z", "teamId": "team_a", "projectId": "p1",
         "userId": "u1", "action": "generate", "creativeUnitsCost": "1.25"}
        for i in range(20)
    ]  # fmt: skip
    src.write_text("".join(json.dumps(r) + "\n" for r in rows))
    run = [sys.executable, "-m", "usagelens.surfaces"]
    done = subprocess.run([*run, "ingest", str(src), "--db", url], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    out = subprocess.run(
        [*run, "usage", "--team", "team_a", "--start", "2026-04-01", "--end", "2026-04-30", "--format", "json",
         "--db", url],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["totals"]["totalCU"] == 25
