"""One error tree for the whole product; each surface maps it to its own shape in one place.

Every message is one sentence a user can act on: it names the field or argument, the value,
and what would be accepted. Surfaces print ``str(error)`` and never a traceback.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = [
    "BodyTooLarge",
    "Conflict",
    "Forbidden",
    "InvalidArgument",
    "InvalidInput",
    "NotFound",
    "Problem",
    "TooManyRequests",
    "Unauthorized",
    "Unavailable",
    "UsageError",
]


class UsageError(Exception):
    """Base of every error a user is meant to read. ``field`` names the culprit when known."""

    code = "error"

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field

    def __str__(self) -> str:
        return self.message


class InvalidArgument(UsageError):
    """A call or command argument is wrong (bad date, unknown include value, …)."""

    code = "invalid_argument"


@dataclass(frozen=True)
class Problem:
    """One invalid record of ingested data, as a value (never text parsed back).

    ``at`` is where it is, counted in ``unit``: ``line`` (JSONL/CSV, from 1), ``row`` (Parquet,
    from 1), ``record`` (a JSON array file, from 1) or ``index`` (a request body, from 0).
    ``field`` is the JSON field name (or ``record`` for the record as a whole); ``message``
    says what is wrong, the value and what would be accepted.
    """

    at: int
    field: str
    message: str
    unit: str = "line"

    def __str__(self) -> str:
        return f"{self.unit} {self.at}: {self.field}: {self.message}"

    def as_json(self) -> dict[str, Any]:
        """The REST shape: ``{"index", "field", "message"}`` (``index`` counts in ``unit``)."""
        return {"index": self.at, "field": self.field, "message": self.message}


class InvalidInput(InvalidArgument):
    """Ingested data is wrong; ``problems`` holds the first problems as values."""

    code = "invalid_input"

    def __init__(
        self, message: str, *, problems: list[Problem] | None = None, total: int = 0, field: str | None = None
    ) -> None:
        super().__init__(message, field=field)
        self.problems = problems or []
        self.total = total or len(self.problems)

    @property
    def structured(self) -> list[dict[str, Any]]:
        """Every listed problem in the REST shape (what the HTTP error body carries)."""
        return [p.as_json() for p in self.problems]


class NotFound(UsageError):
    """A team, project or other id is unknown (or not visible to the caller)."""

    code = "not_found"


class Unauthorized(UsageError):
    """No credentials, or credentials that do not match a live key."""

    code = "unauthorized"


class Forbidden(UsageError):
    """The caller may not do this."""

    code = "forbidden"


class Conflict(UsageError):
    """The request contradicts the current state."""

    code = "conflict"


class Unavailable(UsageError):
    """A resource is temporarily unusable (store locked by another process, upstream down)."""

    code = "unavailable"


class TooManyRequests(UsageError):
    """Too many failed attempts from one client; ``retry_after`` is the wait in whole seconds."""

    code = "too_many_requests"

    def __init__(self, message: str, *, retry_after: int, field: str | None = None) -> None:
        super().__init__(message, field=field)
        self.retry_after = retry_after


class BodyTooLarge(UsageError):
    """A request body is larger than the server accepts (``USAGELENS_MAX_BODY_BYTES``)."""

    code = "too_large"
