"""Corrections (CONTRACT §1): who may void which events, what a void request must hold, and the
audit trail each caller may read. Surfaces (REST, CLI) call these; the ledger does the void.

Callers can rely on: a refused request changes nothing and says why in one sentence naming the
field; the ledger is only ever asked to void events of a team the caller writes; the audit trail a
caller reads holds only voids of teams (and, for a project key, of the project) it may read.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from usagelens.auth import Caller
from usagelens.errors import Forbidden, InvalidArgument, InvalidInput, NotFound, Problem
from usagelens.jsonout import instant
from usagelens.ledger.base import Ledger, UsageWriter
from usagelens.model import EVENT_FIELDS, VoidResult
from usagelens.query_parse import shown

__all__ = ["MAX_REASON", "MAX_VOID_IDS", "audit", "void", "void_rows"]

#: Ids one void request may carry (as many as one ingest request's events).
MAX_VOID_IDS = 10_000
#: Characters of a reason at most.
MAX_REASON = 1_000
_MAX_ID = 512
_NAMES = {f.column: f.name for f in EVENT_FIELDS} | {"voided_at": "voidedAt", "voided_by": "voidedBy"}


def _check_ids(ids: Any) -> list[str]:
    if not isinstance(ids, list) or not ids:
        raise InvalidArgument("ids: give the ids of the events to void (at least one)", field="ids")
    if len(ids) > MAX_VOID_IDS:
        raise InvalidArgument(f"ids: {len(ids):,} ids; void at most {MAX_VOID_IDS:,} per request", field="ids")
    for i in ids:
        if not isinstance(i, str) or not i.strip() or len(i) > _MAX_ID:
            raise InvalidArgument(
                f"ids: '{shown(i)}' is not an event id (a non-empty string of at most {_MAX_ID} characters)",
                field="ids",
            )
    return ids


def _check_reason(reason: Any) -> str:
    if not isinstance(reason, str) or not reason.strip():
        raise InvalidArgument("reason: say why the events are voided (it is kept in the audit trail)", field="reason")
    if len(reason) > MAX_REASON:
        raise InvalidArgument(f"reason: {len(reason):,} characters; at most {MAX_REASON:,}", field="reason")
    return reason.strip()


def _check_replacements(replacements: pa.Table | None, team_id: str, ids: list[str]) -> None:
    if replacements is None:
        return
    problems: list[Problem] = []
    for n, (team, rid) in enumerate(
        zip(replacements["team_id"].to_pylist(), replacements["id"].to_pylist(), strict=True)
    ):
        if team != team_id:
            problems.append(Problem(n, "teamId", f"'{shown(team)}' is not the team of the void ({team_id})", "index"))
        elif rid in ids:
            problems.append(
                Problem(
                    n,
                    "id",
                    f"'{shown(rid)}' is an id being voided (it stays taken); give the replacement a new id",
                    "index",
                )
            )
    if problems:
        raise InvalidInput(
            f"replacements: {len(problems)} of {replacements.num_rows} replacement events cannot replace these; "
            "nothing was voided",
            problems=problems,
            field="replacements",
        )


def void(
    ledger: UsageWriter,
    caller: Caller,
    team_id: Any,
    ids: Any,
    reason: Any,
    replacements: pa.Table | None = None,
) -> VoidResult:
    """Void ``ids`` of ``team_id`` for ``caller`` (an admin key, the store's owner, or the team's
    ingest key), writing ``replacements`` (validated events) in the same request; see
    ``UsageWriter.void_events``. ``by`` in the audit trail is the caller's key id (``local``
    without a key)."""
    if not caller.can_write:
        raise Forbidden("this key can only read; voiding events needs an admin key or the team's ingest key")
    if not isinstance(team_id, str) or not team_id:
        raise InvalidArgument("teamId: give the team whose events are voided", field="teamId")
    if not caller.may_write_team(team_id):
        raise Forbidden(f"this key writes events of team {caller.team_id} only", field="teamId")
    checked = _check_ids(ids)
    why = _check_reason(reason)
    _check_replacements(replacements, team_id, checked)
    by = caller.key_id or caller.kind
    return ledger.void_events(team_id, checked, reason=why, by=by, replacements=replacements)


def audit(ledger: Ledger, caller: Caller, team_id: str | None = None) -> pa.Table:
    """The void records (``VOID_SCHEMA``) ``caller`` may read, oldest first: of ``team_id`` (a
    team it can see, else ``NotFound`` as for a team that does not exist), or of every team it
    can see; a project key's only of its project."""
    if not caller.can_read:
        raise Forbidden("this key can only write events; use an analytics or admin key to read the audit trail")
    teams = caller.visible_teams(ledger.teams())
    if team_id is not None and team_id not in {t["id"] for t in teams}:
        raise NotFound(f"teamId: '{shown(team_id)}' is not a team you can see", field="teamId")
    rows = ledger.voids(team_id if caller.team_id is None else caller.team_id)
    if caller.project_id is not None:
        rows = rows.filter(pc.equal(rows["project_id"], caller.project_id))
    return rows


def void_rows(table: pa.Table) -> list[dict[str, Any]]:
    """Void records as the API and the CLI show them: the event's fields (CONTRACT §1 names),
    then ``voidedAt``, ``voidedBy``, ``reason``; times as ISO 8601 instants."""
    out = []
    for r in table.to_pylist():
        out.append({_NAMES.get(k, k): instant(v) if isinstance(v, datetime) else v for k, v in r.items()})
    return out
