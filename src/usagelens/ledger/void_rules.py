"""What every backend's void decides the same way: which requested ids are voided now, which were
voided before, and the refusal when the team never stored some of them."""

from __future__ import annotations

from usagelens.errors import NotFound

__all__ = ["sort_ids"]


def sort_ids(team: str, ids: list[str], stored: set[str], voided: set[str]) -> tuple[list[str], list[str]]:
    """``(to void, voided before)`` among ``ids`` (distinct, in request order), given the ids of
    ``team`` still stored and those already voided; ``NotFound`` naming the first ids the team
    never stored (another team's ids are unknown ids: nothing leaks)."""
    wanted = list(dict.fromkeys(ids))
    unknown = [i for i in wanted if i not in stored and i not in voided]
    if unknown:
        shown = ", ".join(repr(i) for i in unknown[:5]) + (f" and {len(unknown) - 5} more" if len(unknown) > 5 else "")
        raise NotFound(
            f"ids: no event of team {team!r} has the id {shown}; nothing was voided (list events with "
            "include=activity to find their ids)",
            field="ids",
        )
    return [i for i in wanted if i in stored], [i for i in wanted if i in voided and i not in stored]
