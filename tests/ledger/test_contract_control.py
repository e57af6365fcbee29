"""Ledger contract, the control store and the store itself: meta values, API key records and their
token, ``stats()``, closing (see ``contract.py``)."""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime, timedelta
from decimal import Decimal

from conftest import event, table
from ledger.contract import stored
from usagelens.ledger.base import StoreStats

T0 = datetime(2026, 3, 1, 9, 30)


def test_a_meta_value_is_none_until_set_and_each_set_replaces_it(ledger):
    assert ledger.get_meta("sync.cursor") is None
    ledger.set_meta("sync.cursor", "a")
    ledger.set_meta("other", "")
    ledger.set_meta("sync.cursor", "b ' é")
    assert (ledger.get_meta("sync.cursor"), ledger.get_meta("other"), ledger.get_meta("nope")) == ("b ' é", "", None)


def _key(key_id: str, created: datetime, **kw) -> dict:
    record = {
        "key_id": key_id,
        "secret_hash": f"hash-{key_id}",
        "salt": f"salt-{key_id}",
        "team_id": "team_a",
        "kind": "analytics",
        "project_id": None,
        "label": None,
        "created_at": created,
    }
    return record | kw


def test_key_records_are_kept_whole_listed_by_creation_and_revoked_once(ledger):
    assert ledger.api_keys() == []
    ledger.put_key(_key("ul_b", T0 + timedelta(seconds=1), kind="project", project_id="p1", label="ci"))
    ledger.put_key(_key("ul_a", T0 + timedelta(seconds=2), kind="ingest"))
    ledger.put_key(_key("ul_c", T0, team_id="team_b"))
    keys = ledger.api_keys()
    assert [k["key_id"] for k in keys] == ["ul_c", "ul_b", "ul_a"]
    assert keys[1] == _key("ul_b", T0 + timedelta(seconds=1), kind="project", project_id="p1", label="ci") | {
        "revoked_at": None
    }
    later = T0 + timedelta(days=1)
    assert ledger.revoke_key("ul_b", later) is True
    assert ledger.revoke_key("ul_b", later + timedelta(days=1)) is False  # no longer live
    assert ledger.revoke_key("ul_nope", later) is False
    assert [(k["key_id"], k["revoked_at"]) for k in ledger.api_keys()] == [
        ("ul_c", None),
        ("ul_b", later),
        ("ul_a", None),
    ]


def test_the_keys_token_changes_when_a_key_is_created_or_revoked_and_stays_while_keys_do(ledger):
    tokens = [ledger.keys_token()]

    def changed() -> None:
        token = ledger.keys_token()
        assert token not in tokens
        tokens.append(token)

    ledger.put_key(_key("ul_a", T0))
    changed()
    ledger.put_key(_key("ul_b", T0))
    changed()
    ledger.revoke_key("ul_a", T0)
    changed()
    ledger.revoke_key("ul_a", T0)  # nothing to revoke: the token may change, or not
    ledger.revoke_key("ul_nope", T0)
    tokens.append(ledger.keys_token())
    ledger.set_meta("x", "y")
    ledger.write_events(table([event(1, T0)]))
    ledger.api_keys()
    assert ledger.keys_token() == tokens[-1]


def test_stats_count_what_the_store_holds(ledger):
    empty = ledger.stats()
    assert isinstance(empty, StoreStats) and empty.backend and isinstance(empty.location, str)
    assert (empty.events, empty.first_event, empty.last_event, empty.teams, empty.total_cu) == (0, None, None, 0, 0)
    rows = [
        event(1, T0, cu=Decimal("1.25"), is_api_key=True),
        event(2, T0 + timedelta(hours=1), project_id="p2", user_id="u2", model_id=None, action="upscale"),
        event(3, T0 - timedelta(days=1), team_id="team_b", project_id="p2", cu=Decimal("-0.5"), is_api_key=True),
        event(4, T0 + timedelta(days=2), team_id="team_b", user_id="u3", model_id="m9", cu=Decimal("0.000001")),
    ]
    ledger.write_events(table(rows))
    ledger.write_events(table(rows[:2]))  # duplicates count nothing
    got = asdict(ledger.stats())
    got = {k: got[k] for k in ("events", "first_event", "last_event", "teams", "projects", "users", "models")} | {
        k: got[k] for k in ("actions", "api_key_events", "total_cu")
    }
    assert got == {
        "events": 4,
        "first_event": T0 - timedelta(days=1),
        "last_event": T0 + timedelta(days=2),
        "teams": 2,
        "projects": 4,  # (team, project) pairs: p2 of team_a and p2 of team_b are two
        "users": 3,
        "models": 2,
        "actions": 2,
        "api_key_events": 2,
        "total_cu": Decimal("1.750001"),
    }


def test_a_ledger_is_a_context_manager_that_closes_it_and_closing_twice_does_nothing(stores):
    with stores.new() as led:
        assert led.write_events(table([event(1, T0)])).written == 1
        assert [r["id"] for r in stored(led)] == ["e1"]
    led.close()
    other = stores.new()
    other.close()
    other.close()
