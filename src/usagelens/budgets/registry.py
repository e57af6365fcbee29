"""Setting, listing and deleting budgets and grants (CONTRACT §5), with who may do what.

Callers can rely on: only the platform (an admin key, or local use) changes budgets and grants;
a team's analytics key reads its team's, a project key only its project's budgets (never the team
budget, the grants or other projects'); an ingest key reads none. Every refusal is one sentence
naming the field. Budgets and grants are documents of the control store (``ControlStore.put_doc``).
"""

from __future__ import annotations

import dataclasses
from datetime import UTC, date, datetime
from typing import Any, Protocol
from urllib.parse import urlsplit

from usagelens.auth import Caller
from usagelens.budgets.model import DEFAULT_THRESHOLDS, SCOPES, Budget, Grant, parse_cu, parse_thresholds
from usagelens.budgets.periods import parse_rule
from usagelens.errors import Forbidden, InvalidArgument, NotFound
from usagelens.query_parse import shown

__all__ = ["BudgetStore", "add_grant", "budgets", "delete", "grants", "set_budget"]


class BudgetStore(Protocol):
    """Where budgets and grants live: a ledger's documents (``UsageReader.docs``, ``ControlStore.put_doc``)."""

    def docs(self, kind: str) -> dict[str, str]: ...

    def put_doc(self, kind: str, doc_id: str, doc: str | None) -> None: ...


_ADMIN = "changing budgets and grants needs an admin key (or local use)"


def _platform(caller: Caller) -> None:
    if not caller.is_platform:
        raise Forbidden(_ADMIN)


def _team(team_id: Any) -> str:
    if not isinstance(team_id, str) or not team_id.strip():
        raise InvalidArgument("teamId: give the team the budget is for", field="teamId")
    return team_id


def _webhook(url: Any) -> str | None:
    if url in (None, ""):
        return None
    parts = urlsplit(str(url))
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidArgument(
            f"webhook: '{shown(url)}' is not an http(s) URL (e.g. https://example.com/hooks/usagelens)",
            field="webhook",
        )
    return str(url)


def set_budget(
    control: BudgetStore,
    caller: Caller,
    team_id: Any,
    *,
    target: dict[str, Any] | None = None,
    cu: Any,
    period: Any = "monthly",
    anchor: Any = None,
    timezone: Any = "UTC",
    thresholds: Any = None,
    webhook: Any = None,
    now: datetime | None = None,
) -> Budget:
    """Create or replace the budget of one target (``target``: at most one of projectId, userId,
    keyId; none for the team); returns it as stored."""
    _platform(caller)
    team = _team(team_id)
    given = {k: v for k, v in (target or {}).items() if v not in (None, "")}
    if len(given) > 1:
        raise InvalidArgument(
            f"{', '.join(given)}: a budget is for one target; give at most one of projectId, userId, keyId",
            field=next(iter(given)),
        )
    scope = next((s for s, name in SCOPES.items() if name in given), "team")
    unknown = set(given) - set(SCOPES.values())
    if unknown:
        name = unknown.pop()
        raise InvalidArgument(f"{name}: not a budget target; use projectId, userId or keyId", field=name)
    when = (now or datetime.now(UTC)).replace(tzinfo=None, microsecond=0)
    if not isinstance(timezone, str):
        raise InvalidArgument(f"timezone: '{shown(timezone)}' is not an IANA time zone", field="timezone")
    rule = parse_rule(str(period), anchor, timezone, when.date())
    budget = Budget(
        team_id=team,
        scope=scope,
        target=str(given[SCOPES[scope]]) if scope != "team" else None,  # type: ignore[index]
        cu=parse_cu(cu),
        period=rule.text,
        anchor=None if anchor in (None, "") else str(anchor),
        timezone=timezone,
        thresholds=DEFAULT_THRESHOLDS if thresholds in (None, "", []) else parse_thresholds(thresholds),
        webhook=_webhook(webhook),
        created_at=when.isoformat(),
    )
    old = control.docs("budgets").get(budget.id)
    if old is not None:  # replacing keeps the creation time (an Nd period counts from it)
        budget = dataclasses.replace(budget, created_at=Budget.from_doc(old).created_at)
    control.put_doc("budgets", budget.id, budget.to_doc())
    return budget


def budgets(control: BudgetStore, caller: Caller, team_id: str | None = None) -> list[Budget]:
    """The budgets ``caller`` may read (of ``team_id`` when given), ordered by id."""
    if not caller.can_read:
        raise Forbidden("this key can only write events; use an analytics or admin key to read budgets")
    out = []
    for doc in control.docs("budgets").values():
        b = Budget.from_doc(doc)
        if team_id is not None and b.team_id != team_id:
            continue
        if caller.team_id is not None and b.team_id != caller.team_id:
            continue
        if caller.project_id is not None and (b.scope, b.target) != ("project", caller.project_id):
            continue
        out.append(b)
    return sorted(out, key=lambda b: b.id)


def grants(control: BudgetStore, caller: Caller, team_id: str | None = None) -> list[Grant]:
    """The grants ``caller`` may read (a project key: none), by expiry then id."""
    if not caller.can_read:
        raise Forbidden("this key can only write events; use an analytics or admin key to read grants")
    if caller.project_id is not None:
        return []
    out = [Grant.from_doc(d) for d in control.docs("grants").values()]
    out = [g for g in out if (team_id is None or g.team_id == team_id) and caller.team_id in (None, g.team_id)]
    return sorted(out, key=lambda g: (g.expires, g.id))


def add_grant(
    control: BudgetStore,
    caller: Caller,
    team_id: Any,
    *,
    cu: Any,
    expires: Any,
    starts: Any = None,
    now: datetime | None = None,
) -> Grant:
    """Record a one-off grant of ``cu`` for a team, usable from ``starts`` (default today) until
    ``expires`` (a later date, exclusive)."""
    _platform(caller)
    team = _team(team_id)
    when = (now or datetime.now(UTC)).replace(tzinfo=None, microsecond=0)
    first = _date(starts, "starts") if starts not in (None, "") else when.date()
    expiry = _date(expires, "expires")
    if expiry <= first:
        raise InvalidArgument(
            f"expires: {expiry} is not after the first day {first}; give a later date (YYYY-MM-DD)", field="expires"
        )
    grant = Grant(team, parse_cu(cu), first.isoformat(), expiry.isoformat(), when.isoformat())
    control.put_doc("grants", grant.id, grant.to_doc())
    return grant


def _date(value: Any, name: str) -> date:
    try:
        return date.fromisoformat(str(value))
    except ValueError:
        raise InvalidArgument(f"{name}: '{shown(value)}' is not a date (YYYY-MM-DD)", field=name) from None


def delete(control: BudgetStore, caller: Caller, item_id: str) -> str:
    """Delete a budget (by its id) or a grant (``g_…``); returns what it was (``budget``/``grant``)."""
    _platform(caller)
    kind = "grants" if item_id.startswith("g_") else "budgets"
    if item_id not in control.docs(kind):
        raise NotFound(
            f"'{shown(item_id)}' is not a budget or grant id; list them with usagelens budgets list", field="id"
        )
    control.put_doc(kind, item_id, None)
    return kind[:-1]
