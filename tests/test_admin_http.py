"""Key administration over REST and the CLI against a running server (issue 14): the platform's admin
key creates, lists and revokes keys through ``/v1/keys`` while the server holds the DuckDB file, and
what it creates or revokes takes effect at the next request, without a restart."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from http_server import serving
from mcp_support import make_store
from usagelens.auth import KeyStore
from usagelens.ledger import open_ledger
from usagelens.ledger.base import Ledger
from usagelens.surfaces.cli.teams import teams_json
from usagelens.surfaces.http import create_app

CLI = [sys.executable, "-m", "usagelens.surfaces"]
TEAM, PROJECT, OTHER = "team_5_1", "proj_5_9", "proj_5_0"  # proj_5_0 belongs to team_5_0
LIST_FIELDS = {"keyId", "teamId", "kind", "projectId", "label", "createdAt", "revokedAt"}


@pytest.fixture(scope="module")
def served(tmp_path_factory) -> Iterator[tuple[str, dict[str, str], Ledger, str]]:
    """A demo store FILE held by a real server; credentials of every kind of key."""
    path = str(tmp_path_factory.mktemp("admin") / "store.duckdb")
    made = make_store(path, {"admin": (None, "admin"), "analytics": (TEAM, "analytics"), "ingest": (TEAM, "ingest")})
    creds = {label: new.credential() for label, new in made.items()}
    led = open_ledger(path)
    creds["project"] = KeyStore(led).create(TEAM, "project", PROJECT).credential()
    with serving(create_app(led)) as url:
        yield url, creds, led, path
    led.close()


def _call(method: str, url: str, cred: str | None, **kw) -> httpx.Response:
    auth = tuple(cred.split(":", 1)) if cred else None
    return httpx.request(method, url, auth=auth, timeout=30, **kw)  # type: ignore[arg-type]


def _error(r: httpx.Response, status: int, code: str) -> dict:
    assert r.status_code == status, r.text
    body = r.json()
    assert set(body) == {"error"} and body["error"]["code"] == code and "Traceback" not in r.text
    return body["error"]


def _cli(*runs: list[str]) -> list[subprocess.CompletedProcess]:
    """``usagelens`` with each list of arguments, side by side, until each exits."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("USAGELENS_")}
    pipe = subprocess.PIPE
    procs = [
        subprocess.Popen([*CLI, *args], stdout=pipe, stderr=pipe, stdin=subprocess.DEVNULL, text=True, env=env)
        for args in runs
    ]
    done = []
    for proc, args in zip(procs, runs, strict=True):
        out, err = proc.communicate(timeout=60)
        done.append(subprocess.CompletedProcess(args, proc.returncode, out, err))
    return done


def test_a_key_created_over_http_works_at_once(served):
    url, creds, _, _ = served
    r = _call("POST", f"{url}/v1/keys", creds["admin"], json={"kind": "analytics", "teamId": TEAM, "label": "ci"})
    assert r.status_code == 201, r.text
    new = r.json()
    assert list(new) == ["key", "secret", "teamId", "kind", "projectId", "label"]
    assert (new["teamId"], new["kind"], new["projectId"], new["label"]) == (TEAM, "analytics", None, "ci")
    seen = _call("GET", f"{url}/v1/teams", f"{new['key']}:{new['secret']}")
    assert seen.status_code == 200 and [t["id"] for t in seen.json()["teams"]] == [TEAM]


def test_a_key_revoked_over_http_stops_at_once(served):
    url, creds, _, _ = served
    new = _call(
        "POST", f"{url}/v1/keys", creds["admin"], json={"kind": "project", "teamId": TEAM, "projectId": PROJECT}
    )
    cred = f"{new.json()['key']}:{new.json()['secret']}"
    assert _call("GET", f"{url}/v1/teams", cred).status_code == 200
    gone = _call("DELETE", f"{url}/v1/keys/{new.json()['key']}", creds["admin"])
    assert gone.status_code == 200, gone.text
    assert gone.json()["keyId"] == new.json()["key"] and gone.json()["revokedAt"].endswith("Z")
    _error(_call("GET", f"{url}/v1/teams", cred), 401, "unauthorized")
    again = _error(_call("DELETE", f"{url}/v1/keys/{new.json()['key']}", creds["admin"]), 404, "not_found")
    assert again["field"] == "keyId" and "is not a live key" in again["message"]


@pytest.mark.parametrize("kind", ["analytics", "ingest", "project"])
@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("POST", "/v1/keys", {"kind": "analytics", "teamId": TEAM}),
        ("GET", "/v1/keys", None),
        ("DELETE", "/v1/keys/x", None),
    ],
)
def test_team_keys_may_not_manage_keys(served, kind, method, path, body):
    url, creds, led, _ = served
    before = len(led.api_keys())
    err = _error(_call(method, url + path, creds[kind], json=body), 403, "forbidden")
    assert "admin key" in err["message"]
    assert len(led.api_keys()) == before
    _error(_call(method, url + path, None, json=body), 401, "unauthorized")


def test_an_unknown_team_or_project_is_refused_unless_allowed(served):
    url, creds, _, _ = served
    keys = f"{url}/v1/keys"
    team = _error(
        _call("POST", keys, creds["admin"], json={"kind": "ingest", "teamId": "team_new"}), 400, "invalid_argument"
    )
    assert team["field"] == "teamId"
    assert "team 'team_new' has never been seen" in team["message"] and "allowUnknown: true" in team["message"]
    body = {"kind": "project", "teamId": TEAM, "projectId": OTHER}
    project = _error(_call("POST", keys, creds["admin"], json=body), 400, "invalid_argument")
    assert project["message"].startswith(f"projectId: '{OTHER}' is not a project of team '{TEAM}'")
    allowed = _call("POST", keys, creds["admin"], json={"kind": "ingest", "teamId": "team_new", "allowUnknown": True})
    assert allowed.status_code == 201 and allowed.json()["teamId"] == "team_new"


@pytest.mark.parametrize(
    ("content", "field", "says"),
    [
        (b"{nope", "body", "the body is not JSON"),
        (b"[]", "body", "not an object"),
        (b'{"kind": "analytics", "team": "t"}', "team", "team is not a field of a key request"),
        (b'{"kind": 7}', "kind", "kind: 7 is not accepted"),
        (b'{"kind": "analytics", "teamId": "x", "allowUnknown": "yes"}', "allowUnknown", "pass true or false"),
        (b'{"kind": "root"}', "kind", "'root' is not a key kind (accepted: admin, analytics, project, ingest)"),
        (b'{"kind": "admin", "teamId": "team_5_1"}', "teamId", "an admin key has every team"),
        (b"[" * 100_000, "body", "the body is not JSON"),
    ],
)
def test_a_bad_key_request_is_one_sentence(served, content, field, says):
    url, creds, _, _ = served
    r = _call("POST", f"{url}/v1/keys", creds["admin"], content=content, headers={"content-type": "application/json"})
    err = _error(r, 400, "invalid_argument")
    assert err["field"] == field and says in err["message"], err
    assert _error(_call("GET", f"{url}/v1/keys?teamId=x", creds["admin"]), 400, "invalid_argument")["field"] == "teamId"


def test_the_list_shows_every_key_but_never_a_secret_or_hash(served):
    url, creds, led, _ = served
    new = _call("POST", f"{url}/v1/keys", creds["admin"], json={"kind": "analytics", "teamId": TEAM}).json()
    r = _call("GET", f"{url}/v1/keys", creds["admin"])
    assert r.status_code == 200
    listed = r.json()["keys"]
    assert [k["keyId"] for k in listed] == [k["key_id"] for k in led.api_keys()]
    assert all(set(k) == LIST_FIELDS for k in listed)
    for secret in (new["secret"], *(c.split(":", 1)[1] for c in creds.values())):
        assert secret not in r.text
    for stored in led.api_keys():
        assert stored["secret_hash"] not in r.text and stored["salt"] not in r.text
    admin = next(k for k in listed if k["keyId"] == creds["admin"].split(":")[0])
    assert (admin["teamId"], admin["kind"]) == (None, "admin")


def test_the_local_owner_of_a_keyless_server_manages_keys():
    with open_ledger(":memory:") as led, serving(create_app(led)) as url:
        r = _call("POST", f"{url}/v1/keys", None, json={"kind": "admin"})
        assert r.status_code == 201 and r.json()["teamId"] is None
        assert [k["kind"] for k in _call("GET", f"{url}/v1/keys", None).json()["keys"]] == ["admin"]


def test_the_cli_manages_keys_and_reads_a_store_the_server_holds(served):
    url, creds, led, _ = served
    remote = ["--url", url, "--key", creds["admin"]]
    made, unknown, teams, stats = _cli(
        ["keys", "create", "--team", TEAM, "--label", "cli", "--format", "json", *remote],
        ["keys", "create", "--team", "team_zz", *remote],
        ["teams", "--format", "json", *remote],
        ["stats", "--format", "json", *remote],
    )
    assert made.returncode == 0, made.stderr
    new = json.loads(made.stdout)
    assert (new["team"], new["kind"], new["project"]) == (TEAM, "analytics", None)
    cred = f"{new['key']}:{new['secret']}"
    assert _call("GET", f"{url}/v1/teams", cred).status_code == 200  # works at once
    assert unknown.returncode == 2 and unknown.stderr.count("\n") == 1
    assert unknown.stderr.startswith("error: --team: team 'team_zz' has never been seen by this store")
    assert "--allow-unknown" in unknown.stderr
    assert teams.returncode == 0 and json.loads(teams.stdout) == teams_json(led.teams()), teams.stderr
    assert stats.returncode == 0 and json.loads(stats.stdout)["events"] == 3000, stats.stderr
    (listed,) = _cli(["keys", "list", "--format", "json", *remote])
    assert listed.returncode == 0, listed.stderr
    row = next(r for r in json.loads(listed.stdout) if r["key_id"] == new["key"])
    stored = next(r for r in led.api_keys() if r["key_id"] == new["key"])
    assert row == {
        **{k: v for k, v in stored.items() if k not in ("secret_hash", "salt")},
        "created_at": str(stored["created_at"]),
    }
    (revoked,) = _cli(["keys", "revoke", new["key"], *remote])
    assert revoked.returncode == 0 and f"revoked {new['key']}" in revoked.stdout, revoked.stderr
    assert _call("GET", f"{url}/v1/teams", cred).status_code == 401


def test_a_command_on_the_held_file_says_how_to_go_through_the_server(served):
    _, _, _, path = served
    (held,) = _cli(["keys", "list", "--db", path])
    assert held.returncode == 2 and held.stdout == "" and held.stderr.count("\n") == 1
    assert held.stderr.startswith(f"error: the store {path} is in use by another process (PID {os.getpid()}, ")
    for hint in ("--url http://HOST:PORT", "USAGELENS_URL", "--key key:secret", "USAGELENS_KEY", "keys, teams, mcp"):
        assert hint in held.stderr, held.stderr
    assert Path(path).exists()
