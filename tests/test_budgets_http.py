"""Budgets and grants through the real server and the CLI (issue 15): who may set and read them,
status exact against the events, one-sentence errors naming the field, no 5xx for any body."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from http_server import serving
from usagelens.auth import KeyStore
from usagelens.ledger import open_ledger
from usagelens.surfaces.http import create_app

CLI = [sys.executable, "-m", "usagelens.surfaces"]
NOW = datetime.now(UTC).replace(tzinfo=None, microsecond=0)


def _event(i: int, team: str, project: str, cu: str, hours_ago: int) -> dict:
    t = NOW - timedelta(hours=hours_ago)
    return {
        "id": f"e{i}", "time": t.isoformat() + "Z", "teamId": team, "projectId": project, "userId": "u1",
        "action": "generate", "creativeUnitsCost": cu,
    }  # fmt: skip


EVENTS = [_event(i, "team_a", f"p{i % 2}", f"{i}.5", i) for i in range(10)] + [_event(99, "team_b", "q", "3", 1)]


@pytest.fixture(scope="module")
def server() -> Iterator[tuple[str, dict[str, str]]]:
    led = open_ledger(":memory:")
    keys = KeyStore(led)
    creds = {
        "admin": keys.create(None, "admin"),
        "a": keys.create("team_a", "analytics"),
        "b": keys.create("team_b", "analytics"),
        "p1": keys.create("team_a", "project", project="p1"),
        "ingest": keys.create("team_a", "ingest"),
    }
    with serving(create_app(led, require_keys=True)) as url:
        body = "".join(json.dumps(e) + "\n" for e in EVENTS)
        admin = creds["admin"].credential()
        r = _call(
            "POST", f"{url}/v1/usage-events", admin, content=body, headers={"content-type": "application/x-ndjson"}
        )
        assert r.json()["written"] == len(EVENTS)
        yield url, {k: v.credential() for k, v in creds.items()}
    led.close()


def _call(method: str, url: str, cred: str, **kw) -> httpx.Response:
    return httpx.request(method, url, auth=tuple(cred.split(":", 1)), timeout=30, **kw)  # type: ignore[arg-type]


def _period_sum(team: str, project: str | None = None) -> Decimal:
    month = datetime(NOW.year, NOW.month, 1)
    return sum(
        (Decimal(e["creativeUnitsCost"]) for e in EVENTS if e["teamId"] == team
         and project in (None, e["projectId"]) and datetime.fromisoformat(e["time"][:-1]) >= month),
        Decimal(0),
    )  # fmt: skip


def test_the_admin_sets_budgets_and_each_key_reads_its_own(server):
    url, creds = server
    team = {"teamId": "team_a", "cu": "100", "thresholds": [80, 50], "webhook": "http://127.0.0.1:9/hook"}
    r = _call("PUT", f"{url}/v1/budgets", creds["admin"], json=team)
    assert r.status_code == 200, r.text
    assert r.json()["id"] == "team_a" and r.json()["thresholds"] == [50, 80]
    assert (
        _call(
            "PUT", f"{url}/v1/budgets", creds["admin"], json={"teamId": "team_a", "projectId": "p1", "cu": 9}
        ).status_code
        == 200
    )
    assert _call("PUT", f"{url}/v1/budgets", creds["admin"], json={"teamId": "team_b", "cu": 5}).status_code == 200
    for who in ("a", "p1", "ingest"):
        assert _call("PUT", f"{url}/v1/budgets", creds[who], json=team).status_code == 403
    mine = _call("GET", f"{url}/v1/budgets", creds["a"]).json()
    assert [b["id"] for b in mine["budgets"]] == ["team_a", "team_a/project/p1"]
    status = {b["id"]: b["status"] for b in mine["budgets"]}
    assert Decimal(str(status["team_a"]["usedCU"])) == _period_sum("team_a")
    assert Decimal(str(status["team_a/project/p1"]["usedCU"])) == _period_sum("team_a", "p1")
    assert [b["id"] for b in _call("GET", f"{url}/v1/budgets", creds["p1"]).json()["budgets"]] == ["team_a/project/p1"]
    assert [b["id"] for b in _call("GET", f"{url}/v1/budgets", creds["b"]).json()["budgets"]] == ["team_b"]
    assert _call("GET", f"{url}/v1/budgets", creds["b"], params={"teamId": "team_a"}).json()["budgets"] == []
    assert _call("GET", f"{url}/v1/budgets", creds["ingest"]).status_code == 403


def test_grants_are_created_listed_and_deleted(server):
    url, creds = server
    body = {"teamId": "team_a", "cu": "25.5", "expires": "2099-01-01"}
    r = _call("POST", f"{url}/v1/budgets/grants", creds["admin"], json=body)
    assert r.status_code == 201, r.text
    gid = r.json()["id"]
    assert [g["id"] for g in _call("GET", f"{url}/v1/budgets", creds["a"]).json()["grants"]] == [gid]
    assert _call("GET", f"{url}/v1/budgets", creds["p1"]).json()["grants"] == []
    assert _call("DELETE", f"{url}/v1/budgets", creds["a"], params={"id": gid}).status_code == 403
    assert _call("DELETE", f"{url}/v1/budgets", creds["admin"], params={"id": gid}).json() == {
        "deleted": gid,
        "kind": "grant",
    }
    assert _call("DELETE", f"{url}/v1/budgets", creds["admin"], params={"id": gid}).status_code == 404
    put = _call("PUT", f"{url}/v1/budgets", creds["admin"], json={"teamId": "team_b", "userId": "v1", "cu": 1})
    assert put.status_code == 200
    assert (
        _call("DELETE", f"{url}/v1/budgets", creds["admin"], params={"id": "team_b/user/v1"}).json()["kind"] == "budget"
    )


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"teamId": "team_a", "cu": "-1"}, "cu"),
        ({"teamId": "team_a", "cu": "1.0000001"}, "cu"),
        ({"teamId": "team_a", "cu": "NaN"}, "cu"),
        ({"teamId": "team_a"}, "cu"),
        ({"cu": 5}, "teamId"),
        ({"teamId": "team_a", "cu": 5, "period": "daily"}, "period"),
        ({"teamId": "team_a", "cu": 5, "anchorDay": 32}, "anchorDay"),
        ({"teamId": "team_a", "cu": 5, "timezone": "Mars/Base"}, "timezone"),
        ({"teamId": "team_a", "cu": 5, "thresholds": [0]}, "thresholds"),
        ({"teamId": "team_a", "cu": 5, "webhook": "ftp://x"}, "webhook"),
        ({"teamId": "team_a", "cu": 5, "projectId": "p1", "userId": "u1"}, "projectId"),
        ({"teamId": "team_a", "cu": 5, "budget": 1}, "budget"),
    ],
)
def test_bad_budgets_name_the_field(server, body, field):
    url, creds = server
    r = _call("PUT", f"{url}/v1/budgets", creds["admin"], json=body)
    assert r.status_code == 400, r.text
    assert r.json()["error"]["field"] == field


_FLOAT = st.floats(allow_nan=False, allow_infinity=False)
_LEAF = st.none() | st.booleans() | st.integers() | _FLOAT | st.text(max_size=6)
_KEYS = st.sampled_from(["teamId", "cu", "period", "anchorDay", "timezone", "thresholds", "webhook", "userId"])
_BODY = st.recursive(_LEAF, lambda c: st.lists(c, max_size=3) | st.dictionaries(_KEYS, c, max_size=5), max_leaves=10)


@given(body=_BODY, path=st.sampled_from(["/v1/budgets", "/v1/budgets/grants"]))
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_no_body_gives_a_5xx(server, body, path):
    url, creds = server
    r = _call("PUT" if path == "/v1/budgets" else "POST", f"{url}{path}", creds["admin"], json=body)
    assert r.status_code < 500, r.text


def _cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    base = {k: v for k, v in os.environ.items() if not k.startswith("USAGELENS_")}
    return subprocess.run([*CLI, *args], capture_output=True, text=True, env=base | (env or {}), timeout=120)


def test_cli_budgets_locally_and_through_a_server(tmp_path):
    db = str(tmp_path / "b.duckdb")
    done = _cli("budgets", "set", "--team", "team_a", "--cu", "100", "--timezone", "Europe/Paris", "--db", db)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "budget team_a: 100 CU monthly (Europe/Paris), alerts at 50 %, 80 %, 100 %"
    bad = _cli("budgets", "set", "--team", "team_a", "--cu", "x", "--db", db)
    assert (
        bad.returncode == 2 and bad.stderr.startswith("error: cu: 'x' is not an amount") and bad.stderr.count("\n") == 1
    )
    listed = json.loads(_cli("budgets", "list", "--format", "json", "--db", db).stdout)
    assert [b["id"] for b in listed["budgets"]] == ["team_a"] and listed["budgets"][0]["status"]["usedCU"] == 0
    with open_ledger(db) as led:
        admin = KeyStore(led).create(None, "admin").credential()
    with open_ledger(db) as led, serving(create_app(led)) as url:
        remote = {"USAGELENS_URL": url, "USAGELENS_KEY": admin}
        done = _cli("budgets", "set", "--team", "team_a", "--key", "k1", "--cu", "7", "--period", "30d", env=remote)
        assert done.returncode == 0, done.stderr
        assert done.stdout.startswith("budget team_a/key/k1: 7 CU 30d (UTC)")
        grant = _cli("budgets", "grant", "--team", "team_a", "--cu", "5", "--expires", "2099-01-01", env=remote)
        assert grant.returncode == 0 and grant.stdout.startswith("grant g_")
        listed = json.loads(_cli("budgets", "list", "--team", "team_a", "--format", "json", env=remote).stdout)
        assert [b["id"] for b in listed["budgets"]] == ["team_a", "team_a/key/k1"] and len(listed["grants"]) == 1
        assert "grant g_" in _cli("budgets", "list", "--team", "team_a", env=remote).stdout
        assert _cli("budgets", "delete", "team_a/key/k1", "--url", url, "--auth", admin).stdout.strip() == (
            "deleted budget team_a/key/k1"
        )
