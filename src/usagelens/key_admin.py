"""Creating API keys the way an operator means them (CONTRACT §4): one set of rules for the CLI
(``usagelens keys create``) and the REST API (``POST /v1/keys``).

Callers can rely on: ``create_key`` refuses, with one sentence naming the field and the value, a
kind that does not exist, a team given to an admin key or missing from a team key, a project
given to anything but a project key, and — unless ``allow_unknown`` — a team the store has never
seen (``UsageReader.teams()``) or a project that is not one of that team's. Only then is the key
made (``auth.KeyStore.create``). Messages spell the fields as the surface does (``Spelling``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from usagelens.auth import KEY_KINDS, KeyStore, NewKey
from usagelens.errors import InvalidArgument
from usagelens.ledger.base import Team
from usagelens.query_parse import shown

__all__ = [
    "CLI_SPELLING",
    "MAX_LABEL",
    "REST_SPELLING",
    "Spelling",
    "TeamSource",
    "check_key_request",
    "check_known",
    "create_key",
]

#: The longest label a key takes (a note, not a document).
MAX_LABEL = 200


@dataclass(frozen=True)
class Spelling:
    """How a surface names the fields of a key request in its messages."""

    kind: str
    team: str
    project: str
    label: str
    allow_unknown: str


CLI_SPELLING = Spelling("--kind", "--team", "--project", "--label", "--allow-unknown")
REST_SPELLING = Spelling("kind", "teamId", "projectId", "label", "allowUnknown: true")


class TeamSource(Protocol):
    """Where the teams a store has seen come from (a ledger, or a running server's team list)."""

    def teams(self) -> list[Team]:
        """Every team the store knows, each with its projects."""
        ...


def _field(name: str) -> str:
    """The field name for ``UsageError.field`` (no leading dashes, no ``: true``)."""
    return name.lstrip("-").split(":")[0]


def check_key_request(
    kind: str, team: str | None, project: str | None, label: str | None, spell: Spelling = CLI_SPELLING
) -> None:
    """Refuse a key request that no store could accept (the rules of ``KeyStore.create``, with
    the surface's spelling): an unknown kind, a team on an admin key, no team on a team key, a
    project on anything but a project key (and none on a project key), an over-long label."""
    if kind not in KEY_KINDS:
        raise InvalidArgument(
            f"{spell.kind}: '{shown(kind)}' is not a key kind (accepted: {', '.join(KEY_KINDS)})",
            field=_field(spell.kind),
        )
    if kind == "admin" and team:
        raise InvalidArgument(
            f"{spell.team}: an admin key has every team; leave {spell.team} out", field=_field(spell.team)
        )
    if kind != "admin" and not team:
        raise InvalidArgument(
            f"{spell.team}: a {kind} key belongs to one team; pass its id (or {spell.kind} admin for the platform)",
            field=_field(spell.team),
        )
    if (kind == "project") != bool(project):
        raise InvalidArgument(
            f"{spell.project}: a project key needs {spell.project}, and only project keys take one",
            field=_field(spell.project),
        )
    if label is not None and len(label) > MAX_LABEL:
        raise InvalidArgument(
            f"{spell.label}: the label has {len(label):,} characters; keep it to {MAX_LABEL}",
            field=_field(spell.label),
        )


def check_known(known: TeamSource, team: str, project: str | None, spell: Spelling = CLI_SPELLING) -> None:
    """Refuse a team ``known.teams()`` does not hold, or a project that is not one of its projects
    (the message says to ingest its events or entities first, or to pass ``spell.allow_unknown``)."""
    found = next((t for t in known.teams() if t["id"] == team), None)
    proceed = f"ingest its events or entities first, or pass {spell.allow_unknown} to create the key anyway"
    if found is None:
        raise InvalidArgument(
            f"{spell.team}: team '{shown(team)}' has never been seen by this store (no event or entity names it); "
            + proceed,
            field=_field(spell.team),
        )
    if project is not None and all(p["id"] != project for p in found["projects"]):
        raise InvalidArgument(
            f"{spell.project}: '{shown(project)}' is not a project of team '{shown(team)}' in this store; " + proceed,
            field=_field(spell.project),
        )


def create_key(
    keys: KeyStore,
    known: TeamSource,
    kind: str,
    team: str | None = None,
    project: str | None = None,
    label: str | None = None,
    *,
    allow_unknown: bool = False,
    spell: Spelling = CLI_SPELLING,
) -> NewKey:
    """A new key (its secret known only to the returned ``NewKey``), after ``check_key_request``
    and, unless ``allow_unknown``, the check that ``known.teams()`` holds ``team`` (and ``project``
    among that team's projects). An admin key has no team and is never checked against the store.
    """
    check_key_request(kind, team, project, label, spell)
    if team and not allow_unknown:
        check_known(known, team, project, spell)
    return keys.create(team or None, kind, project or None, label)
