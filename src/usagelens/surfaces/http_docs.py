"""OpenAPI descriptions shared by the routes: the one error body and which statuses can occur."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

__all__ = ["ERRORS", "READ_ERRORS", "WRITE_ERRORS", "ErrorBody"]


class ErrorDetail(BaseModel):
    code: str = Field(description="Machine-readable kind: invalid_argument, unauthorized, not_found, …")
    message: str = Field(description="One sentence naming the problem, the value and the fix.")
    field: str | None = Field(None, description="The argument or field at fault, when there is one.")
    problems: list[dict[str, Any]] | None = Field(None, description="Ingest: every problem by index and field.")


class ErrorBody(BaseModel):
    """Every error of every endpoint has this shape."""

    error: ErrorDetail


def _errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    text = {
        400: "Bad argument",
        401: "Missing or wrong API key",
        403: "The key may not do this",
        404: "Unknown (or invisible) team or project",
        413: "Too many records",
        422: "Invalid records",
        500: "Internal error (never caused by input)",
    }
    return {s: {"model": ErrorBody, "description": text[s]} for s in statuses}


READ_ERRORS = _errors(400, 401, 403, 404, 422, 500)
WRITE_ERRORS = _errors(400, 401, 403, 404, 413, 422, 500)
ERRORS = _errors(401, 403, 500)
