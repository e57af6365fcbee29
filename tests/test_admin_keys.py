"""Admin keys (CONTRACT §4): the platform's one credential writes and reads every team, manages keys
and reads statistics, through a real server; team keys stay within their team."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator

import httpx
import pytest

from http_server import serving
from usagelens.auth import KeyStore
from usagelens.errors import InvalidArgument
from usagelens.ledger import open_ledger
from usagelens.surfaces.http import create_app

CLI = [sys.executable, "-m", "usagelens.surfaces"]


def _event(i: int, team: str, cu: str) -> dict:
    return {
        "id": f"e{i}", "time": "2026-04-10T10:00:00Z", "teamId": team, "projectId": "p1", "userId": "u1",
        "action": "generate", "creativeUnitsCost": cu,
    }  # fmt: skip


@pytest.fixture
def server() -> Iterator[tuple[str, dict[str, str]]]:
    led = open_ledger(":memory:")
    keys = KeyStore(led)
    creds = {
        "admin": keys.create(None, "admin").credential(),
        "a": keys.create("team_a", "analytics").credential(),
        "b": keys.create("team_b", "analytics").credential(),
        "ingest_a": keys.create("team_a", "ingest").credential(),
    }
    with serving(create_app(led, require_keys=True)) as url:
        yield url, creds
    led.close()


def _call(method: str, url: str, cred: str, **kw) -> httpx.Response:
    return httpx.request(method, url, auth=tuple(cred.split(":", 1)), timeout=30, **kw)  # type: ignore[arg-type]


def _post(url: str, cred: str, events: list[dict]) -> httpx.Response:
    body = "".join(json.dumps(e) + "\n" for e in events)
    return _call("POST", f"{url}/v1/usage-events", cred, content=body, headers={"content-type": "application/x-ndjson"})


def test_one_admin_key_ingests_for_two_teams_and_each_team_sees_only_its_own(server):
    url, creds = server
    body = "".join(json.dumps(e) + "\n" for e in [_event(1, "team_a", "1.25"), _event(2, "team_b", "2.5")])
    r = _call(
        "POST", f"{url}/v1/usage-events", creds["admin"], content=body, headers={"content-type": "application/x-ndjson"}
    )
    assert r.status_code == 200, r.text
    assert r.json() == {"written": 2, "duplicates": 0}
    window = {"start_date": "2026-04-01", "end_date": "2026-04-30"}
    a = _call("GET", f"{url}/v1/usage", creds["a"], params=window).json()
    b = _call("GET", f"{url}/v1/usage", creds["b"], params=window).json()
    assert (a["scope"]["teamId"], a["totals"]["totalCU"]) == ("team_a", 1.25)
    assert (b["scope"]["teamId"], b["totals"]["totalCU"]) == ("team_b", 2.5)
    both = _call("GET", f"{url}/v1/teams", creds["admin"]).json()
    assert sorted(t["id"] for t in both["teams"]) == ["team_a", "team_b"]
    for team, cu in (("team_a", 1.25), ("team_b", 2.5)):
        r = _call("GET", f"{url}/v1/usage", creds["admin"], params={**window, "team_id": team})
        assert r.json()["totals"]["totalCU"] == cu
    # a team's ingest key still writes its own team only
    assert _post(url, creds["ingest_a"], [_event(3, "team_b", "1")]).status_code == 403


def test_store_statistics_and_shared_names_belong_to_the_admin(server):
    url, creds = server
    assert _post(url, creds["admin"], [_event(1, "team_a", "1")]).status_code == 200
    stats = _call("GET", f"{url}/v1/stats", creds["admin"])
    assert stats.status_code == 200 and stats.json()["events"] == 1
    assert _call("GET", f"{url}/v1/stats", creds["a"]).status_code == 403
    names = [{"id": "u1", "fullName": "Ada"}]
    assert _call("PUT", f"{url}/v1/entities/users", creds["admin"], json=names).status_code == 200
    seen = _call(
        "GET",
        f"{url}/v1/usage",
        creds["a"],
        params={"start_date": "2026-04-01", "end_date": "2026-04-30", "include": "entities"},
    )
    assert "Ada" in seen.text  # the admin's names are the shared default every team sees


def test_an_admin_key_has_no_team_and_a_team_key_needs_one():
    with open_ledger(":memory:") as led:
        keys = KeyStore(led)
        with pytest.raises(InvalidArgument, match="an admin key has every team; leave --team out"):
            keys.create("team_a", "admin")
        with pytest.raises(InvalidArgument, match="a key belongs to one team"):
            keys.create(None, "analytics")
        admin = keys.create(None, "admin")
        caller = keys.verify(admin.key, admin.secret)
        assert (caller.kind, caller.team_id, caller.is_platform, caller.can_write) == ("admin", None, True, True)


def test_keys_create_prints_admin_and_project_keys_whole(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "USAGELENS_DB"}
    db = str(tmp_path / "k.duckdb")

    def create(*args: str) -> dict:
        done = subprocess.run(
            [*CLI, "keys", "create", *args, "--format", "json", "--db", db],
            capture_output=True,
            text=True,
            env=env,
            timeout=60,
        )
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout)

    admin = create("--kind", "admin")
    assert (admin["team"], admin["kind"], admin["project"]) == (None, "admin", None)
    project = create("--kind", "project", "--team", "team_a", "--project", "p1", "--allow-unknown")  # empty store
    assert (project["team"], project["project"]) == ("team_a", "p1")
