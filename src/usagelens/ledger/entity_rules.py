"""The rules of per-team entity views every backend keeps (CONTRACT §4): how an entity is keyed,
and which rows a team's key may write."""

from __future__ import annotations

import pyarrow as pa

from usagelens.errors import Forbidden, InvalidArgument

__all__ = ["check_owner", "entity_key"]


def entity_key(kind: str) -> tuple[str, ...]:
    """The columns naming one entity of ``kind`` (besides its owner): projects are per team."""
    return ("team_id", "id") if kind == "projects" else ("id",)


def check_owner(kind: str, batch: pa.Table, team: str) -> None:
    """Refuse ``team``'s write of another team's ``teams``/``projects`` rows (``Forbidden``)."""
    if not team:
        raise InvalidArgument("team: an entity's owner is a team id, or None for the shared default")
    column = {"teams": "id", "projects": "team_id"}.get(kind)
    if column and set(batch[column].to_pylist()) - {team}:
        raise Forbidden(f"a key of team {team} writes {kind} of team {team} only", field=column)
