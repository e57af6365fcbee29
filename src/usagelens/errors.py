"""One error tree for the whole product; each surface maps it to its own shape in one place.

Every message is one sentence a user can act on: it names the field or argument, the value,
and what would be accepted. Surfaces print ``str(error)`` and never a traceback.
"""

from __future__ import annotations

__all__ = [
    "Conflict",
    "Forbidden",
    "InvalidArgument",
    "InvalidInput",
    "NotFound",
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


class InvalidInput(InvalidArgument):
    """Ingested data is wrong; ``problems`` holds the first problems as readable lines."""

    code = "invalid_input"

    def __init__(
        self, message: str, *, problems: list[str] | None = None, total: int = 0, field: str | None = None
    ) -> None:
        super().__init__(message, field=field)
        self.problems = problems or []
        self.total = total or len(self.problems)


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
