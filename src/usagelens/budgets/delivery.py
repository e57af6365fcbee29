"""Delivering budget alerts to their webhooks (CONTRACT §5, issue 15), and who may see them.

An alert is a claim of kind ``alerts`` (raised once by ``budgets/watch.py``). A ``Deliverer`` POSTs
each alert that names a webhook and keeps its state in the ``deliveries`` document of the alert's
id, so every server on the store, and the same server after a restart, goes on from it.

Callers can rely on:

- The body is the alert plus ``"type": "budget.threshold_crossed"``, sent with ``Idempotency-Key:
  <alert id>`` and ``X-Usagelens-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>." + body>``
  keyed with the store's secret (``webhook_secret``, the same for every server on the store).
- A 2xx answer makes the alert ``delivered``; anything else (status, timeout, no connection) is
  retried after ``backoff`` s, doubling (at most an hour), while the attempt falls within
  ``give_up_after`` s of the crossing, then it is ``failed`` (the first attempt is always made).
- Each attempt number is claimed (``ControlStore.claim``) before it is sent: servers sharing a
  store never send one attempt twice. At least once, not exactly once: an attempt whose result was
  never recorded (its server died during the POST) is taken over ``stale_after`` s after its claim,
  so the receiver may get an alert again, always with the same ``Idempotency-Key``.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import math
import os
import secrets
import socket
import threading
from collections.abc import Callable
from dataclasses import astuple, dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

import httpx

from usagelens.auth import Caller
from usagelens.errors import Forbidden, InvalidArgument
from usagelens.query_parse import shown

__all__ = ["AlertStore", "Deliverer", "Delivery", "alerts_view", "sign", "signing_secret", "webhook_secret"]

log = logging.getLogger("usagelens.webhooks")

EVENT_TYPE = "budget.threshold_crossed"
SIGNATURE_HEADER = "X-Usagelens-Signature"
MAX_DELAY = 3600.0  # the longest wait between two attempts, in seconds
POLL = 10.0  # seconds between two looks at the store when nothing is due sooner (alerts of other processes)


class AlertStore(Protocol):
    """What delivery needs of a store: its claims, documents and meta values (a ``Ledger`` has them)."""

    def claim(self, kind: str, claim_id: str, doc: str) -> str: ...
    def claims(self, kind: str) -> dict[str, str]: ...
    def docs(self, kind: str) -> dict[str, str]: ...
    def put_doc(self, kind: str, doc_id: str, doc: str | None) -> None: ...
    def get_meta(self, key: str) -> str | None: ...
    def set_meta(self, key: str, value: str) -> None: ...


def webhook_secret(control: AlertStore) -> str:
    """The store's webhook signing secret (64 hex digits), created on first use and then the same
    for every process and server on the store (the first creation claimed wins)."""
    held = control.get_meta("webhook_secret")
    if held:
        return held
    won = control.claim("secrets", "webhook", secrets.token_hex(32))
    control.set_meta("webhook_secret", won)
    return won


def signing_secret(control: AlertStore, caller: Caller) -> str:
    """``webhook_secret`` for the platform (an admin key or local use); ``Forbidden`` for others."""
    if not caller.is_platform:
        raise Forbidden("the webhook signing secret needs an admin key (or local use)")
    return webhook_secret(control)


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """The ``X-Usagelens-Signature`` value: ``t=<timestamp>,v1=<hex HMAC-SHA256>`` of
    ``f"{timestamp}.".encode() + body``, keyed with ``secret.encode()``."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={mac}"


def _instant(t: datetime) -> str:
    return t.astimezone(UTC).replace(tzinfo=None).isoformat(timespec="milliseconds") + "Z"


def _utc(t: datetime) -> datetime:
    return t.replace(tzinfo=UTC) if t.tzinfo is None else t.astimezone(UTC)


def _parse(text: str) -> datetime:
    return _utc(datetime.fromisoformat(text))


_STATE_FIELDS = ("state", "attempts", "nextAt", "lastError", "lastStatus", "deliveredAt")


@dataclass(frozen=True)
class Delivery:
    """The delivery state of one alert, as stored and shown (``as_json``)."""

    state: str  # pending | delivered | failed | no_webhook
    attempts: int = 0
    next_at: str | None = None
    last_error: str | None = None
    last_status: int | None = None
    delivered_at: str | None = None

    def as_json(self) -> dict[str, Any]:
        return dict(zip(_STATE_FIELDS, astuple(self), strict=True))

    @classmethod
    def of(cls, alert: dict[str, Any], doc: str | None) -> Delivery:
        """The stored state ``doc``, else the state of an alert not tried yet."""
        if doc is not None:
            d = json.loads(doc)
            return cls(*(d.get(name) for name in _STATE_FIELDS))
        if not alert.get("webhook"):
            return cls("no_webhook")
        return cls("pending", next_at=alert["crossedAt"])


def _seconds(name: str, default: float, *, positive: bool = False) -> float:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value < 0 or (positive and value == 0):
        raise InvalidArgument(f"{name}: '{shown(raw)}' is not a number of seconds; set e.g. 5 (or leave it unset)")
    return value


class Deliverer:
    """Sends the alerts of ``store`` to their webhooks: ``start()`` runs a daemon thread that delivers
    what is due (woken by ``notify()``, else when the next retry is due, else every ``POLL`` s);
    ``run_once(now)`` makes one pass. Settings not given come from ``USAGELENS_WEBHOOK_BACKOFF``
    (5 s), ``USAGELENS_WEBHOOK_GIVE_UP`` (86,400 s) and ``USAGELENS_WEBHOOK_TIMEOUT`` (5 s, per
    request phase); ``stale_after`` defaults to 4 × timeout (a POST waits at most about 3 × timeout:
    connecting, sending, the answer's first bytes; its body is not read). An invalid variable raises
    ``InvalidArgument`` here, never later in the thread, which logs one line per failed pass."""

    def __init__(
        self,
        store: AlertStore,
        *,
        backoff: float | None = None,
        give_up_after: float | None = None,
        timeout: float | None = None,
        stale_after: float | None = None,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.store = store
        self.backoff = _seconds("USAGELENS_WEBHOOK_BACKOFF", 5.0) if backoff is None else backoff
        self.give_up_after = _seconds("USAGELENS_WEBHOOK_GIVE_UP", 86_400.0) if give_up_after is None else give_up_after
        self.timeout = _seconds("USAGELENS_WEBHOOK_TIMEOUT", 5.0, positive=True) if timeout is None else timeout
        self.stale_after = 4 * self.timeout if stale_after is None else stale_after
        self.server_id = f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"
        self._clock = clock or (lambda: datetime.now(UTC))
        self._secret: str | None = None
        self._wake, self._stop = threading.Event(), threading.Event()
        self._thread: threading.Thread | None = None
        self._next_pass = POLL

    def start(self) -> None:
        """Start delivering in a daemon thread (again after ``stop``; nothing when running)."""
        if self._thread is not None and self._thread.is_alive():
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="usagelens-webhooks", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop the thread, waiting for a POST under way (at most about ``stale_after`` seconds)."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(self.stale_after)
            self._thread = None

    def notify(self) -> None:
        """Look at the store now (a new alert was raised)."""
        self._wake.set()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.run_once()
            except Exception as e:  # the thread must survive a store or network hiccup: one line, go on
                first = (str(e).strip().splitlines() or [""])[0][:200]
                log.warning("webhook delivery pass failed (%s: %s); trying again", type(e).__name__, first)
                self._next_pass = min(POLL, max(self.backoff, 1.0))
            self._wake.wait(self._next_pass)
            self._wake.clear()

    def run_once(self, now: datetime | None = None) -> int:
        """Deliver every alert due at ``now`` (default: the clock, read again for each alert, so a
        slow receiver does not age the next signatures); returns the POSTs this call sent."""
        fixed = now
        now = _utc(fixed or self._clock())
        states = self.store.docs("deliveries")
        sent, wake = 0, now + timedelta(seconds=POLL)
        for alert_id, doc in sorted(self.store.claims("alerts").items()):
            now = _utc(fixed or self._clock())
            alert = json.loads(doc)
            state = Delivery.of(alert, states.get(alert_id))
            if state.state == "no_webhook" and alert_id not in states:
                self.store.put_doc("deliveries", alert_id, json.dumps(state.as_json()))
            if state.state != "pending" or state.next_at is None:
                continue
            due = _parse(state.next_at) if state.attempts else now  # the first attempt: at once
            if due > now:
                wake = min(wake, due)
                continue
            attempt, retry_at = self._claim(alert_id, state.attempts + 1, states.get(alert_id), now)
            if attempt is None:
                wake = min(wake, retry_at)
                continue
            state = self._attempt(alert, attempt, now)
            self.store.put_doc("deliveries", alert_id, json.dumps(state.as_json()))
            sent += 1
            if state.next_at is not None:
                wake = min(wake, _parse(state.next_at))
        self._next_pass = max((wake - _utc(self._clock())).total_seconds(), 0.0)
        return sent

    def _claim(self, alert_id: str, attempt: int, seen: str | None, now: datetime) -> tuple[int | None, datetime]:
        """Claim attempt number ``attempt`` (or a later one, taking over attempts whose server went
        silent): the number won, or None and when to look again."""
        mine = json.dumps({"by": self.server_id, "at": _instant(now)})
        while True:
            holder = self.store.claim("attempts", f"{alert_id}#{attempt}", mine)
            if holder == mine:
                return attempt, now
            stale = _parse(json.loads(holder)["at"]) + timedelta(seconds=self.stale_after)
            if stale > now:
                return None, stale  # its server may still be sending
            if self.store.docs("deliveries").get(alert_id) != seen:
                return None, now  # its result was recorded meanwhile: the next pass reads it
            attempt += 1

    def _attempt(self, alert: dict[str, Any], attempt: int, now: datetime) -> Delivery:
        """POST the alert once; the state that follows."""
        status, error = self._post(alert, now)
        if status is not None and 200 <= status < 300:
            return Delivery("delivered", attempt, None, None, status, _instant(now))
        delay = min(self.backoff * 2 ** (attempt - 1), MAX_DELAY)
        next_at = now + timedelta(seconds=delay)
        failed = Delivery("failed", attempt, None, error or f"HTTP {status}", status)
        if next_at > _parse(alert["crossedAt"]) + timedelta(seconds=self.give_up_after):
            return failed
        return replace(failed, state="pending", next_at=_instant(next_at))

    def _post(self, alert: dict[str, Any], now: datetime) -> tuple[int | None, str | None]:
        """The answer's status, or None and the error in one line."""
        if self._secret is None:
            self._secret = webhook_secret(self.store)
        body = json.dumps({"type": EVENT_TYPE} | alert, ensure_ascii=False, separators=(",", ":")).encode()
        headers = {
            "Content-Type": "application/json",
            "Idempotency-Key": alert["id"],
            SIGNATURE_HEADER: sign(self._secret, int(now.timestamp()), body),
            "User-Agent": "usagelens",
        }
        try:
            with (
                httpx.Client(timeout=self.timeout, follow_redirects=False) as client,
                client.stream("POST", alert["webhook"], content=body, headers=headers) as r,
            ):
                return r.status_code, None
        except (httpx.HTTPError, httpx.InvalidURL, OSError, ValueError) as e:
            text = " ".join(str(e).split())[:200]
            return None, f"{type(e).__name__}: {text}" if text else type(e).__name__


def alerts_view(store: AlertStore, caller: Caller, team_id: str | None = None) -> list[dict[str, Any]]:
    """The alerts ``caller`` may read, of ``team_id`` when given, newest crossing first (ties by id,
    descending), each with its ``delivery`` state: every team's for the platform, its team's for a
    team key, its project's budget alerts for a project key; an ingest key is ``Forbidden``."""
    if not caller.can_read:
        raise Forbidden("this key can only write events; use an analytics or admin key to read alerts")
    states = store.docs("deliveries")
    out = []
    for alert_id, doc in store.claims("alerts").items():
        a = json.loads(doc)
        mine = caller.project_id is None or (a["scope"], a["target"]) == ("project", caller.project_id)
        if mine and team_id in (None, a["teamId"]) and caller.team_id in (None, a["teamId"]):
            out.append(a | {"delivery": Delivery.of(a, states.get(alert_id)).as_json()})
    return sorted(out, key=lambda a: (a["crossedAt"], a["id"]), reverse=True)
