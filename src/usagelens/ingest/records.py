"""Validate records that arrive in a request body (a JSON array or NDJSON), by index.

The same rules and messages as file ingest (``ingest.fields``), numbered from 0 as
``index N``. One validator per record kind is reused across requests (it holds a small
in-memory DuckDB), guarded by a lock.
"""

from __future__ import annotations

import json
import re
import threading
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pyarrow as pa

from usagelens.ingest.pipeline import DEFAULT_FUTURE_TOLERANCE
from usagelens.ingest.readers import Chunk, _LazyLines
from usagelens.ingest.validate import Validator
from usagelens.model import ENTITY_FIELDS, ENTITY_SCHEMAS, EVENT_FIELDS, EVENT_SCHEMA

__all__ = ["Problem", "RecordValidator", "ndjson"]

_PROBLEM = re.compile(r"^index (\d+): ([^:]+): (.*)$", re.S)


@dataclass(frozen=True)
class Problem:
    """One invalid value: the record's index, the field and what is wrong."""

    index: int
    field: str
    message: str


class RecordValidator:
    """Validates batches of events (or entities of ``kind``) from request bodies."""

    def __init__(self, kind: str = "events", future_tolerance: timedelta = DEFAULT_FUTURE_TOLERANCE) -> None:
        fields = EVENT_FIELDS if kind == "events" else ENTITY_FIELDS[kind]
        schema = EVENT_SCHEMA if kind == "events" else ENTITY_SCHEMAS[kind]
        self._validator = Validator("request", fields, schema, {}, unit="index")
        self._tolerance = future_tolerance
        self._lock = threading.Lock()

    def check(self, body: list[Any] | bytes) -> tuple[pa.Table, list[Problem], int]:
        """Valid rows, every problem, and the number of records read (JSON list or NDJSON bytes)."""
        valid, _, problems, read = self.check_lines(ndjson(body))
        return valid, problems, read

    def check_lines(self, data: bytes) -> tuple[pa.Table, pa.ChunkedArray, list[Problem], int]:
        """``check`` of NDJSON ``data``, with the line number (from 0) of each valid row, so a
        caller validating several requests at once can give each its rows back."""
        count = data.count(b"\n")
        chunk = Chunk(_LazyLines("request", data, 0), len(data), data, 0, count)
        with self._lock:
            self._validator.set_max_time(datetime.now(UTC).replace(tzinfo=None) + self._tolerance)
            checked = self._validator.check_jsonl(chunk, room=10**7)
        problems = []
        for text in checked.problems:
            m = _PROBLEM.match(text)
            if m:
                problems.append(Problem(int(m.group(1)), m.group(2), m.group(3)))
        return checked.valid, checked.lines, problems, checked.valid.num_rows + checked.invalid


def ndjson(body: list[Any] | bytes) -> bytes:
    """A JSON list of records, or NDJSON bytes, as NDJSON ending with a newline."""
    data = body if isinstance(body, bytes) else b"".join(json.dumps(r).encode() + b"\n" for r in body)
    return data if not data or data.endswith(b"\n") else data + b"\n"
