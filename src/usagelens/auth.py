"""Who is asking and what they may see (CONTRACT §4).

``Caller`` is built once per request by a surface (from an API key, or ``Caller.local()`` for the
owner of the store on this machine) and passed to every core function. The core never trusts a
``team_id`` argument on its own: it only ever picks among ``caller.visible_teams(...)``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import math
import secrets
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal, cast

from usagelens.errors import InvalidArgument, NotFound, TooManyRequests, Unauthorized
from usagelens.ledger.base import ControlStore, KeyRecord, Team

__all__ = ["KEY_KINDS", "Caller", "FailureLimiter", "KeyKind", "KeyStore", "NewKey"]

KeyKind = Literal["local", "admin", "analytics", "project", "ingest"]


@dataclass(frozen=True)
class Caller:
    """A caller's view: every team (``team_id`` None, local use) or one team, possibly one project.

    - ``local``: the store's owner on this machine; sees and writes everything.
    - ``admin``: the platform's key (CONTRACT §4): what ``local`` may do, through a server.
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
    def is_platform(self) -> bool:
        """The store's owner or the platform's admin key: every team, the shared default names,
        the keys and the store's statistics."""
        return self.kind in ("local", "admin")

    @property
    def can_read(self) -> bool:
        return self.kind != "ingest"

    @property
    def can_write(self) -> bool:
        return self.kind in ("local", "admin", "ingest")

    def visible_teams(self, teams: list[Team]) -> list[Team]:
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
            out.append(Team(id=t["id"], name=t["name"], projects=projects))
        return out

    def may_write_team(self, team_id: str) -> bool:
        """Whether events of ``team_id`` may be written by this caller."""
        return self.is_platform or (self.kind == "ingest" and team_id == self.team_id)


# -- API keys ------------------------------------------------------------------------------

KEY_KINDS: tuple[str, ...] = ("admin", "analytics", "project", "ingest")


@dataclass(frozen=True)
class NewKey:
    """A key as created: the only moment its secret is known."""

    key: str
    secret: str
    team: str | None  # None: an admin key (every team)
    kind: str
    project: str | None = None

    def credential(self) -> str:
        """``key:secret``, as HTTP Basic and Bearer expect it."""
        return f"{self.key}:{self.secret}"


def _hash(salt: str, secret: str) -> str:
    # Secrets are 256-bit random strings, so a keyed fast hash is enough (no password to
    # stretch); what matters is never storing the secret and comparing in constant time.
    return hmac.new(bytes.fromhex(salt), secret.encode(), hashlib.sha256).hexdigest()


class _Missing(Unauthorized):
    """No credentials at all: answered 401, not counted as a failed attempt."""


#: What an unknown key id is compared against: the same work as a live key's wrong secret.
_NO_KEY = {"secret_hash": "0" * 64, "salt": "00" * 16, "revoked_at": None}


class FailureLimiter:
    """Slows down repeated failed authentication from one client (CONTRACT §4).

    A client (a remote address) with ``limit`` failures within the last ``window`` seconds is
    refused (``TooManyRequests``, with the seconds until its oldest failure expires) without its
    credentials being checked, until fewer than ``limit`` failures remain in the window. The table
    is bounded: it keeps the ``clients`` most recently failing addresses (the oldest are forgotten).
    Thread-safe; ``clock`` is ``time.monotonic`` unless given.
    """

    def __init__(
        self, limit: int = 10, window: float = 60.0, clients: int = 4096, clock: Callable[[], float] | None = None
    ) -> None:
        self.limit, self.window, self.clients = limit, window, clients
        self._clock = clock or time.monotonic
        self._failures: OrderedDict[str, deque[float]] = OrderedDict()
        self._lock = threading.Lock()

    def _recent(self, client: str, now: float) -> deque[float] | None:
        times = self._failures.get(client)
        while times and times[0] <= now - self.window:
            times.popleft()
        if times is not None and not times:
            del self._failures[client]
            return None
        return times

    def check(self, client: str | None) -> None:
        """Raise ``TooManyRequests`` when ``client`` has used up its failures."""
        if client is None:
            return
        with self._lock:
            now = self._clock()
            times = self._recent(client, now)
            if times is None or len(times) < self.limit:
                return
            wait = max(1, math.ceil(times[0] + self.window - now))
        raise TooManyRequests(
            f"too many failed authentication attempts from this address; wait {wait} s and check the API key.",
            retry_after=wait,
        )

    def failed(self, client: str | None) -> None:
        """Record one failed authentication of ``client``."""
        if client is None:
            return
        with self._lock:
            now = self._clock()
            times = self._recent(client, now)
            if times is None:
                times = self._failures[client] = deque(maxlen=self.limit)
                while len(self._failures) > self.clients:
                    self._failures.popitem(last=False)
            self._failures.move_to_end(client)
            times.append(now)


class KeyStore:
    """Create, list, revoke and verify API keys kept in a ledger (secrets stored hashed).

    ``verify`` asks the store for its ``keys_token`` on every call (one small query, the same for
    every key id) and reloads its copy of the keys table when the token changed, so a key revoked
    through any ``KeyStore`` or process stops working at the next request; then one dictionary
    lookup, one HMAC and one constant-time comparison, so a wrong secret of a live key id costs
    what an unknown id costs (the store is never asked about a particular id).
    """

    def __init__(self, ledger: ControlStore, limiter: FailureLimiter | None = None) -> None:
        self._ledger = ledger
        self.limiter = limiter or FailureLimiter()
        self._token: str | None = None
        self._records: dict[str, KeyRecord] = {}
        self._lock = threading.Lock()

    def _record(self, key: str) -> KeyRecord | None:
        token = self._ledger.keys_token()
        with self._lock:
            if token != self._token:
                self._records = {r["key_id"]: r for r in self._ledger.api_keys()}
                self._token = token
            return self._records.get(key)

    def create(self, team: str | None, kind: str, project: str | None = None, label: str | None = None) -> NewKey:
        """A new key for ``team`` (None for an ``admin`` key, which has every team); ``project`` is
        required for (and only for) project keys."""
        if kind not in KEY_KINDS:
            raise InvalidArgument(f"--kind: '{kind}' is not a key kind (accepted: {', '.join(KEY_KINDS)})")
        if (kind == "project") != (project is not None):
            raise InvalidArgument("--project: a project key needs --project, and only project keys take one")
        if kind == "admin" and team:
            raise InvalidArgument("--team: an admin key has every team; leave --team out", field="team")
        if kind != "admin" and not team:
            raise InvalidArgument("--team: a key belongs to one team; pass its id (or --kind admin)", field="team")
        key, secret, salt = f"ul_{secrets.token_hex(8)}", secrets.token_urlsafe(32), secrets.token_hex(16)
        self._ledger.put_key(
            {
                "key_id": key,
                "secret_hash": _hash(salt, secret),
                "salt": salt,
                "team_id": team or "",  # the store's column is required: '' for an admin key
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
        """Revoke ``key`` at once (for every server reading this store)."""
        if not self._ledger.revoke_key(key, datetime.now(UTC).replace(tzinfo=None)):
            raise NotFound(f"key: '{key}' is not a live key (see usagelens keys list)")

    def verify(self, key: str, secret: str) -> Caller:
        """The caller a ``key:secret`` pair stands for; ``Unauthorized`` when it matches no live key.

        Known and unknown key ids take the same path: one read of the store's keys token, one
        lookup in memory, one HMAC with the record's salt (a fixed dummy record for an unknown
        id), one constant-time comparison.
        """
        record = self._record(key)
        live = record is not None and record["revoked_at"] is None
        used: Mapping[str, Any] = record if live and record is not None else _NO_KEY
        matches = hmac.compare_digest(_hash(str(used["salt"]), secret), str(used["secret_hash"]))
        if not (matches and live and record is not None):
            raise Unauthorized("the API key or secret is wrong, or the key was revoked")
        kind = cast(KeyKind, record["kind"])  # the store holds only kinds KeyStore.create accepted
        team = None if kind == "admin" else record["team_id"]
        return Caller(kind=kind, team_id=team, project_id=record["project_id"], key_id=key)

    def caller(self, headers: Mapping[str, str], client: str | None = None) -> Caller:
        """The caller of an HTTP request: Basic ``key:secret`` (Scenario's scheme),
        ``Authorization: Bearer key:secret`` or ``X-API-Key: key:secret``.

        ``client`` (the remote address) is slowed down by ``limiter``: wrong credentials count as
        failures (missing ones do not), and a client past the limit gets ``TooManyRequests``.
        """
        try:
            return self._caller(headers, client)
        except _Missing:
            raise
        except Unauthorized:
            self.limiter.failed(client)
            raise

    def _caller(self, headers: Mapping[str, str], client: str | None) -> Caller:
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
            raise _Missing(
                "an API key is required: HTTP Basic key:secret, 'Authorization: Bearer key:secret' "
                "or 'X-API-Key: key:secret' (create one with usagelens keys create)"
            )
        self.limiter.check(client)
        key, sep, secret = credential.partition(":")
        if not sep:
            raise Unauthorized("the credential must be key:secret")
        return self.verify(key, secret)
