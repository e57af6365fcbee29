"""``_hint``: one sentence naming the most useful next call for this data."""

from __future__ import annotations

from typing import Any

from usagelens.query import PAGE, UsageQuery

__all__ = ["hint"]

#: More models than this in the window make the daily per-model view worth a look.
MANY_MODELS = 5


def hint(resp: dict[str, Any], q: UsageQuery, events: int, models: int, users: int) -> str:
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
        return (
            f"{models:,} models were used; include=['modelUsages.daily'] shows the listed ones day "
            f"by day (add 'modelUsages' to list all {models:,})."
        )
    if users > len(resp.get("consumption", [])) and not q.wants("consumption"):
        return f"{users:,} users spent CU; include=['consumption'] lists them all."
    if not q.wants("usages"):
        return "include=['usages'] splits the CU by usage type (generation, upscale, training, …)."
    if events > PAGE and not q.wants("activity"):
        return f"include=['activity'] pages the {events:,} raw events {PAGE} at a time, newest first."
    return "include=['usages.daily'] shows each usage type day by day."
