"""The ledger's per-team entity views (CONTRACT §4): a property test over random interleavings of
writes by two teams and the shared default, the checks the ledger makes itself, and the upgrade of
a schema-5 store (entities without owner) in place."""

from __future__ import annotations

import os
from datetime import datetime
from typing import Any

import duckdb
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import event, table
from usagelens.errors import Forbidden, Unavailable
from usagelens.ledger.duckdb import DuckDBLedger
from usagelens.model import ENTITY_KINDS, ENTITY_SCHEMAS

EXAMPLES = int(os.environ.get("USAGELENS_FUZZ_EXAMPLES", "80"))
TEAMS = ("team_a", "team_b")
IDS = ("x1", "x2", "x3")
Key = tuple[str, str, tuple[str, ...]]  # (owner, kind, entity key)


def _row(kind: str, id_: str, value: str | None, team: str) -> dict[str, Any]:
    """A record of ``kind`` in ledger columns whose every field derives from ``value``."""
    return {
        "teams": {"id": team, "name": value},
        "projects": {"id": id_, "team_id": team, "name": value},
        "users": {"id": id_, "full_name": value, "email": value and f"{value}@x", "is_api_key": value is None},
        "models": {"id": id_, "name": value, "short_description": value},
        "jobs": {"id": id_, "job_type": value, "status": "success"},
        "assets": {"id": id_, "kind": "image" if value else None, "source": value},
    }[kind]


def _key(kind: str, row: dict[str, Any]) -> tuple[str, ...]:
    return (row["team_id"], row["id"]) if kind == "projects" else (row["id"],)


@st.composite
def _write(draw: st.DrawFn) -> tuple[str | None, str, list[dict[str, Any]]]:
    """One upsert: who writes (None = the shared default), the kind, 1-3 records."""
    owner = draw(st.sampled_from((None, *TEAMS)))
    kind = draw(st.sampled_from(ENTITY_KINDS))
    rows = []
    for _ in range(draw(st.integers(1, 3))):
        team = owner or draw(st.sampled_from(TEAMS))  # a team writes its own teams and projects only
        value = draw(st.none() | st.sampled_from(("Ada", "Bo", "Cy", "Dee", "é ü", "O'Neil")))
        rows.append(_row(kind, draw(st.sampled_from(IDS)), value, team))
    return owner, kind, rows


def _view(latest: dict[Key, dict[str, Any]], kind: str, team: str | None) -> list[dict[str, Any]]:
    """What ``team`` should see of ``kind``: its own latest row, else the latest default.

    Teams and projects belong to one team: only that team's view exists (``team`` None: every
    team's); other kinds with ``team`` None: the shared default only."""
    out = []
    for key in sorted({k for (_, kd, k) in latest if kd == kind}, key=lambda k: (k[-1], k)):
        viewer = team
        if kind in ("teams", "projects"):
            if team is not None and key[0] != team:
                continue
            viewer = key[0]
        row = latest.get((viewer, kind, key)) if viewer is not None else None
        row = row or latest.get(("", kind, key))
        if row is not None:
            out.append(row)
    return out


def _expected_teams(latest: dict[Key, dict[str, Any]]) -> list[dict[str, Any]]:
    teams = sorted({k[0] for (_, kind, k) in latest if kind in ("teams", "projects")})
    out = []
    for t in teams:
        named = _view(latest, "teams", t)
        projects = [{"id": p["id"], "name": p["name"]} for p in _view(latest, "projects", t)]
        out.append({"id": t, "name": named[0]["name"] if named else None, "projects": projects})
    return out


def _check(led: DuckDBLedger, latest: dict[Key, dict[str, Any]]) -> None:
    for kind in ENTITY_KINDS:
        ids = list(TEAMS) if kind == "teams" else list(IDS)
        for team in (*TEAMS, None):
            assert led.entities(kind, ids, team) == _view(latest, kind, team), (kind, team)
    assert led.teams() == _expected_teams(latest)


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.lists(st.tuples(_write(), st.booleans()), max_size=12))
def test_each_team_sees_its_own_latest_write_else_the_latest_shared_default(writes):
    latest: dict[Key, dict[str, Any]] = {}
    with DuckDBLedger(":memory:") as led:
        for (owner, kind, rows), read_now in writes:
            assert led.upsert_entities(kind, pa.Table.from_pylist(rows, schema=ENTITY_SCHEMAS[kind]), owner) == len(
                rows
            )
            for r in rows:  # the last record of a repeated id wins
                latest[(owner or "", kind, _key(kind, r))] = r
            if read_now:  # reads between writes: what is kept in memory follows every write
                _check(led, latest)
        _check(led, latest)


@pytest.mark.parametrize(
    ("kind", "row"),
    [("teams", {"id": "team_b", "name": "x"}), ("projects", {"id": "p1", "team_id": "team_b", "name": "x"})],
)
def test_the_ledger_refuses_a_teams_write_of_another_teams_team_or_project(ledger, kind, row):
    with pytest.raises(Forbidden) as e:
        ledger.upsert_entities(kind, pa.Table.from_pylist([row], schema=ENTITY_SCHEMAS[kind]), "team_a")
    assert str(e.value) == f"a key of team team_a writes {kind} of team team_a only"
    assert ledger.entities(kind, ["team_b", "p1"], "team_b") == []


_V5 = {
    "teams": "id VARCHAR, name VARCHAR, PRIMARY KEY (id)",
    "projects": "id VARCHAR, team_id VARCHAR, name VARCHAR, PRIMARY KEY (team_id, id)",
    "users": "id VARCHAR, full_name VARCHAR, email VARCHAR, is_api_key BOOLEAN, PRIMARY KEY (id)",
    "models": "id VARCHAR, name VARCHAR, short_description VARCHAR, PRIMARY KEY (id)",
    "jobs": "id VARCHAR, job_type VARCHAR, status VARCHAR, PRIMARY KEY (id)",
    "assets": "id VARCHAR, kind VARCHAR, source VARCHAR, PRIMARY KEY (id)",
}


def _make_v5(path: str) -> None:
    """A store as usagelens with schema 5 wrote it: entity tables without an owner."""
    with DuckDBLedger(path) as led:
        led.write_events(table([event(1, datetime(2026, 4, 10))]))
    con = duckdb.connect(path)
    for kind, cols in _V5.items():
        con.execute(f"DROP TABLE {kind}")
        con.execute(f"CREATE TABLE {kind} ({cols})")
    con.execute("INSERT INTO teams VALUES ('team_a', 'Aurora')")
    con.execute("INSERT INTO projects VALUES ('proj_1', 'team_a', 'Main')")
    con.execute("INSERT INTO users VALUES ('user_1', 'Ada', 'ada@x', false)")
    con.execute("UPDATE meta SET value = '5' WHERE key = 'schema_version'")
    con.close()


def test_a_schema_5_store_is_upgraded_in_place_and_its_names_become_the_shared_default(store_path):
    _make_v5(store_path)
    with DuckDBLedger(store_path) as led:
        assert led.get_meta("schema_version") == "6"
        assert led.teams() == [{"id": "team_a", "name": "Aurora", "projects": [{"id": "proj_1", "name": "Main"}]}]
        ada = {"id": "user_1", "full_name": "Ada", "email": "ada@x", "is_api_key": False}
        assert led.entities("users", ["user_1"], "team_a") == [ada]
        assert led.entities("users", ["user_1"], "team_b") == [ada]
        renamed = pa.Table.from_pylist([{"id": "user_1", "full_name": "A."}], schema=ENTITY_SCHEMAS["users"])
        led.upsert_entities("users", renamed, "team_b")
        assert led.entities("users", ["user_1"], "team_a") == [ada]
        assert led.stats().events == 1


def test_a_schema_5_store_opened_read_only_says_how_to_upgrade_it(store_path):
    _make_v5(store_path)
    with pytest.raises(Unavailable) as e:
        DuckDBLedger(store_path, read_only=True)
    assert str(e.value) == (
        f"the store {store_path} has schema version 5, this usagelens needs 6; "
        "open it once without read-only to upgrade it"
    )
