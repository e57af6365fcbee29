"""``_hint``: one sentence naming the most useful next call for this data."""

from __future__ import annotations

from typing import Any

from usagelens.query import PAGE, UsageQuery

__all__ = ["hint", "narrowing"]

#: More models than this in the window make the daily per-model view worth a look.
MANY_MODELS = 5


def hint(resp: dict[str, Any], q: UsageQuery, events: int, models: int) -> str:
    """The next call that adds most, from what this answer holds and what it left out."""
    if events == 0:
        return (
            f"No usage between {q.start_date} and {q.end_date}; widen start_date/end_date or "
            "check team_id and the project/user filters."
        )
    page = resp.get("activityPagination")
    if page and page.get("nextOffset") is not None:
        return (
            f"Next activity page: include=['activity'] with activity_offset={page['nextOffset']} "
            f"({events:,} events in all)."
        )
    if models > MANY_MODELS and not q.wants("modelUsages.daily"):
        return f"{models:,} models were used; include=['modelUsages.daily'] shows each of them day by day."
    if not q.wants("usages"):
        return "include=['usages'] splits the CU by usage type (generation, upscale, training, …)."
    if events > PAGE and not q.wants("activity"):
        return f"include=['activity'] pages the {events:,} raw events {PAGE} at a time, newest first."
    return "include=['usages.daily'] shows each usage type day by day."


def narrowing(q: UsageQuery, limit: int, variable: str, size: int, counts: dict[str, int]) -> str:
    """The hint of an answer cut to ``limit`` bytes (``size`` uncut): the narrowings that fit.

    A window's answer grows about linearly with its days (daily series, identities active), so
    the window suggested is the current one scaled by ``limit / size``."""
    ways = []
    if counts["users"] > 1 and (q.user_ids is None or len(q.user_ids) > 1):
        ways.append(f"user_ids with a few of its {counts['users']:,} identities")
    if q.scope == "team" or (q.project_ids is not None and len(q.project_ids) > 1):
        ways.append("scope 'project' with one project_id")
    days = (q.end - q.start).total_seconds() / 86400
    fits = int(days * limit / size) if size else 0
    if 1 <= fits < days:
        ways.append(f"a window of at most {fits:,} days")
    if q.include:
        ways.append("fewer include values")
    how = (", ".join(ways[:-1]) + " or " + ways[-1] if len(ways) > 1 else ways[0]) if ways else "a narrower query"
    return (
        f"This answer passed its {limit:,}-byte ceiling ({variable}), so rows were dropped from the end of its "
        f"longest lists (sections says how many, with their sums); to get it whole, ask with {how}."
    )
