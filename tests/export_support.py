"""What the export tests share: the demo store, the answers two stores must agree on, and a fresh
store loaded from exported files through the real ingest."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from conftest import SMALL_DEMO
from usagelens.auth import Caller
from usagelens.demo import demo_entities, demo_events
from usagelens.export import EventExport, ExportScope, entity_table, write_entities
from usagelens.ingest.pipeline import ingest_file
from usagelens.ledger.duckdb import DuckDBLedger
from usagelens.model import ENTITY_KINDS
from usagelens.query import INCLUDES, UsageArgs
from usagelens.service import list_teams, team_members, usage

#: The demo's team and one of its projects; the answers' "now".
TEAM, OTHER, PROJECT = "team_b_0", "team_b_1", "proj_b_2"
NOW = datetime(2026, 5, 1, 12)
SUFFIX = {"jsonl": "jsonl", "csv": "csv", "parquet": "parquet"}


def demo_store(path: str = ":memory:") -> DuckDBLedger:
    """``SMALL_DEMO`` with its names (the shared default), in a new store at ``path``."""
    led = DuckDBLedger(path)
    for kind, t in demo_entities(SMALL_DEMO).items():
        led.upsert_entities(kind, t)
    for batch in demo_events(SMALL_DEMO):
        led.write_events(batch)
    return led


def answers(led: DuckDBLedger, team: str = TEAM) -> list[str]:
    """The answers a copy of ``team`` must give exactly as the original: every include, another
    timezone with an activity page, Markdown over ragged instants, one project, the members and
    the team list, as the team's analytics key sees them."""
    caller = Caller(kind="analytics", team_id=team)
    queries = [
        UsageArgs(team_id=team, start_date="2026-03-01", end_date="2026-04-30", include=list(INCLUDES)),
        UsageArgs(
            team_id=team,
            start_date="2026-04-01",
            end_date="2026-04-20",
            timezone="Asia/Kathmandu",
            include=["usages.daily", "activity", "entities"],
            activity_offset=100,
        ),
        UsageArgs(
            team_id=team, start_date="2026-03-10T10:07:00Z", end_date="2026-04-02T03:00:00Z", response_format="markdown"
        ),
        UsageArgs(team_id=team, project_id=PROJECT, start_date="2026-03-01", end_date="2026-04-30", include=["usages"]),
    ]
    texts = [usage(led, caller, q, now=NOW).text for q in queries]
    texts.append(team_members(led, caller, team, now=NOW).text)
    texts.append(list_teams(led, caller).text)
    return texts


def export_all(led: DuckDBLedger, fmt: str, folder: Path, scope: ExportScope) -> dict[str, Path]:
    """The scope's events and every entity kind in ``fmt``, through the core, as files in ``folder``."""
    files = {"events": folder / f"events.{SUFFIX[fmt]}"}
    with files["events"].open("wb") as sink:
        EventExport(led, scope, None, None).write(fmt, sink)
    for kind in ENTITY_KINDS:
        path = folder / f"{kind}.{SUFFIX[fmt]}"
        with path.open("wb") as sink:
            if write_entities(entity_table(led, scope, kind), kind, fmt, sink):
                files[kind] = path  # ingest refuses a file without records (the demo names no jobs)
    return files


def load(files: dict[str, Path]) -> DuckDBLedger:
    """A new store holding what ``usagelens ingest`` reads from ``files`` (``events`` and kinds)."""
    led = DuckDBLedger(":memory:")
    for kind, path in files.items():
        ingest_file(led, str(path), kind=kind)
    return led
