"""Ledger contract, entity views (CONTRACT §4): a property test over random interleavings of writes
by two teams and the shared default, and the checks the ledger makes itself (see ``contract.py``)."""

from __future__ import annotations

from typing import Any

import pyarrow as pa
import pytest
from hypothesis import given
from hypothesis import strategies as st

from ledger.contract import fresh_prefix, property_settings
from usagelens.errors import Forbidden
from usagelens.ledger.base import Ledger
from usagelens.model import ENTITY_KINDS, ENTITY_SCHEMAS

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
    """One upsert: who writes (None = the shared default), the kind, 1-3 records (unprefixed)."""
    owner = draw(st.sampled_from((None, *TEAMS)))
    kind = draw(st.sampled_from(ENTITY_KINDS))
    rows = []
    for _ in range(draw(st.integers(1, 3))):
        team = owner or draw(st.sampled_from(TEAMS))  # a team writes its own teams and projects only
        value = draw(st.none() | st.sampled_from(("Ada", "Bo", "Cy", "Dee", "é ü", "O'Neil")))
        rows.append(_row(kind, draw(st.sampled_from(IDS)), value, team))
    return owner, kind, rows


def _prefixed(p: str, owner: str | None, rows: list[dict[str, Any]]) -> tuple[str | None, list[dict[str, Any]]]:
    """This example's own ids: every team and entity id starts with ``p``."""
    keyed = ("id", "team_id")
    return (owner and p + owner), [{k: p + v if k in keyed else v for k, v in r.items()} for r in rows]


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


def _check(led: Ledger, latest: dict[Key, dict[str, Any]], p: str) -> None:
    teams = [p + t for t in TEAMS]
    for kind in ENTITY_KINDS:
        ids = teams if kind == "teams" else [p + i for i in IDS]
        for team in (*teams, None):
            assert led.entities(kind, ids, team) == _view(latest, kind, team), (kind, team)
    assert [t for t in led.teams() if t["id"].startswith(p)] == _expected_teams(latest)


@property_settings(30)
@given(st.lists(st.tuples(_write(), st.booleans()), max_size=12))
def test_each_team_sees_its_own_latest_write_else_the_latest_shared_default(ledger, writes):
    p = fresh_prefix()
    latest: dict[Key, dict[str, Any]] = {}
    for (owner, kind, plain), read_now in writes:
        owner, rows = _prefixed(p, owner, plain)
        batch = pa.Table.from_pylist(rows, schema=ENTITY_SCHEMAS[kind])
        assert ledger.upsert_entities(kind, batch, owner) == len(rows)
        for r in rows:  # the last record of a repeated id wins
            latest[(owner or "", kind, _key(kind, r))] = r
        if read_now:  # reads between writes: what is kept in memory follows every write
            _check(ledger, latest, p)
    _check(ledger, latest, p)


@pytest.mark.parametrize(
    ("kind", "row"),
    [("teams", {"id": "team_b", "name": "x"}), ("projects", {"id": "p1", "team_id": "team_b", "name": "x"})],
)
def test_the_ledger_refuses_a_teams_write_of_another_teams_team_or_project(ledger, kind, row):
    with pytest.raises(Forbidden) as e:
        ledger.upsert_entities(kind, pa.Table.from_pylist([row], schema=ENTITY_SCHEMAS[kind]), "team_a")
    assert str(e.value) == f"a key of team team_a writes {kind} of team team_a only"
    assert ledger.entities(kind, ["team_b", "p1"], "team_b") == []
    assert ledger.teams() == []


def test_unknown_and_no_ids_are_answered_with_nothing(ledger):
    users = pa.Table.from_pylist([{"id": "u1", "full_name": "Ada"}], schema=ENTITY_SCHEMAS["users"])
    assert ledger.upsert_entities("users", users) == 1
    assert ledger.upsert_entities("users", ENTITY_SCHEMAS["users"].empty_table()) == 0
    for team in ("team_a", None):
        assert ledger.entities("users", [], team) == []
        assert [r["id"] for r in ledger.entities("users", ["u2", "u1", "u1"], team)] == ["u1"]
        for kind in ENTITY_KINDS:
            assert ledger.entities(kind, ["nobody"], team) == []
