"""Corrections through the real server and the CLI (CONTRACT §1, issue 14): who may void, void +
replacement in one request, idempotent re-voids, the audit trail per key, answers that reconcile
to the cent after voids, one-line errors, and no 5xx whatever the body."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
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
WINDOW = {"start_date": "2026-04-01", "end_date": "2026-04-30"}


def _event(i: int, team: str, cu: str, day: int = 10) -> dict:
    return {
        "id": f"e{i}", "time": f"2026-04-{day:02d}T10:00:00Z", "teamId": team, "projectId": "p1",
        "userId": f"u{i % 3}", "action": "generate", "creativeUnitsCost": cu, "modelId": f"m{i % 2}",
    }  # fmt: skip


EVENTS = [_event(i, "team_a", f"{i}.125", 1 + i) for i in range(6)] + [_event(9, "team_b", "7.5")]


@pytest.fixture(scope="module")
def server() -> Iterator[tuple[str, dict[str, str]]]:
    led = open_ledger(":memory:")
    keys = KeyStore(led)
    creds = {
        "admin": keys.create(None, "admin"),
        "a": keys.create("team_a", "analytics"),
        "b": keys.create("team_b", "analytics"),
        "ingest_a": keys.create("team_a", "ingest"),
        "ingest_b": keys.create("team_b", "ingest"),
    }
    with serving(create_app(led, require_keys=True)) as url:
        body = "".join(json.dumps(e) + "\n" for e in EVENTS)
        r = _call("POST", f"{url}/v1/usage-events", creds["admin"].credential(), content=body)
        assert r.json() == {"written": 7, "duplicates": 0}
        yield url, {k: v.credential() for k, v in creds.items()} | {"ingest_a_id": creds["ingest_a"].key}
    led.close()


def _call(method: str, url: str, cred: str, **kw) -> httpx.Response:
    if "content" in kw:
        kw["headers"] = {"content-type": "application/x-ndjson"}
    return httpx.request(method, url, auth=tuple(cred.split(":", 1)), timeout=30, **kw)  # type: ignore[arg-type]


def _void(url: str, cred: str, body: object) -> httpx.Response:
    return _call("POST", f"{url}/v1/usage-events/void", cred, json=body)


def _total(url: str, cred: str) -> Decimal:
    r = _call("GET", f"{url}/v1/usage", cred, params=WINDOW, headers={"accept": "application/json"})
    return Decimal(str(json.loads(r.text, parse_float=Decimal)["totals"]["totalCU"]))


def _audit(url: str, cred: str, **params: str) -> httpx.Response:
    return _call("GET", f"{url}/v1/usage-events/voids", cred, params=params)


def test_who_may_void_and_an_unknown_or_foreign_id_changes_nothing(server):
    url, creds = server
    before = _total(url, creds["a"])
    assert before == sum(Decimal(e["creativeUnitsCost"]) for e in EVENTS if e["teamId"] == "team_a")
    body = {"teamId": "team_a", "ids": ["e1"], "reason": "test"}
    assert _void(url, creds["a"], body).status_code == 403  # analytics keys read only
    assert _void(url, creds["ingest_b"], body).status_code == 403  # another team's ingest key
    r = _void(url, creds["admin"], {"teamId": "team_a", "ids": ["e1", "e9"], "reason": "x"})  # e9 is team_b's
    assert r.status_code == 404 and r.json()["error"]["field"] == "ids" and "'e9'" in r.json()["error"]["message"]
    assert _total(url, creds["a"]) == before and _total(url, creds["b"]) == Decimal("7.5")
    assert _audit(url, creds["admin"]).json()["voids"] == []


def test_void_with_a_replacement_then_again_and_the_audit_trail(server):
    url, creds = server
    fix = _event(100, "team_a", "0.001", 3)
    r = _void(url, creds["ingest_a"], {"teamId": "team_a", "ids": ["e2"], "reason": "wrong CU", "replacements": [fix]})
    assert r.status_code == 200, r.text
    assert r.json() == {"voided": ["e2"], "alreadyVoided": [], "replacements": {"written": 1, "duplicates": 0}}
    again = _void(url, creds["admin"], {"teamId": "team_a", "ids": ["e2"], "reason": "again"})
    assert again.json() == {"voided": [], "alreadyVoided": ["e2"], "replacements": {"written": 0, "duplicates": 0}}
    left = [e for e in EVENTS if e["teamId"] == "team_a" and e["id"] != "e2"] + [fix]
    assert _total(url, creds["a"]) == sum(Decimal(e["creativeUnitsCost"]) for e in left)
    # the voided id stays taken
    taken = _call("POST", f"{url}/v1/usage-events", creds["admin"], content=json.dumps(EVENTS[2]) + "\n")
    assert taken.json() == {"written": 0, "duplicates": 1}
    trail = _audit(url, creds["a"]).json()
    assert [(v["id"], v["reason"], v["voidedBy"], v["creativeUnitsCost"]) for v in trail["voids"]] == [
        ("e2", "wrong CU", creds["ingest_a_id"], 2.125)
    ]
    assert trail["voids"][0]["voidedAt"].endswith("Z") and trail["nextOffset"] is None
    # another team's key learns nothing: its own trail is empty, team_a is "not a team you can see"
    assert _audit(url, creds["b"]).json()["voids"] == []
    hidden, absent = _audit(url, creds["b"], teamId="team_a"), _audit(url, creds["b"], teamId="team_zz")
    assert hidden.status_code == absent.status_code == 404
    assert hidden.json()["error"]["message"].replace("team_a", "X") == absent.json()["error"]["message"].replace(
        "team_zz", "X"
    )
    assert _audit(url, creds["ingest_a"]).status_code == 403


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        ({"teamId": "team_a", "ids": [], "reason": "x"}, 400, "ids"),
        ({"teamId": "team_a", "ids": ["e1"], "reason": " "}, 400, "reason"),
        ({"teamId": "team_a", "ids": ["e1"]}, 400, "reason"),
        ({"ids": ["e1"], "reason": "x"}, 400, "teamId"),
        ({"teamId": "team_a", "ids": ["e1"], "reason": "x", "why": 1}, 400, "why"),
        ({"teamId": "team_a", "ids": [1], "reason": "x"}, 400, "ids"),
        ({"teamId": "team_a", "ids": ["e1"], "reason": "x", "replacements": [{"id": "r1"}]}, 422, "replacements"),
        (
            {"teamId": "team_a", "ids": ["e1"], "reason": "x", "replacements": [_event(1, "team_a", "1")]},
            422,
            "replacements",
        ),
        (
            {"teamId": "team_a", "ids": ["e1"], "reason": "x", "replacements": [_event(5, "team_b", "1")]},
            422,
            "replacements",
        ),
    ],
)
def test_bad_requests_name_the_field_and_void_nothing(server, body, status, field):
    url, creds = server
    r = _void(url, creds["admin"], body)
    assert r.status_code == status, r.text
    assert r.json()["error"].get("field") == field
    assert all(v["id"] != "e1" for v in _audit(url, creds["admin"]).json()["voids"])


_LEAF = st.none() | st.booleans() | st.integers() | st.text(max_size=5)
_KEYS = st.sampled_from(["teamId", "ids", "reason", "replacements", "x"])
_JSON = st.recursive(_LEAF, lambda c: st.lists(c, max_size=3) | st.dictionaries(_KEYS, c, max_size=4), max_leaves=12)


@given(body=_JSON)
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_no_body_gives_a_5xx(server, body):
    url, creds = server
    r = _void(url, creds["admin"], body)
    assert r.status_code < 500 and ("error" in r.json() or "voided" in r.json())


def _cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    base = {k: v for k, v in os.environ.items() if not k.startswith("USAGELENS_")}
    return subprocess.run([*CLI, *args], capture_output=True, text=True, env=base | (env or {}), timeout=120)


def test_cli_void_and_audit_on_a_store_and_through_a_server(tmp_path):
    db = str(tmp_path / "v.duckdb")
    events = tmp_path / "e.jsonl"
    events.write_text("".join(json.dumps(e) + "\n" for e in EVENTS))
    assert _cli("ingest", str(events), "--db", db).returncode == 0
    fix = tmp_path / "fix.jsonl"
    fix.write_text(json.dumps(_event(50, "team_a", "0.5")) + "\n")
    done = _cli("void", "e0", "e1", "--team", "team_a", "--reason", "dup", "--replacements", str(fix), "--db", db)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "voided 2; replacements written 1, duplicates 0"
    bad = _cli("void", "nope", "--team", "team_a", "--reason", "x", "--db", db)
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1 and "'nope'" in bad.stderr
    trail = json.loads(_cli("audit", "--format", "json", "--db", db).stdout)
    assert [(v["id"], v["voidedBy"], v["reason"]) for v in trail] == [("e0", "local", "dup"), ("e1", "local", "dup")]
    with open_ledger(db) as led:
        admin = KeyStore(led).create(None, "admin").credential()
    with open_ledger(db) as led, serving(create_app(led)) as url:
        remote = {"USAGELENS_URL": url, "USAGELENS_KEY": admin}
        done = _cli("void", "e3", "e0", "--team", "team_a", "--reason", "remote", env=remote)
        assert done.returncode == 0, done.stderr
        assert done.stdout.strip() == "voided 1; already voided 1 (e0)"
        text = _cli("audit", "--team", "team_a", env=remote)
        assert text.returncode == 0 and "remote" in text.stdout and "dup" in text.stdout
        assert _cli("audit", "--team", "team_b", "--url", url, "--key", admin).stdout.strip() == "no voids"
