"""API keys: created once with their secret, stored hashed, verified in constant time, revocable."""

from __future__ import annotations

import base64

import pytest

from usagelens.auth import KeyStore
from usagelens.errors import InvalidArgument, NotFound, Unauthorized


def test_a_new_key_verifies_and_its_secret_is_never_stored(ledger):
    store = KeyStore(ledger)
    new = store.create("team_a", "analytics", label="ci")
    caller = store.verify(new.key, new.secret)
    assert (caller.kind, caller.team_id, caller.project_id, caller.key_id) == ("analytics", "team_a", None, new.key)
    raw = ledger.api_keys()[0]
    assert new.secret not in str(raw) and raw["secret_hash"] and raw["salt"]
    assert "secret_hash" not in store.list()[0]


@pytest.mark.parametrize("header", ["basic", "bearer", "x-api-key"])
def test_every_header_scheme_identifies_the_caller(ledger, header):
    store = KeyStore(ledger)
    new = store.create("team_a", "project", project="p1")
    cred = new.credential()
    headers = {
        "basic": {"authorization": "Basic " + base64.b64encode(cred.encode()).decode()},
        "bearer": {"authorization": f"Bearer {cred}"},
        "x-api-key": {"x-api-key": cred},
    }[header]
    caller = store.caller(headers)
    assert (caller.kind, caller.team_id, caller.project_id) == ("project", "team_a", "p1")


@pytest.mark.parametrize(
    ("headers", "message"),
    [
        ({}, "an API key is required"),
        ({"authorization": "Basic !!!"}, "the Authorization header is not valid Basic credentials"),
        ({"authorization": "Bearer nocolon"}, "the credential must be key:secret"),
        ({"authorization": "Bearer ul_0000000000000000:guess"}, "the API key or secret is wrong"),
    ],
)
def test_bad_credentials_are_unauthorized(ledger, headers, message):
    with pytest.raises(Unauthorized) as e:
        KeyStore(ledger).caller(headers)
    assert str(e.value).startswith(message)


def test_a_wrong_secret_and_a_revoked_key_are_refused(ledger):
    store = KeyStore(ledger)
    new = store.create("team_a", "ingest")
    with pytest.raises(Unauthorized):
        store.verify(new.key, new.secret + "x")
    store.verify(new.key, new.secret)
    store.revoke(new.key)
    with pytest.raises(Unauthorized):
        store.verify(new.key, new.secret)
    with pytest.raises(NotFound):
        store.revoke(new.key)


@pytest.mark.parametrize(
    ("kind", "project", "message"),
    [
        ("owner", None, "--kind: 'owner' is not a key kind (accepted: admin, analytics, project, ingest)"),
        ("admin", None, "--team: an admin key has every team; leave --team out"),
        ("project", None, "--project: a project key needs --project, and only project keys take one"),
        ("analytics", "p1", "--project: a project key needs --project, and only project keys take one"),
    ],
)
def test_invalid_keys_are_not_created(ledger, kind, project, message):
    with pytest.raises(InvalidArgument) as e:
        KeyStore(ledger).create("team_a", kind, project)
    assert str(e.value) == message
    assert ledger.api_keys() == []
