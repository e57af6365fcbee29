"""The ledger contract: what every storage backend must do, checked only through the protocols.

Layout: one suite, run per backend. The suite is the ``test_contract_*.py`` files beside this
module (writes, facts, reads, entities, control store). Each test takes the ``ledger`` (or
``stores``) fixture of ``conftest.py``, parametrized over ``conftest.BACKENDS``, so every test
runs once per backend and a new backend joins by adding one entry there. This module holds what
those files share: reading back through ``UsageReader`` (never a backend's connection or
tables), a snapshot of every answer a store gives (``everything``), the event builders of the
property tests, and the oracle (``tests/reference.py``, plain Python over the written rows)
wrapped for a ``FactQuery``. What one backend does inside (its SQL, its files) is tested in that
backend's own files (``test_duckdb_*.py``), never here.

The suite speaks only ``usagelens.ledger.base`` (``UsageReader``, ``UsageWriter``,
``ControlStore``, ``Ledger``) and ``open_ledger(url)`` (and, once, ``ingest_file``, which itself
only speaks ``UsageWriter``). A backend's known bug is marked with ``known_bug`` for that backend
only, so the others still have to pass.

Property tests run all their examples against one store and give each example teams (and
entity ids) of its own, from ``fresh_prefix()``: opening a store per example costs ~0.05 s in
memory and ~0.1 s as a DuckDB file (a database per example on a server costs more), and a store
full of other teams' data also checks that answers keep teams apart. Hypothesis is told the
function-scoped fixture is shared on purpose. ``USAGELENS_FUZZ_EXAMPLES`` sets their example
count per backend (as for the other fuzz and property tests).
"""

from __future__ import annotations

import itertools
import os
from dataclasses import asdict
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import pyarrow as pa
import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from conftest import event, table
from reference import facts as reference
from usagelens.ledger.base import FACT_MEASURES, ActivityQuery, FactQuery, Ledger
from usagelens.model import ENTITY_KINDS, EVENT_SCHEMA

__all__ = [
    "BASE",
    "EVENT_COLUMNS",
    "EVER",
    "as_facts",
    "events_st",
    "everything",
    "expected_facts",
    "fresh_prefix",
    "known_bug",
    "property_settings",
    "refused",
    "rows_of",
    "stored",
    "write_in_batches",
    "written",
]

#: Columns of an event as ``activity`` returns it (the team is the query's).
EVENT_COLUMNS = tuple(n for n in EVENT_SCHEMA.names if n != "team_id")
#: A window holding every event of these tests.
EVER = (datetime(2000, 1, 1), datetime(2100, 1, 1))
#: The property tests' events start here: the month spans the EU/US spring-forward days.
BASE = datetime(2026, 3, 5)
_RUNS = itertools.count()


def property_settings(default: int) -> settings:
    """Hypothesis settings of a property test sharing one store across its examples."""
    examples = int(os.environ.get("USAGELENS_FUZZ_EXAMPLES", default))
    return settings(
        max_examples=examples,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
    )


def fresh_prefix() -> str:
    """A prefix for the team and entity ids of one property-test example (unique in the run)."""
    return f"r{next(_RUNS):05d}_"


def stored(led: Ledger, team: str = "team_a") -> list[dict[str, Any]]:
    """Every stored event of ``team``, read back through ``activity``, oldest first (ties by id)."""
    page = led.activity(ActivityQuery(team, *EVER, limit=1_000_000))
    return [{c: r[c] for c in EVENT_COLUMNS} for r in reversed(page)]


def written(rows: list[dict[str, Any]], team: str = "team_a") -> list[dict[str, Any]]:
    """What ``stored`` should read back of ``rows``: ``team``'s, oldest first (ties by id)."""
    mine = sorted((r for r in rows if r["team_id"] == team), key=lambda r: (r["time"], r["id"]))
    return [{c: r[c] for c in EVENT_COLUMNS} for r in mine]


def known_bug(request: pytest.FixtureRequest, backends: tuple[str, ...], reason: str) -> None:
    """Expect this run of a contract test to fail on ``backends`` (by ``conftest.BACKENDS`` name)
    only: strictly, so a fix shows as a failure until the mark goes, and other backends still
    have to pass."""
    if request.node.callspec.params["stores"].name in backends:
        request.applymarker(pytest.mark.xfail(strict=True, reason=reason))


def refused(call: Any, *args: Any) -> Exception:
    """The error ``call(*args)`` raises (it must raise; which error is the backend's)."""
    try:
        call(*args)
    except Exception as e:
        return e
    raise AssertionError(f"{call.__name__} accepted what it should refuse")


def as_facts(tbl: pa.Table, by: tuple[str, ...]) -> dict[tuple, dict[str, Any]]:
    """A fact table as group key -> measures."""
    return {tuple(r[d] for d in by): {k: v for k, v in r.items() if k not in by} for r in tbl.to_pylist()}


def expected_facts(rows: list[dict[str, Any]], q: FactQuery) -> dict[tuple, dict[str, Any]]:
    """What ``facts(q)`` should answer over ``rows``, from the plain-Python oracle."""
    want = reference(rows, q.team_id, q.start, q.end, q.by, q.timezone, q.project_ids, q.user_ids, q.model_ids, q.per)
    if not q.by and not want:  # totals are one row even when nothing matched
        want = {(): {m: Decimal(0) if m.endswith(("cu", "discount")) else 0 for m in FACT_MEASURES}}
    return want


def write_in_batches(led: Ledger, rows: list[dict[str, Any]], batches: int, maintained: int) -> None:
    """Write ``rows`` in ``batches`` calls; ``maintain()`` after none (0), the first (1) or every (2)."""
    step = max(1, len(rows) // batches)
    for n, i in enumerate(range(0, len(rows), step)):
        led.write_events(table(rows[i : i + step]))
        if maintained == 2 or (maintained == 1 and n == 0):
            led.maintain()


#: Events of the property tests, as specs ``rows_of`` turns into rows.
events_st = st.lists(
    st.builds(
        dict,
        minute=st.integers(0, 30 * 24 * 60),
        second=st.integers(0, 59),
        team=st.sampled_from(["team_a", "team_b"]),
        project=st.sampled_from(["p1", "p2", "p3"]),
        user=st.sampled_from(["u1", "u2", "k1"]),
        model=st.sampled_from(["m1", "m2", None]),
        action=st.sampled_from(["images-generation", "upscale", "refunds"]),
        cents=st.integers(-500, 5000),
        disc=st.integers(0, 300),
        kind=st.sampled_from([None, "image", "video"]),
        nsfw=st.sampled_from([None, ["gore"], ["gore", "nudity"]]),
    ),
    min_size=1,
    max_size=120,
)


def rows_of(spec: list[dict[str, Any]], prefix: str = "") -> list[dict[str, Any]]:
    """Event rows of ``events_st`` specs; team ids carry ``prefix`` (``team_a`` -> ``{prefix}team_a``)."""
    return [
        event(
            i,
            BASE + timedelta(minutes=s["minute"], seconds=s["second"]),
            team_id=prefix + s["team"],
            project_id=s["project"],
            user_id=s["user"],
            is_api_key=s["user"].startswith("k"),
            model_id=s["model"],
            action=s["action"],
            cu=Decimal(s["cents"]) / 100,
            discount=Decimal(s["disc"]) / 1000,
            asset_kind=s["kind"],
            nsfw=s["nsfw"],
            job_id=None if s["action"] == "upscale" and i % 2 else f"j{i}",
        )
        for i, s in enumerate(spec)
    ]


#: The fact queries of ``everything``: every dimension, every bucket, each filter.
_SNAPSHOT_QUERIES: tuple[dict[str, Any], ...] = (
    {},
    *({"by": (d,)} for d in ("project_id", "user_id", "model_id", "action", "asset_kind", "label")),
    *({"by": ("day", "model_id"), "per": p} for p in ("day", "hour", "30m", "15m", "5m", "1m")),
    {"by": ("day", "action"), "timezone": "Asia/Kathmandu"},
    {"by": ("user_id",), "project_ids": ("p1",), "user_ids": ("u1", "k1"), "model_ids": ("m1",)},
)


def everything(led: Ledger, teams: list[str], ids: list[str], window: tuple[datetime, datetime]) -> dict[str, Any]:
    """Every answer the store gives about ``teams`` and entity ``ids``: facts of each kind over
    ``window``, the activity log, entities in each view, teams, team activity and the counts of
    ``stats()`` (without ``rollup_rows``, the backend's own bookkeeping)."""
    out: dict[str, Any] = {"teams": led.teams(), "team_activity": led.team_activity()}
    stats = asdict(led.stats())
    stats.pop("rollup_rows")
    out["stats"] = stats
    for team in teams:
        for i, kw in enumerate(_SNAPSHOT_QUERIES):
            out[f"facts {team} {i}"] = led.facts(FactQuery(team, *window, **kw)).to_pylist()
        out[f"activity {team}"] = led.activity(ActivityQuery(team, *EVER, limit=1_000_000))
    for kind in ENTITY_KINDS:
        for team in (*teams, None):
            out[f"entities {kind} {team}"] = led.entities(kind, [*ids, *teams], team)
    return out
