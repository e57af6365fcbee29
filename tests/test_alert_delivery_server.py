"""Alert delivery through the real server (issue 15): the app's deliverer posts alerts as they are
raised, ``GET /v1/alerts`` and ``usagelens alerts list`` show their state to who may see them, the
signing secret is the admin's only, and a ``kill -9`` of the server during a POST loses no alert
(the restarted server sends it again with the same ``Idempotency-Key``)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from http_server import free_port, serving
from test_alert_delivery import alert, raise_alert
from usagelens.auth import KeyStore
from usagelens.ledger import open_ledger
from usagelens.surfaces.cli.app import app as cli_app
from usagelens.surfaces.http import create_app
from webhook_receiver import Receiver, receiving, verified

CLI = [sys.executable, "-m", "usagelens.surfaces"]


def _get(url: str, cred: str | None = None, **params: str) -> httpx.Response:
    auth = tuple(cred.split(":", 1)) if cred else None
    return httpx.get(url, params=params, auth=auth, timeout=30)  # type: ignore[arg-type]


def _until(check: Any, seconds: float = 10.0) -> Any:
    """``check()`` once it is truthy (checked every 50 ms), else AssertionError: for state the server
    writes just after the receiver answered."""
    pause = threading.Event()
    for _ in range(int(seconds / 0.05)):
        got = check()
        if got:
            return got
        pause.wait(0.05)
    raise AssertionError("the condition did not hold in time")


@pytest.fixture
def keyed() -> Iterator[tuple[Any, dict[str, str]]]:
    led = open_ledger(":memory:")
    keys = KeyStore(led)
    creds = {
        "admin": keys.create(None, "admin").credential(),
        "a": keys.create("team_a", "analytics").credential(),
        "p1": keys.create("team_a", "project", project="p1").credential(),
        "ingest": keys.create("team_a", "ingest").credential(),
    }
    yield led, creds
    led.close()


def test_the_server_delivers_alerts_and_each_key_reads_its_own(keyed):
    led, creds = keyed
    with receiving() as rec:
        docs = [
            alert("team_a", 80, rec.url),
            alert("team_a/project/p1", 50, None),
            alert("team_b", 100, rec.url, team="team_b"),
        ]
        for doc in docs:
            raise_alert(led, doc)
        with serving(create_app(led, require_keys=True)) as url:
            got = rec.wait_for(2)  # the app's own deliverer, started with the app
            delivered = lambda: [a for a in _get(f"{url}/v1/alerts", creds["admin"]).json()["alerts"]  # noqa: E731
                                 if a["delivery"]["state"] == "delivered"]  # fmt: skip
            assert {a["id"] for a in _until(lambda: len(delivered()) == 2 and delivered())} == {
                docs[0]["id"], docs[2]["id"]
            }  # fmt: skip
            everything = _get(f"{url}/v1/alerts", creds["admin"]).json()["alerts"]
            team_a = _get(f"{url}/v1/alerts", creds["a"]).json()["alerts"]
            project = _get(f"{url}/v1/alerts", creds["p1"]).json()["alerts"]
            only_b = _get(f"{url}/v1/alerts", creds["admin"], teamId="team_b").json()["alerts"]
            refused = _get(f"{url}/v1/alerts", creds["ingest"])
            misspelled = _get(f"{url}/v1/alerts", creds["admin"], team="team_a")
            secret = _get(f"{url}/v1/alerts/secret", creds["admin"])
            not_admin = [_get(f"{url}/v1/alerts/secret", creds[k]) for k in ("a", "p1", "ingest")]
    assert sorted(r.key for r in got) == sorted([docs[0]["id"], docs[2]["id"]])
    assert len(everything) == 3 and {a["id"] for a in team_a} == {docs[0]["id"], docs[1]["id"]}
    assert [a["id"] for a in project] == [docs[1]["id"]] and project[0]["delivery"]["state"] == "no_webhook"
    assert [a["id"] for a in only_b] == [docs[2]["id"]]
    assert {k: v for k, v in only_b[0].items() if k != "delivery"} == docs[2]
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "forbidden"
    assert misspelled.status_code == 400 and misspelled.json()["error"]["field"] == "team"
    assert secret.status_code == 200 and secret.json() == {"secret": led.get_meta("webhook_secret")}
    assert all(verified(secret.json()["secret"], r) for r in got)
    for r in not_admin:
        assert r.status_code == 403 and r.json()["error"]["code"] == "forbidden", r.text
        assert r.json()["error"]["message"] == "the webhook signing secret needs an admin key (or local use)"


def _serve(db: str, env: dict[str, str]) -> tuple[subprocess.Popen, str]:
    port = free_port()
    proc = subprocess.Popen(
        [*CLI, "serve", "--db", db, "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    url = f"http://127.0.0.1:{port}"

    def up() -> bool:
        if proc.poll() is not None:
            raise AssertionError(proc.communicate()[1])
        try:
            return httpx.get(url + "/healthz", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    _until(up, 30)
    return proc, url


def _cli(*args: str, env: dict[str, str]) -> Any:
    res = subprocess.run([*CLI, *args], capture_output=True, text=True, env=env, timeout=60)
    assert res.returncode == 0, res.stderr
    return res.stdout


def test_a_kill_9_during_a_post_loses_no_alert_and_keeps_the_idempotency_key(store_path):
    env = dict(os.environ, USAGELENS_WEBHOOK_BACKOFF="0.2", USAGELENS_WEBHOOK_TIMEOUT="1", COLUMNS="200")
    with receiving(Receiver(hold_first=True)) as rec:
        docs = [alert(f"team_{i}", 80, rec.url, team=f"team_{i}", at=datetime.now(UTC)) for i in range(3)]
        with open_ledger(store_path) as led:
            for doc in docs:
                raise_alert(led, doc)
        proc, _ = _serve(store_path, env)
        try:
            first = rec.wait_for(1)[0]  # the server waits for the answer to this one…
            proc.send_signal(signal.SIGKILL)  # …and dies before it comes
            proc.communicate(timeout=30)
        finally:
            proc.kill()
        rec.release.set()
        proc, url = _serve(store_path, env)
        try:
            got = rec.wait_for(4, timeout=20)  # the other two at once, the lost one after 4 × timeout
            alerts = _until(lambda: _all_delivered(_get(f"{url}/v1/alerts").json()["alerts"]))
            remote = json.loads(_cli("alerts", "list", "--format", "json", "--url", url, env=env))
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.communicate(timeout=30)
    assert first.key == docs[0]["id"]
    assert sorted(r.key for r in got) == sorted([d["id"] for d in docs] + [first.key])  # the lost one twice
    assert {r.key for r in got} == {d["id"] for d in docs}  # a receiver honouring the key acts once each
    again = [r for r in got[1:] if r.key == first.key]
    assert len(again) == 1 and again[0].body == first.body
    attempts = {a["id"]: a["delivery"]["attempts"] for a in alerts}
    assert attempts == {docs[0]["id"]: 2, docs[1]["id"]: 1, docs[2]["id"]: 1}  # attempt 1 of the first: lost
    assert remote == alerts
    local = json.loads(_local("alerts", "list", "--format", "json", "--db", store_path))
    assert local == alerts
    printed = _local("alerts", "secret", "--db", store_path).strip()
    with open_ledger(store_path) as led:
        assert printed == led.get_meta("webhook_secret") and verified(printed, first)
    table = _local("alerts", "list", "--team", "team_1", "--db", store_path)
    assert docs[1]["id"] in table and docs[0]["id"] not in table and "delivered" in table


def _local(*args: str) -> str:
    """The CLI in this process (the same commands, without a new interpreter's start-up)."""
    res = CliRunner().invoke(cli_app, list(args), env={"COLUMNS": "200"})
    assert res.exit_code == 0, res.output
    return res.stdout


def _all_delivered(alerts: list[dict]) -> list[dict] | None:
    return alerts if alerts and all(a["delivery"]["state"] == "delivered" for a in alerts) else None


def test_the_cli_refuses_an_unknown_format(store_path):
    res = subprocess.run(
        [*CLI, "alerts", "list", "--format", "yaml", "--db", store_path], capture_output=True, text=True, timeout=60
    )
    assert res.returncode == 2
    assert res.stderr.strip() == "error: --format: 'yaml' is not accepted (accepted: text, json)"
