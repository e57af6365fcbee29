"""Copy a whole store into another (``usagelens migrate``): events, voids, entities, keys, sync state.

Callers can rely on: a copy is idempotent (events are deduplicated by ``(team_id, id)``, entities
and keys are upserts) and resumable (events go month by month and the target records the last
month done, so a copy cut short starts again after it); ``compare`` then checks that both stores
answer the same: teams, each team's activity and counts, and each team's full ``usage`` answer
over its last 120 days of data, byte for byte.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import pyarrow.compute as pc

from usagelens.auth import Caller
from usagelens.ledger.base import Ledger
from usagelens.model import ENTITY_KINDS
from usagelens.query import INCLUDES, UsageArgs, max_window_days
from usagelens.service import usage

__all__ = ["CopyResult", "compare", "copy_store"]

Progress = Callable[[str, int, int], None]
#: Kept by the store itself (never copied): the schema it has, its keys' change token.
_OWN_META = ("schema_version", "keys_token")
_DONE = "migrate.done:"


@dataclass
class CopyResult:
    """What a copy did."""

    events: int = 0  # events read from the source
    written: int = 0  # of them, new in the target
    entities: int = 0
    keys: int = 0
    voids: int = 0  # void records (corrections) new in the target
    skipped_months: list[str] = field(default_factory=list)  # done by an earlier, interrupted copy


def _months(first: datetime, last: datetime) -> Iterator[tuple[str, datetime, datetime]]:
    y, m = first.year, first.month
    while (y, m) <= (last.year, last.month):
        start = datetime(y, m, 1)
        y, m = (y + 1, 1) if m == 12 else (y, m + 1)
        yield f"{start:%Y-%m}", start, datetime(y, m, 1)


def copy_store(source: Ledger, target: Ledger, progress: Progress | None = None) -> CopyResult:
    """Copy everything ``source`` holds into ``target``; see the module docstring."""
    result = CopyResult()
    for kind in ENTITY_KINDS:
        rows = source.entity_rows(kind)
        for owner in pc.unique(rows["owner"]).to_pylist():
            mine = rows.filter(pc.equal(rows["owner"], owner)).drop_columns(["owner"])
            result.entities += target.upsert_entities(kind, mine, owner or None)
    stats = source.stats()
    done_key = _DONE + stats.location
    done = target.get_meta(done_key) or ""
    if stats.first_event is not None and stats.last_event is not None:
        for month, start, end in _months(stats.first_event, stats.last_event):
            if month <= done:
                result.skipped_months.append(month)
                continue
            for batch in source.events(start=start, end=end):
                result.events += batch.num_rows
                result.written += target.write_events(batch).written
                if progress:
                    progress(f"events {month}", result.events, stats.events)
            target.set_meta(done_key, month)
    result.voids = target.put_voids(source.voids())  # the audit trail; their ids stay taken
    known = {k["key_id"] for k in target.api_keys()}
    for record in source.api_keys():
        if record["key_id"] not in known:
            target.put_key(record)
            result.keys += 1
    for key, value in source.meta_items().items():
        if key not in _OWN_META and not key.startswith(_DONE):
            target.set_meta(key, value)
    target.maintain()
    return result


def compare(a: Ledger, b: Ledger) -> list[str]:
    """What differs between the answers of ``a`` and ``b`` (empty: they answer the same)."""
    diffs = []
    if a.teams() != b.teams():
        diffs.append("the team lists differ")
    if a.voids().to_pylist() != b.voids().to_pylist():
        diffs.append("the voids (corrections) differ")
    if a.team_activity() != b.team_activity():
        diffs.append("the teams' users and first events differ")
    sa, sb = a.stats(), b.stats()
    for name in ("events", "first_event", "last_event", "teams", "projects", "users", "api_key_events", "total_cu"):
        if getattr(sa, name) != getattr(sb, name):
            diffs.append(f"{name}: {getattr(sa, name)} in one store, {getattr(sb, name)} in the other")
    if sa.last_event is None:
        return diffs
    end = sa.last_event.date()
    start = end - timedelta(days=max_window_days() - 1)
    for team in a.teams():
        args = UsageArgs(
            team_id=team["id"], start_date=start.isoformat(), end_date=end.isoformat(), include=list(INCLUDES)
        )
        now = datetime.combine(end, datetime.min.time()) + timedelta(days=1)
        if usage(a, Caller.local(), args, now=now).text != usage(b, Caller.local(), args, now=now).text:
            diffs.append(f"team {team['id']}: the usage answers differ")
    return diffs
