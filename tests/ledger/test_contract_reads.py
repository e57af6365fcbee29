"""Ledger contract, reads besides facts: the activity log, teams and their activity, the cache
token, and maintenance that changes no answer (see ``contract.py``; entity views have their own
file)."""

from __future__ import annotations

from datetime import datetime, timedelta

import pyarrow as pa
from hypothesis import given
from hypothesis import strategies as st

from conftest import event, table
from ledger.contract import (
    BASE,
    EVER,
    events_st,
    everything,
    fresh_prefix,
    property_settings,
    rows_of,
    stored,
    write_in_batches,
)
from usagelens.ledger.base import ActivityQuery
from usagelens.model import ENTITY_SCHEMAS

T0 = datetime(2026, 3, 1, 9, 30)


def _ids(page: list[dict]) -> list[str]:
    return [r["id"] for r in page]


def test_activity_is_newest_first_with_ties_broken_by_id_descending_and_pages_through_offset(ledger):
    times = {"e1": T0, "e2": T0, "e10": T0, "e3": T0 + timedelta(seconds=1), "e4": T0 - timedelta(microseconds=1)}
    times |= {f"f{i}": T0 - timedelta(hours=i) for i in range(1, 8)}
    ledger.write_events(table([event(0, t, id=i) for i, t in times.items()]))
    ledger.write_events(table([event(0, T0 + timedelta(minutes=1), id="e5", team_id="team_b")]))
    full = ledger.activity(ActivityQuery("team_a", *EVER))
    assert _ids(full) == ["e3", "e2", "e10", "e1", "e4", *(f"f{i}" for i in range(1, 8))]
    for size in (1, 2, 5):
        pages = [ledger.activity(ActivityQuery("team_a", *EVER, offset=o, limit=size)) for o in range(0, 12, size)]
        assert [r for p in pages for r in p] == full
        assert all(len(p) == size for p in pages[:-1])
    assert ledger.activity(ActivityQuery("team_a", *EVER, offset=12)) == []
    assert ledger.activity(ActivityQuery("team_a", *EVER, limit=0)) == []


def test_activity_holds_the_window_start_not_its_end_and_filters_by_project_and_user(ledger):
    rows = [
        event(i, T0 + timedelta(minutes=i), project_id=f"p{i % 2}", user_id=f"u{i % 3}", team_id=t)
        for i in range(12)
        for t in ("team_a", "team_b")
    ]
    ledger.write_events(table(rows))
    start, end = T0 + timedelta(minutes=2), T0 + timedelta(minutes=10)

    def ids(**kw) -> list[str]:
        return _ids(ledger.activity(ActivityQuery("team_a", start, end, **kw)))

    assert ids() == [f"e{i}" for i in range(9, 1, -1)]
    assert ids(project_ids=("p1",)) == ["e9", "e7", "e5", "e3"]
    assert ids(user_ids=("u0", "u2")) == ["e9", "e8", "e6", "e5", "e3", "e2"]
    assert ids(project_ids=("p0",), user_ids=("u0",)) == ["e6"]
    assert ids(project_ids=()) == [] and ids(user_ids=("nobody",)) == []


def test_teams_and_projects_seen_in_events_are_listed_with_the_names_each_team_sees(ledger):
    ledger.write_events(
        table([event(1, T0), event(2, T0, project_id="proj_2"), event(3, T0, team_id="team_b", project_id="p9")])
    )
    assert ledger.teams() == [
        {"id": "team_a", "name": None, "projects": [{"id": "proj_1", "name": None}, {"id": "proj_2", "name": None}]},
        {"id": "team_b", "name": None, "projects": [{"id": "p9", "name": None}]},
    ]
    teams = pa.Table.from_pylist([{"id": "team_a", "name": "Aurora"}, {"id": "team_c", "name": "Cedar"}])
    ledger.upsert_entities("teams", teams.cast(ENTITY_SCHEMAS["teams"]))
    own = pa.Table.from_pylist(
        [{"id": "proj_2", "team_id": "team_a", "name": "Two"}], schema=ENTITY_SCHEMAS["projects"]
    )
    ledger.upsert_entities("projects", own, "team_a")
    assert ledger.teams() == [
        {
            "id": "team_a",
            "name": "Aurora",
            "projects": [{"id": "proj_1", "name": None}, {"id": "proj_2", "name": "Two"}],
        },
        {"id": "team_b", "name": None, "projects": [{"id": "p9", "name": None}]},
        {"id": "team_c", "name": "Cedar", "projects": []},
    ]


def _activity(rows: list[dict], team: str) -> dict:
    mine = [r for r in rows if r["team_id"] == team]
    projects = sorted({r["project_id"] for r in mine})
    return {
        "users_count": len({r["user_id"] for r in mine}),
        "created_at": min(r["time"] for r in mine),
        "projects": {
            p: {
                "users_count": len({r["user_id"] for r in mine if r["project_id"] == p}),
                "created_at": min(r["time"] for r in mine if r["project_id"] == p),
            }
            for p in projects
        },
    }


@property_settings(15)
@given(spec=events_st, batches=st.integers(1, 3), maintained=st.sampled_from([0, 1, 2]), late=st.integers(0, 60))
def test_team_activity_counts_identities_and_first_events(ledger, spec, batches, maintained, late):
    prefix = fresh_prefix()
    rows = rows_of(spec, prefix)
    # a project that starts weeks later, in a week of its own
    rows.append(
        event("late", BASE + timedelta(days=30 + late, minutes=late), team_id=prefix + "team_a", project_id="p9")
    )
    write_in_batches(ledger, rows, batches, maintained)
    got = {t: a for t, a in ledger.team_activity().items() if t.startswith(prefix)}
    assert got == {t: _activity(rows, t) for t in {r["team_id"] for r in rows}}


def test_team_activity_follows_writes(ledger):
    assert ledger.team_activity() == {}
    ledger.write_events(table([event(1, datetime(2026, 4, 2, 10, 30, 5), user_id="u1")]))
    first = ledger.team_activity()["team_a"]
    assert first["users_count"] == 1 and first["created_at"] == datetime(2026, 4, 2, 10, 30, 5)
    ledger.write_events(table([event(2, datetime(2026, 3, 1, 0, 0, 1), user_id="u2", project_id="p2")]))
    again = ledger.team_activity()["team_a"]
    assert again["users_count"] == 2 and again["created_at"] == datetime(2026, 3, 1, 0, 0, 1)
    assert again["projects"]["p2"] == {"users_count": 1, "created_at": datetime(2026, 3, 1, 0, 0, 1)}


WINDOW = (datetime(2026, 2, 27, 13, 7), datetime(2026, 3, 4))


def test_the_cache_token_changes_with_every_write_and_stays_while_nothing_is_written(ledger):
    names = pa.Table.from_pylist([{"id": "u1", "full_name": "Ada"}], schema=ENTITY_SCHEMAS["users"])
    writes = [
        lambda: ledger.write_events(table([event(1, T0, user_id="u1")])),
        lambda: ledger.write_events_many([table([event(2, T0)]), table([event(3, T0, team_id="team_b")])]),
        lambda: ledger.upsert_entities("users", names),
        lambda: ledger.upsert_entities("users", names, "team_a"),
        lambda: ledger.write_events(table([event(4, T0 + timedelta(days=1))])),
    ]
    tokens = [ledger.cache_token()]
    for write in writes:
        write()
        token = ledger.cache_token()
        assert token is not None and token not in tokens
        tokens.append(token)
        everything(ledger, ["team_a", "team_b"], ["u1"], WINDOW)  # reads, and the control store, change nothing
        ledger.set_meta("k", str(token))
        ledger.get_meta("k")
        ledger.api_keys()
        assert ledger.cache_token() == token


def test_two_stores_never_share_a_cache_token(stores):
    # answers are cached under the token alone (service._cached), so equal tokens of two stores
    # would serve one store's answers for the other's
    a, b = stores.new(), stores.new()
    seen = {a.cache_token(), b.cache_token()}
    for i in range(3):
        for led in (a, b):
            led.write_events(table([event(i, T0)]))
            seen.add(led.cache_token())
    assert len(seen) == 8


def test_maintenance_changes_no_answer(ledger):
    for b in range(6):
        ledger.write_events(
            table(
                [
                    event(f"{b}-{i}", T0 + timedelta(minutes=17 * i + b), team_id=f"team_{'ab'[i % 2]}")
                    | {"user_id": f"u{i % 4}", "model_id": f"m{i % 3}", "nsfw": ["gore"] if i % 5 == 0 else None}
                    for i in range(150)
                ]
            )
        )
    names = pa.Table.from_pylist([{"id": "u1", "full_name": "Ada"}], schema=ENTITY_SCHEMAS["users"])
    ledger.upsert_entities("users", names)
    before = everything(ledger, ["team_a", "team_b"], ["u1", "u2"], WINDOW)
    ledger.maintain()
    assert everything(ledger, ["team_a", "team_b"], ["u1", "u2"], WINDOW) == before
    ledger.maintain()  # again, with nothing left to do
    assert everything(ledger, ["team_a", "team_b"], ["u1", "u2"], WINDOW) == before
    assert len(stored(ledger)) == 450
