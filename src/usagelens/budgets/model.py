"""Budgets and grants (CONTRACT §5) as stored: validated records, their JSON documents and ids.

A budget is an allowance of CU per recurring period for one target of one team: the team, a
project, a user (an identity) or an API key (an identity flagged ``isApiKey``). There is at most
one budget per target: setting it again replaces it (its id is the target). A grant is a one-off
amount of CU for a team, usable from its first day to its expiry (``expires``, exclusive, both
local dates in the team budget's time zone), consumed by the team's use beyond its budget.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import asdict, dataclass, field
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from functools import cached_property, lru_cache
from typing import Any

from usagelens.budgets.periods import PeriodRule, parse_rule
from usagelens.errors import InvalidArgument
from usagelens.query_parse import shown

__all__ = ["DEFAULT_THRESHOLDS", "SCOPES", "Budget", "Grant", "parse_cu", "parse_thresholds"]

#: What a budget can be for, and the field naming its target.
SCOPES = {"team": None, "project": "projectId", "user": "userId", "key": "keyId"}
DEFAULT_THRESHOLDS = (50, 80, 100)
_MAX_CU = Decimal("1e12")


def parse_cu(value: Any, name: str = "cu") -> Decimal:
    """A positive CU amount with at most 6 decimals (one sentence naming ``name`` otherwise)."""
    try:
        d = Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        d = Decimal("NaN")
    if not d.is_finite() or d <= 0 or d >= _MAX_CU or d != d.quantize(Decimal("0.000001")):
        raise InvalidArgument(
            f"{name}: '{shown(value)}' is not an amount of CU; give a positive number below 1e12 with at most 6 "
            "decimals (e.g. 5000 or 1250.5)",
            field=name,
        )
    return d


def parse_thresholds(value: Any) -> tuple[int, ...]:
    """Alert thresholds in percent of the allowance: whole numbers 1–1000, given as a list or
    ``"50,80,100"``; sorted and distinct."""
    items = value.split(",") if isinstance(value, str) else value
    try:
        got = sorted({int(str(v).strip()) for v in items})
    except (TypeError, ValueError):
        got = []
    if not got or not all(1 <= t <= 1000 for t in got):
        raise InvalidArgument(
            f"thresholds: '{shown(value)}' is not accepted; give percentages of the allowance from 1 to 1000, "
            "e.g. 50,80,100",
            field="thresholds",
        )
    return tuple(got)


@dataclass(frozen=True)
class Budget:
    """One stored budget; ``target`` is None for a team budget."""

    team_id: str
    scope: str
    target: str | None
    cu: Decimal
    period: str
    anchor: str | None
    timezone: str
    thresholds: tuple[int, ...] = DEFAULT_THRESHOLDS
    webhook: str | None = None
    created_at: str = ""

    @property
    def id(self) -> str:
        """Stable per target: ``team_a`` or ``team_a/project/p1`` (setting it again replaces it)."""
        return self.team_id if self.scope == "team" else f"{self.team_id}/{self.scope}/{self.target}"

    @cached_property
    def rule(self) -> PeriodRule:
        return parse_rule(self.period, self.anchor, self.timezone, datetime.fromisoformat(self.created_at).date())

    def to_doc(self) -> str:
        d = asdict(self)
        d["cu"], d["thresholds"] = str(self.cu), list(self.thresholds)
        return json.dumps(d, sort_keys=True)

    @classmethod
    def from_doc(cls, doc: str) -> Budget:
        """The budget a document holds; parsed once per document (budgets are read by every
        answer and every write; a ``Budget`` is immutable, so one instance serves all)."""
        return _parse_budget(doc)


@lru_cache(maxsize=4096)
def _parse_budget(doc: str) -> Budget:
    d = json.loads(doc)
    return Budget(**(d | {"cu": Decimal(d["cu"]), "thresholds": tuple(d["thresholds"])}))


@dataclass(frozen=True)
class Grant:
    """A one-off amount of CU for a team, from ``starts`` to ``expires`` (local dates)."""

    team_id: str
    cu: Decimal
    starts: str
    expires: str
    created_at: str
    id: str = field(default_factory=lambda: "g_" + secrets.token_hex(6))

    @property
    def first(self) -> date:
        return date.fromisoformat(self.starts)

    @property
    def expiry(self) -> date:
        return date.fromisoformat(self.expires)

    def to_doc(self) -> str:
        return json.dumps(asdict(self) | {"cu": str(self.cu)}, sort_keys=True)

    @classmethod
    def from_doc(cls, doc: str) -> Grant:
        d = json.loads(doc)
        return cls(**(d | {"cu": Decimal(d["cu"])}))
