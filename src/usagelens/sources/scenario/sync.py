"""``usagelens sync scenario``: copy a Scenario account's activity into a local ledger.

For each team of the account (``teams.list()``, or the ones asked for), the window from
``since`` to ``until`` (default now) is cut into windows of at most ``WINDOW_EVENTS`` usage events
(counted from the ``usages`` series) and 120 days; each window's activity is read page by page
(``activityOffset``), mapped onto CONTRACT §1 (``activity.py``) and written with one
``write_events`` call, so it is stored all or nothing. The entities the pages reference follow,
then the team's sync state in the ledger's ``meta`` (``scenario.sync.<team id>``: the covered
interval). A failed sync leaves whole windows behind it and resumes where it stopped.

Re-running is idempotent: events keep Scenario's ``id`` (or a stable fingerprint) and the ledger
skips ids it holds. The last ``REREAD`` of the covered interval is read again on the next run,
to pick up events Scenario records late; they count as duplicates when nothing changed.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any, Protocol

import pyarrow as pa

from usagelens.errors import InvalidArgument, NotFound
from usagelens.jsonout import instant
from usagelens.ledger.base import ControlStore, Team, UsageWriter
from usagelens.model import ENTITY_SCHEMAS, EVENT_SCHEMA, with_defaults
from usagelens.sources.scenario import ScenarioLedger
from usagelens.sources.scenario.activity import assign_ids, entity_rows, is_usage
from usagelens.sources.scenario.plan import MAX_SPAN, parse_instant


class SyncTarget(UsageWriter, ControlStore, Protocol):
    """Where a sync writes: events and entities, and the state of where it stopped."""


__all__ = ["META_PREFIX", "REREAD", "WINDOW_EVENTS", "SyncReport", "parse_bound", "sync_scenario"]

META_PREFIX = "scenario.sync."
REREAD = timedelta(hours=1)
WINDOW_EVENTS = 20_000
#: ``progress(team_id, entries_read, entries_expected)``.
Progress = Callable[[str, int, int], None]


@dataclass
class SyncReport:
    """What a sync did."""

    read: int = 0
    written: int = 0
    duplicates: int = 0
    skipped: int = 0
    teams: int = 0
    windows: int = 0
    seconds: float = 0.0

    def line(self) -> str:
        """The final line the CLI prints."""
        return (
            f"synced {self.teams} team{'s' if self.teams != 1 else ''} from Scenario: read {self.read:,}, "
            f"written {self.written:,}, duplicates {self.duplicates:,}, skipped {self.skipped:,} (not usage) "
            f"in {self.windows:,} window{'s' if self.windows != 1 else ''} in {self.seconds:.1f} s"
        )


@dataclass
class _Window:
    start: datetime
    end: datetime
    expected: int
    backward: bool


@dataclass
class _State:
    start: datetime
    until: datetime
    ranges: list[tuple[datetime, datetime, bool]] = field(default_factory=list)


def parse_bound(text: str, option: str, end: bool = False) -> datetime:
    """``--since``/``--until`` as a naive UTC instant: a date is its midnight (UTC), the next one
    for ``end`` (the day is included); a date-time without offset is UTC."""
    try:
        if len(text) == 10:
            d = date.fromisoformat(text) + timedelta(days=1 if end else 0)
            return datetime(d.year, d.month, d.day)
        return parse_instant(text)
    except ValueError:
        raise InvalidArgument(
            f"{option}: '{text}' is not a date; use YYYY-MM-DD or an ISO 8601 date-time such as 2026-01-01T00:00:00Z"
        ) from None


def _load_state(ledger: ControlStore, team_id: str, since: datetime, end: datetime) -> _State:
    """The stored covered interval and the ranges this run reads (newest data first)."""
    raw = ledger.get_meta(META_PREFIX + team_id)
    try:
        stored = json.loads(raw) if raw else None
        start, until = (parse_instant(stored["from"]), parse_instant(stored["until"])) if stored else (end, end)
    except (ValueError, KeyError, TypeError):  # an unreadable state: sync the period again (idempotent)
        stored = None
    if stored and since <= until and end >= start:
        state = _State(start, until)
        forward = max(since, until - REREAD, start)
        if forward < end:
            state.ranges.append((forward, end, False))
        if since < start:
            state.ranges.append((since, min(start, end), True))
        return state
    return _State(since, since, [(since, end, False)])


def _save_state(ledger: ControlStore, team_id: str, state: _State) -> None:
    value = json.dumps({"from": instant(state.start), "until": instant(state.until)})
    ledger.set_meta(META_PREFIX + team_id, value)


def _windows(source: ScenarioLedger, team_id: str, start: datetime, end: datetime, backward: bool) -> list[_Window]:
    """Consecutive windows covering ``[start, end)``, each with few enough events to hold."""
    days = source.event_counts(team_id, start, end)
    pieces: list[tuple[datetime, datetime, int]] = []
    t = start
    while t < end:
        day = t.replace(hour=0, minute=0, second=0, microsecond=0)
        nxt = min(day + timedelta(days=1), end)
        n = days.get(day, 0)
        if n > WINDOW_EVENTS:  # a busy day: hour by hour
            hours = source.event_counts(team_id, t, nxt, per="hour")
            h = t
            while h < nxt:
                hour = h.replace(minute=0, second=0, microsecond=0)
                pieces.append((h, min(hour + timedelta(hours=1), nxt), hours.get(hour, 0)))
                h = pieces[-1][1]
        else:
            pieces.append((t, nxt, n))
        t = nxt
    out: list[_Window] = []
    for a, b, n in pieces:
        last = out[-1] if out else None
        if last and last.expected + n <= WINDOW_EVENTS and b - last.start <= MAX_SPAN:
            last.end, last.expected = b, last.expected + n
        else:
            out.append(_Window(a, b, n, backward))
    return out[::-1] if backward else out


def _choose(visible: list[Team], wanted: list[str] | None) -> list[Team]:
    names = ", ".join(t["id"] for t in visible) or "none"
    if not visible:
        raise NotFound("the Scenario account has no team these credentials can see")
    if not wanted:
        return visible
    for w in wanted:
        if w not in {t["id"] for t in visible}:
            raise NotFound(f"--team: '{w}' is not a team these Scenario credentials can see; use one of: {names}")
    return [t for t in visible if t["id"] in set(wanted)]


def _upsert(ledger: UsageWriter, kind: str, rows: list[dict[str, Any]]) -> None:
    if rows:
        ledger.upsert_entities(kind, pa.Table.from_pylist(rows, schema=ENTITY_SCHEMAS[kind]))


def _sync_window(
    ledger: UsageWriter, source: ScenarioLedger, team_id: str, w: _Window, tick: Callable[[int], None]
) -> tuple[int, int, int]:
    """Read, map and write one window: (written, duplicates, skipped)."""
    entries: list[dict[str, Any]] = []
    events: list[dict[str, Any]] = []
    entities: dict[str, dict[str, dict[str, Any]]] = {}
    for page, ents in source.pages(team_id, w.start, w.end):
        entries += page
        try:
            events += source.events(page, ents, team_id, ids=False)
            for kind, rows in entity_rows(ents).items():
                entities.setdefault(kind, {}).update({r["id"]: r for r in rows})
        except ValueError as e:
            raise source.client.malformed("GET /v1/usages", str(e)) from None
        tick(len(page))
    assign_ids(entries, events)
    keep = [e for entry, e in zip(entries, events, strict=True) if is_usage(entry) and w.start <= e["time"] < w.end]
    result = ledger.write_events(with_defaults(pa.Table.from_pylist(keep, schema=EVENT_SCHEMA)))
    for kind, by_id in entities.items():
        _upsert(ledger, kind, list(by_id.values()))
    return result.written, result.duplicates, len(entries) - len(keep)


def _sync_team(
    ledger: SyncTarget,
    source: ScenarioLedger,
    team_id: str,
    state: _State,
    windows: list[_Window],
    report: SyncReport,
    total: int,
    progress: Progress | None,
) -> None:
    """Copy one team's windows in order, saving where it stopped after each (resumable)."""

    def tick(n: int) -> None:
        report.read += n
        if progress:
            progress(team_id, report.read, max(total, report.read))

    for w in windows:
        written, duplicates, skipped = _sync_window(ledger, source, team_id, w, tick)
        report.written += written
        report.duplicates += duplicates
        report.skipped += skipped
        report.windows += 1
        if w.backward:
            state.start = min(state.start, w.start)
        else:
            state.until = max(state.until, w.end)
        _save_state(ledger, team_id, state)
    if not windows:
        _save_state(ledger, team_id, state)


def sync_scenario(
    ledger: SyncTarget,
    source: ScenarioLedger,
    since: datetime,
    until: datetime | None = None,
    teams: list[str] | None = None,
    progress: Progress | None = None,
    now: datetime | None = None,
) -> SyncReport:
    """Copy the activity of ``source``'s teams from ``since`` to ``until`` into ``ledger``."""
    clock = time.monotonic()
    now = now or datetime.now(UTC).replace(tzinfo=None, microsecond=0)
    end = min(until or now, now)
    if since >= end:
        raise InvalidArgument(f"--since ({instant(since)}) must be before --until and now ({instant(end)})")
    chosen = _choose(source.teams(), teams)
    _upsert(ledger, "teams", [{"id": t["id"], "name": t["name"]} for t in chosen])
    _upsert(
        ledger,
        "projects",
        [{"id": p["id"], "team_id": t["id"], "name": p["name"]} for t in chosen for p in t["projects"]],
    )
    plans = []
    for t in chosen:
        state = _load_state(ledger, t["id"], since, end)
        windows = [w for a, b, back in state.ranges for w in _windows(source, t["id"], a, b, back)]
        plans.append((t["id"], state, windows))
    report = SyncReport(teams=len(chosen))
    total = sum(w.expected for _, _, ws in plans for w in ws)
    for team_id, state, windows in plans:
        _sync_team(ledger, source, team_id, state, windows, report, total, progress)
    report.seconds = time.monotonic() - clock
    return report
