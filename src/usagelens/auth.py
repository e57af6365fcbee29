"""Who is asking and what they may see (CONTRACT §4).

``Caller`` is built once per request by a surface (from an API key, or ``Caller.local()`` for the
owner of the store on this machine) and passed to every core function. The core never trusts a
``team_id`` argument on its own: it only ever picks among ``caller.visible_teams(...)``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from usagelens.errors import InvalidArgument, NotFound, Unauthorized

__all__ = ["KEY_KINDS", "Caller", "KeyKind", "KeyStore", "NewKey"]

KeyKind = Literal["local", "analytics", "project", "ingest"]


@dataclass(frozen=True)
class Caller:
    """A caller's view: every team (``team_id`` None, local use) or one team, possibly one project.

    - ``local``: the store's owner on this machine; sees and writes everything.
    - ``analytics``: reads every project of ``team_id``.
    - ``project``: reads ``project_id`` of ``team_id`` only.
    - ``ingest``: writes events of ``team_id``; reads nothing.
    """

    kind: KeyKind = "local"
    team_id: str | None = None
    project_id: str | None = None
    key_id: str | None = None

    @classmethod
    def local(cls) -> Caller:
        """The store's owner: sees every team."""
        return cls()

    @property
    def can_read(self) -> bool:
        return self.kind != "ingest"

    @property
    def can_write(self) -> bool:
        return self.kind in ("local", "ingest")

    def visible_teams(self, teams: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """The teams (with their visible projects) this caller may read, from ``Ledger.teams()``."""
        if not self.can_read:
            return []
        if self.team_id is None:
            return teams
        out = []
        for t in teams:
            if t["id"] != self.team_id:
                continue
            projects = t["projects"]
            if self.project_id is not None:
                projects = [p for p in projects if p["id"] == self.project_id]
            out.append({**t, "projects": projects})
        return out

    def may_write_team(self, team_id: str) -> bool:
        """Whether events of ``team_id`` may be written by this caller."""
        return self.kind == "local" or (self.kind == "ingest" and team_id == self.team_id)


# -- API keys ------------------------------------------------------------------------------

KEY_KINDS: tuple[str, ...] = ("analytics", "project", "ingest")


@dataclass(frozen=True)
class NewKey:
    """A key as created: the only moment its secret is known."""

    key: str
    secret: str
    team: str
    kind: str
    project: str | None = None

    def credential(self) -> str:
        """``key:secret``, as HTTP Basic and Bearer expect it."""
        return f"{self.key}:{self.secret}"


def _hash(salt: str, secret: str) -> str:
    # Secrets are 256-bit random strings, so a keyed fast hash is enough (no password to
    # stretch); what matters is never storing the secret and comparing in constant time.
    return hmac.new(bytes.fromhex(salt), secret.encode(), hashlib.sha256).hexdigest()


class KeyStore:
    """Create, list, revoke and verify API keys kept in a ledger (secrets stored hashed)."""

    def __init__(self, ledger: Any) -> None:
        self._ledger = ledger
        self._verified: dict[str, tuple[str, Caller]] = {}  # key id -> (hash, caller), live keys
        self._lock = threading.Lock()

    def create(self, team: str, kind: str, project: str | None = None, label: str | None = None) -> NewKey:
        """A new key for ``team``; ``project`` is required for (and only for) project keys."""
        if kind not in KEY_KINDS:
            raise InvalidArgument(f"--kind: '{kind}' is not a key kind (accepted: {', '.join(KEY_KINDS)})")
        if (kind == "project") != (project is not None):
            raise InvalidArgument("--project: a project key needs --project, and only project keys take one")
        if not team:
            raise InvalidArgument("--team: a key belongs to one team; pass its id")
        key, secret, salt = f"ul_{secrets.token_hex(8)}", secrets.token_urlsafe(32), secrets.token_hex(16)
        self._ledger.put_key(
            {
                "key_id": key,
                "secret_hash": _hash(salt, secret),
                "salt": salt,
                "team_id": team,
                "kind": kind,
                "project_id": project,
                "label": label,
                "created_at": datetime.now(UTC).replace(tzinfo=None),
            }
        )
        return NewKey(key, secret, team, kind, project)

    def list(self) -> list[dict[str, Any]]:
        """Key records without their hashes."""
        return [{k: v for k, v in r.items() if k not in ("secret_hash", "salt")} for r in self._ledger.api_keys()]

    def revoke(self, key: str) -> None:
        """Revoke ``key`` at once (also for running servers sharing this store object)."""
        if not self._ledger.revoke_key(key, datetime.now(UTC).replace(tzinfo=None)):
            raise NotFound(f"key: '{key}' is not a live key (see usagelens keys list)")
        with self._lock:
            self._verified.pop(key, None)

    def verify(self, key: str, secret: str) -> Caller:
        """The caller a ``key:secret`` pair stands for; ``Unauthorized`` when it matches no live key."""
        with self._lock:
            cached = self._verified.get(key)
        if cached is None:
            record = next((r for r in self._ledger.api_keys() if r["key_id"] == key and r["revoked_at"] is None), None)
            if record is not None:
                caller = Caller(
                    kind=record["kind"], team_id=record["team_id"], project_id=record["project_id"], key_id=key
                )
                cached = (record["secret_hash"] + ":" + record["salt"], caller)
                with self._lock:
                    self._verified[key] = cached
        # compare even for unknown keys, so timing does not tell which key ids exist
        stored, salt = cached[0].split(":") if cached else ("0" * 64, "00" * 16)
        if not hmac.compare_digest(_hash(salt, secret), stored) or cached is None:
            raise Unauthorized("the API key or secret is wrong, or the key was revoked")
        return cached[1]

    def caller(self, headers: Mapping[str, str]) -> Caller:
        """The caller of an HTTP request: Basic ``key:secret`` (Scenario's scheme),
        ``Authorization: Bearer key:secret`` or ``X-API-Key: key:secret``."""
        auth = headers.get("authorization") or ""
        scheme, _, value = auth.partition(" ")
        credential = None
        if scheme.lower() == "basic" and value:
            try:
                credential = base64.b64decode(value.strip(), validate=True).decode()
            except (ValueError, UnicodeDecodeError):
                raise Unauthorized("the Authorization header is not valid Basic credentials") from None
        elif scheme.lower() == "bearer" and value:
            credential = value.strip()
        elif headers.get("x-api-key"):
            credential = headers["x-api-key"].strip()
        if not credential:
            raise Unauthorized(
                "an API key is required: HTTP Basic key:secret, 'Authorization: Bearer key:secret' "
                "or 'X-API-Key: key:secret' (create one with usagelens keys create)"
            )
        key, sep, secret = credential.partition(":")
        if not sep:
            raise Unauthorized("the credential must be key:secret")
        return self.verify(key, secret)
