"""Validate records that arrive in a request body (a JSON array or NDJSON), by index.

The same rules and messages as file ingest (``ingest.fields``), numbered from 0 as
``index N`` (the line of an NDJSON body, the element of a JSON array). One validator per record
kind is reused across requests (it holds a small in-memory DuckDB), guarded by a lock.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

from usagelens.errors import InvalidInput, Problem
from usagelens.ingest.lines import array_lines, strip_bom
from usagelens.ingest.pipeline import DEFAULT_FUTURE_TOLERANCE
from usagelens.ingest.readers import Chunk
from usagelens.ingest.validate import Checked, Validator
from usagelens.model import ENTITY_FIELDS, ENTITY_SCHEMAS, EVENT_FIELDS, EVENT_SCHEMA

__all__ = ["RecordValidator", "body_lines", "is_ndjson", "refuse"]


class RecordValidator:
    """Validates batches of events (or entities of ``kind``) from request bodies."""

    def __init__(self, kind: str = "events", future_tolerance: timedelta = DEFAULT_FUTURE_TOLERANCE) -> None:
        fields = EVENT_FIELDS if kind == "events" else ENTITY_FIELDS[kind]
        schema = EVENT_SCHEMA if kind == "events" else ENTITY_SCHEMAS[kind]
        self._validator = Validator("request", fields, schema, {}, unit="index")
        self._tolerance = future_tolerance
        self._lock = threading.Lock()

    def check(self, data: bytes) -> Checked:
        """Every record of the NDJSON ``data`` (lines numbered from 0, blank lines skipped):
        the valid rows with the line of each (``Checked.lines``), and every problem."""
        chunk = Chunk(None, len(data), data, 0)
        with self._lock:
            self._validator.set_max_time(datetime.now(UTC).replace(tzinfo=None) + self._tolerance)
            return self._validator.check_jsonl(chunk, room=10**7)


def is_ndjson(content_type: str) -> bool:
    """Whether a body of ``content_type`` is NDJSON as sent (``*ndjson``/``*jsonl``): then
    ``body_lines`` only strips a byte-order mark (no parse)."""
    return "ndjson" in content_type or "jsonl" in content_type


def body_lines(raw: bytes, content_type: str, what: str) -> bytes:
    """A request body as NDJSON ending with a newline: NDJSON as sent (``*ndjson``/``*jsonl``
    content types), else a JSON array of ``what`` (or ``{"<what>": [...]}``) one element per line."""
    data = strip_bom(raw) if is_ndjson(content_type) else array_lines(raw, what)
    return data if not data or data.endswith(b"\n") else data + b"\n"


def refuse(problems: list[Problem], read: int, what: str) -> InvalidInput:
    """The error of a batch with invalid records: how many of ``read``, and every problem."""
    bad = len({p.at for p in problems})
    return InvalidInput(f"{bad:,} of {read:,} {what} are invalid; nothing was written", problems=problems)
