"""A team budget as Scenario's ``TeamRetrieveLimitsResponse`` (``GET /v1/teams/{id}/limits``, the
SDK's ``teams.retrieve_limits``), which the official SDK parses strictly.

What is real: ``limits.creativeUnits`` (the budget's allowance per period), ``period`` (its
current bounds, as instants), ``values.creativeUnits`` (the team's exact use in the period),
``values.projects`` (projects seen), ``values.apiKeys`` (the team's live usagelens keys) and
``oneShotCreativeUnits`` (the grants: amount, what is left, expiry). What usagelens does not track
(seats, collections, canvas assets, parallelism, cooldowns, …) is 0, and ``plan`` is
``enterprise``; the README lists them.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from usagelens.budgets.model import Budget, Grant
from usagelens.budgets.periods import midnight
from usagelens.budgets.status import budget_status
from usagelens.jsonout import instant, num
from usagelens.ledger.base import UsageReader

__all__ = ["UNTRACKED_LIMITS", "limits_body"]

#: ``Limits`` fields usagelens does not track (answered 0).
UNTRACKED_LIMITS = (
    "apiKeys", "canvasAssetLayers", "canvasAssets", "collections", "defaultSeats", "downloadAssets", "downloadModel",
    "inferenceBatchSize", "maxCooldown", "maxTrainingDatasets", "minCooldown", "models", "OTPSessions",
    "parallelCustomJobs", "parallelInferences", "parallelTraining", "parallelWorkflowRuns",
    "premiumGenerationSamples", "projects", "scalingFactor", "seats", "snapshotsRetention", "upload",
)  # fmt: skip


def limits_body(
    reader: UsageReader, team_id: str, now: datetime, keys: int, projects: int, first_event: datetime | None = None
) -> dict[str, Any] | None:
    """The limits of ``team_id`` at ``now`` (naive UTC), or None when the team has no budget."""
    doc = reader.docs("budgets").get(team_id)
    if doc is None:
        return None
    budget = Budget.from_doc(doc)
    grants = [g for g in (Grant.from_doc(d) for d in reader.docs("grants").values()) if g.team_id == team_id]
    s = budget_status(reader, budget, grants, now, first_event)
    zone = ZoneInfo(budget.timezone)
    return {
        "limits": {name: 0 for name in UNTRACKED_LIMITS} | {"creativeUnits": num(budget.cu)},
        "oneShotCreativeUnits": [
            {
                "amount": num(g.grant.cu),
                "remaining": num(g.remaining),
                "expiration": instant(midnight(g.grant.expiry, zone)),
                "createdAt": instant(datetime.fromisoformat(g.grant.created_at)),
                "updatedAt": instant(now.replace(microsecond=0)),
            }
            for g in s.grants
        ],
        "period": {"start": instant(s.period.start), "end": instant(s.period.end)},
        "plan": "enterprise",
        "values": {
            "apiKeys": keys,
            "canvasAssets": 0,
            "collections": 0,
            "creativeUnits": num(s.used),
            "projects": projects,
            "seats": 0,
        },
    }
