"""``POST /v1/keys`` with the platform's key, under arbitrary bodies: never a 5xx, and a refused
body creates no key (nothing partly written); a created key belongs to the team it names."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import event, table
from http_server import serving
from usagelens.auth import KeyStore
from usagelens.ledger import open_ledger
from usagelens.surfaces.http import create_app

_LEAF = st.none() | st.booleans() | st.integers() | st.text(max_size=8) | st.sampled_from(["team_a", "p1", "admin"])
_KEYS = st.sampled_from(["kind", "teamId", "projectId", "label", "allowUnknown", "x"])
_BODY = st.recursive(_LEAF, lambda c: st.lists(c, max_size=3) | st.dictionaries(_KEYS, c, max_size=5), max_leaves=10)


@pytest.fixture(scope="module")
def server() -> Iterator[tuple[str, tuple[str, str], KeyStore]]:
    from datetime import datetime

    led = open_ledger(":memory:")
    led.write_events(table([event(1, datetime(2026, 4, 1), team_id="team_a", project_id="p1")]))
    keys = KeyStore(led)
    admin = keys.create(None, "admin")
    with serving(create_app(led, require_keys=True)) as url:
        yield url, (admin.key, admin.secret), keys
    led.close()


@given(body=_BODY)
@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_no_body_gives_a_5xx_or_a_key_it_refused(server, body):
    url, admin, keys = server
    before = {k["key_id"] for k in keys.list()}
    r = httpx.post(f"{url}/v1/keys", json=body, auth=admin, timeout=30)
    assert r.status_code < 500, r.text
    created = {k["key_id"]: k for k in keys.list()}.keys() - before
    if r.status_code == 201:
        got = r.json()
        assert created == {got["key"]}
        if not (isinstance(body, dict) and body.get("allowUnknown") is True):
            assert got["teamId"] in (None, "team_a")  # only a team the store has seen
        if got["teamId"] is None:
            assert got["kind"] == "admin"
    else:
        assert created == set() and "error" in r.json()
