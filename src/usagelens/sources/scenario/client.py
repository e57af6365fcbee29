"""The wire to a Scenario account: the official ``scenario-sdk`` with bounded retries,
one-sentence errors, exact decimals and credentials that never show.

Callers can rely on:
- ``ScenarioClient.usages(...)`` / ``teams()`` return the response JSON as plain dicts whose
  numbers are exact (``Decimal`` for fractional values, read from the wire text, never through
  a float), after the SDK checked them against its types when ``strict`` is set.
- Rate limiting (429), server errors (5xx), timeouts and dropped connections are retried with
  exponential backoff (or the server's ``Retry-After``) at most ``max_retries`` times and never
  waiting more than ``max_wait`` seconds in total; then, like every other failure, they raise a
  ``UsageError`` with one sentence (``Unauthorized``, ``Forbidden``, ``NotFound``,
  ``InvalidArgument`` or ``Unavailable``).
- Error messages name the URL without credentials; the key and the secret are scrubbed from
  anything taken from a response.
"""

from __future__ import annotations

import base64
import json
import os
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any, TypeVar
from urllib.parse import urlsplit, urlunsplit

import scenario_sdk
from scenario_sdk import Scenario

from usagelens.errors import Forbidden, InvalidArgument, NotFound, Unauthorized, Unavailable, UsageError
from usagelens.jsonout import instant

__all__ = ["DEFAULT_URL", "ClientSettings", "ScenarioClient"]

DEFAULT_URL = "https://api.cloud.scenario.com/v1"
T = TypeVar("T")


@dataclass(frozen=True)
class ClientSettings:
    """How long to wait for Scenario: per request, and in total across retries."""

    timeout: float = 30.0
    max_retries: int = 3
    max_wait: float = 30.0
    backoff: float = 0.5

    @classmethod
    def from_env(cls) -> ClientSettings:
        """``USAGELENS_SCENARIO_TIMEOUT`` / ``_RETRIES`` / ``_RETRY_WAIT`` override the defaults."""
        env = os.environ.get

        def number(name: str, default: float) -> float:
            raw = env(name)
            try:
                return float(raw) if raw else default
            except ValueError:
                raise InvalidArgument(f"{name}: '{raw}' is not a number of seconds or retries") from None

        return cls(
            timeout=number("USAGELENS_SCENARIO_TIMEOUT", cls.timeout),
            max_retries=int(number("USAGELENS_SCENARIO_RETRIES", cls.max_retries)),
            max_wait=number("USAGELENS_SCENARIO_RETRY_WAIT", cls.max_wait),
        )


def _base_url(url: str) -> str:
    """``url`` with ``/v1`` added when it has no path (``http://host:8000`` → ``…/v1``)."""
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidArgument(f"--scenario-url: '{_public(url)}' is not an http(s) URL such as {DEFAULT_URL}")
    path = parts.path.rstrip("/") or "/v1"
    return urlunsplit((parts.scheme, parts.netloc, path, "", ""))


def _public(url: str) -> str:
    """``url`` without user information (never print credentials embedded in a URL)."""
    parts = urlsplit(url)
    netloc = parts.netloc.rpartition("@")[2]
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


class ScenarioClient:
    """One Scenario account (HTTP Basic ``key:secret``) through the official SDK."""

    def __init__(
        self,
        url: str | None = None,
        key: str | None = None,
        secret: str | None = None,
        *,
        settings: ClientSettings | None = None,
        strict: bool = False,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        key = key or os.environ.get("SCENARIO_SDK_API_KEY")
        secret = secret or os.environ.get("SCENARIO_SDK_API_SECRET")
        if not key or not secret:
            raise Unauthorized(
                "Scenario credentials are missing: set SCENARIO_SDK_API_KEY and SCENARIO_SDK_API_SECRET "
                "(or pass --scenario-key and --scenario-secret)"
            )
        raw_url = url or os.environ.get("SCENARIO_BASE_URL") or DEFAULT_URL
        base = _public(_base_url(raw_url))  # user information in the URL is never sent nor shown
        parts = urlsplit(raw_url)
        self._hidden = [s for s in (key, secret, parts.username, parts.password) if s]
        self._hidden.append(base64.b64encode(f"{key}:{secret}".encode()).decode())
        self.url = base
        self.settings = settings or ClientSettings.from_env()
        self._sleep = sleep
        self._sdk = Scenario(
            api_key=key,
            api_secret=secret,
            base_url=base,
            timeout=self.settings.timeout,
            max_retries=0,  # retries are ours: bounded in count and in total wait
            _strict_response_validation=strict,
        )

    # -- requests ---------------------------------------------------------------------------

    def usages(
        self,
        *,
        team_id: str,
        start: datetime,
        end: datetime,
        sections: Iterable[str],
        project_ids: tuple[str, ...] | None = None,
        user_ids: tuple[str, ...] | None = None,
        activity_offset: int | None = None,
    ) -> dict[str, Any]:
        """``GET /v1/usages`` for ``[start, end)`` (naive UTC) with only ``sections``."""
        params: dict[str, Any] = {
            "team_id": team_id,
            "start_date": instant(start),
            "end_date": instant(end),
            "type": sorted(sections),
            "drop_zero_points": True,
        }
        for name, ids in (("project_ids", project_ids), ("user_ids", user_ids)):
            if ids is not None:
                params[name] = ",".join(ids)
        if activity_offset:
            params["activity_offset"] = activity_offset
        raw = self._call("GET /v1/usages", lambda: self._sdk.usages.with_raw_response.list(**params))
        return self._decode("GET /v1/usages", raw)

    def teams(self) -> list[dict[str, Any]]:
        """``GET /v1/teams``: the account's teams, each with its projects."""
        raw = self._call("GET /v1/teams", lambda: self._sdk.teams.with_raw_response.list())
        body = self._decode("GET /v1/teams", raw)
        teams = body.get("teams")
        if not isinstance(teams, list) or not all(isinstance(t, dict) and isinstance(t.get("id"), str) for t in teams):
            raise self.malformed("GET /v1/teams", "'teams' is not a list of teams with an id")
        return teams

    def limits(self, team_id: str) -> dict[str, Any] | None:
        """``GET /v1/teams/{id}/limits`` (the SDK's ``teams.retrieve_limits``): the plan's
        ``limits``, ``period``, ``values`` and ``oneShotCreativeUnits``; None when Scenario has
        none for the team (404)."""
        what = "GET /v1/teams/{id}/limits"
        try:
            raw = self._call(what, lambda: self._sdk.teams.with_raw_response.retrieve_limits(team_id))
        except NotFound:
            return None
        body = self._decode(what, raw)
        if not isinstance(body.get("limits"), dict) or not isinstance(body.get("period"), dict):
            raise self.malformed(what, "'limits' or 'period' is missing")
        return body

    def close(self) -> None:
        """Release the connection pool."""
        self._sdk.close()

    # -- errors -----------------------------------------------------------------------------

    def scrub(self, text: str) -> str:
        """``text`` with the credentials replaced by ``***``."""
        for s in self._hidden:
            text = text.replace(s, "***")
        return text

    def malformed(self, what: str, reason: str) -> Unavailable:
        """The error for a response that is not what Scenario's API documents."""
        return Unavailable(f"Scenario sent a malformed response to {what} at {self.url}: {self.scrub(reason)}")

    def _call(self, what: str, fn: Callable[[], T]) -> T:
        """``fn()`` with bounded retries on rate limiting, server errors, timeouts and drops."""
        s = self.settings
        attempts, waited = 0, 0.0
        while True:
            attempts += 1
            try:
                return fn()
            except scenario_sdk.RateLimitError as e:
                reason, delay = "is rate limiting requests (429 Too Many Requests)", _retry_after(e.response)
            except scenario_sdk.InternalServerError as e:
                reason, delay = f"failed with {e.status_code} (server error)", _retry_after(e.response)
            except scenario_sdk.APITimeoutError:
                reason, delay = f"did not answer within {s.timeout:g} s", None
            except scenario_sdk.APIConnectionError as e:
                reason, delay = self._connection_reason(e), None
            except scenario_sdk.APIStatusError as e:
                raise self._status_error(what, e) from None
            if delay is None:
                delay = s.backoff * 2 ** (attempts - 1)
            tries = f"{attempts} attempt{'s' if attempts > 1 else ''}"
            if attempts > s.max_retries:
                raise Unavailable(f"Scenario {reason} for {what} at {self.url} ({tries}); try again later") from None
            if waited + delay > s.max_wait:
                raise Unavailable(
                    f"Scenario {reason} for {what} at {self.url} ({tries}); waiting {delay:g} s more would pass "
                    f"the {s.max_wait:g} s retry budget (USAGELENS_SCENARIO_RETRY_WAIT); try again later"
                ) from None
            self._sleep(delay)
            waited += delay

    def _connection_reason(self, e: Exception) -> str:
        cause = str(e.__cause__ or e).lower()
        if "refused" in cause:
            return "refused the connection"
        if "name or service" in cause or "nodename" in cause or "getaddrinfo" in cause:
            return "could not be found (DNS)"
        return "could not be reached (connection failed)"

    def _status_error(self, what: str, e: scenario_sdk.APIStatusError) -> UsageError:
        code = e.status_code
        detail = _upstream_message(e.body)
        detail = f": {self.scrub(detail)}" if detail else ""
        if code == 401:
            return Unauthorized(
                f"Scenario rejected the credentials (401 Unauthorized) at {self.url}: check "
                "SCENARIO_SDK_API_KEY and SCENARIO_SDK_API_SECRET"
            )
        if code == 403:
            return Forbidden(f"Scenario refused {what} (403 Forbidden) at {self.url}{detail}")
        if code == 404:
            return NotFound(
                f"Scenario answered 404 Not Found for {what} at {self.url}{detail}; check the URL "
                "(Scenario's is https://api.cloud.scenario.com/v1)"
            )
        return InvalidArgument(f"Scenario refused {what} ({code}) at {self.url}{detail}")

    def _decode(self, what: str, raw: Any) -> dict[str, Any]:
        """The JSON body with exact decimals, after the SDK's own check of its shape."""
        try:
            body = json.loads(raw.http_response.content, parse_float=Decimal)
        except ValueError as e:
            raise self.malformed(what, f"the body is not JSON ({e})") from None
        if not isinstance(body, dict):
            raise self.malformed(what, "the body is not a JSON object")
        try:
            raw.parse()  # validates against the SDK's types when the client is strict
        except scenario_sdk.APIResponseValidationError as e:
            raise self.malformed(what, _validation_reason(e)) from None
        return body


def _retry_after(response: Any) -> float | None:
    """Seconds the server asks to wait (``Retry-After`` in seconds), or None."""
    value = response.headers.get("retry-after") if response is not None else None
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None


def _upstream_message(body: object) -> str:
    """A short message from an error body (``{"error": {"message"}}``, ``{"message"}``, …)."""
    if isinstance(body, dict):
        inner = body.get("error")
        for candidate in (inner.get("message") if isinstance(inner, dict) else inner, body.get("message")):
            if isinstance(candidate, str) and candidate.strip():
                return candidate.strip().splitlines()[0][:200]
    return ""


def _validation_reason(e: Exception) -> str:
    cause = e.__cause__
    errors = getattr(cause, "errors", None)
    if callable(errors):
        first = errors()[0] if errors() else {}
        loc = ".".join(str(p) for p in first.get("loc", ()))
        return f"{loc}: {first.get('msg', 'invalid')} (checked with scenario-sdk {scenario_sdk.__version__})"
    return f"it does not match scenario-sdk {scenario_sdk.__version__}'s types"
