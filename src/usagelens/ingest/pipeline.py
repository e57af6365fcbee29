"""File ingest: read, validate everything, then write one atomic batch to the ledger.

Callers can rely on: by default a file with any invalid record writes nothing and raises
``InvalidInput`` listing the first 20 problems; with ``skip_invalid`` the valid records are
written and the report counts and lists the rejected ones. Re-ingesting a file only counts
duplicates.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pyarrow as pa

from usagelens.errors import InvalidInput, Problem
from usagelens.ingest.readers import Source, open_source
from usagelens.ingest.validate import MAX_PROBLEMS, Validator
from usagelens.ledger.base import UsageWriter
from usagelens.model import ENTITY_FIELDS, ENTITY_SCHEMAS, EVENT_FIELDS, EVENT_SCHEMA

__all__ = ["DEFAULT_FUTURE_TOLERANCE", "IngestReport", "Progress", "ingest_file", "read_valid"]

DEFAULT_FUTURE_TOLERANCE = timedelta(hours=1)
#: ``progress(phase, done, total)``: phase is "reading" or "writing"; units are bytes or rows.
Progress = Callable[[str, int, int], None]


@dataclass
class IngestReport:
    """What an ingest did."""

    kind: str
    read: int = 0
    written: int = 0
    duplicates: int = 0
    rejected: int = 0
    seconds: float = 0.0
    problems: list[Problem] = field(default_factory=list)

    def summary(self) -> str:
        """The final line: ``read N, written N, duplicates N, rejected N in S s (R events/s)``."""
        rate = self.read / self.seconds if self.seconds > 0 else 0.0
        unit = "events" if self.kind == "events" else self.kind
        return (
            f"read {self.read:,}, written {self.written:,}, duplicates {self.duplicates:,}, "
            f"rejected {self.rejected:,} in {self.seconds:.2f} s ({rate:,.0f} {unit}/s)"
        )


def ingest_file(
    ledger: UsageWriter,
    path: str,
    *,
    kind: str = "events",
    fmt: str | None = None,
    skip_invalid: bool = False,
    future_tolerance: timedelta = DEFAULT_FUTURE_TOLERANCE,
    progress: Progress | None = None,
) -> IngestReport:
    """Ingest events (or entities of ``kind``) from ``path``; see the module docstring."""
    started = time.perf_counter()
    # the store loads its id set while the file is validated (two cores, two jobs)
    warming = threading.Thread(target=ledger.warm, daemon=True) if kind == "events" else None
    if warming:
        warming.start()
    try:
        valid, report = read_valid(
            path, kind=kind, fmt=fmt, skip_invalid=skip_invalid, future_tolerance=future_tolerance, progress=progress
        )
    finally:
        if warming:
            warming.join()
    _write(ledger, kind, valid, report, progress)
    report.seconds = time.perf_counter() - started
    return report


def read_valid(
    path: str,
    *,
    kind: str = "events",
    fmt: str | None = None,
    skip_invalid: bool = False,
    future_tolerance: timedelta = DEFAULT_FUTURE_TOLERANCE,
    progress: Progress | None = None,
) -> tuple[pa.Table, IngestReport]:
    """Every valid record of ``path`` as one table (``EVENT_SCHEMA`` or the entity's schema) and
    the report of what was read; ``InvalidInput`` as ``ingest_file`` raises it, nothing written."""
    if kind != "events" and kind not in ENTITY_FIELDS:
        accepted = ", ".join(["events", *ENTITY_FIELDS])
        raise InvalidInput(f"unknown record kind '{kind}' (accepted: {accepted})")
    fields = EVENT_FIELDS if kind == "events" else ENTITY_FIELDS[kind]
    schema = EVENT_SCHEMA if kind == "events" else ENTITY_SCHEMAS[kind]
    source = open_source(path, fields, fmt, what=kind)
    max_time = datetime.now(UTC).replace(tzinfo=None) + future_tolerance
    validator = Validator(source.name, fields, schema, source.columns, unit=source.unit, max_time=max_time)
    report = IngestReport(kind)
    try:
        valid = _validate(source, validator, report, progress)
    finally:
        validator.close()
    if report.read == 0:
        raise InvalidInput(f"{source.name}: the file holds no records")
    if report.rejected and not skip_invalid:
        raise InvalidInput(
            f"{source.name}: {report.rejected:,} of {report.read:,} records are invalid; "
            "nothing was written (fix them, or pass --skip-invalid to write the valid ones)",
            problems=report.problems,
            total=report.rejected,
        )
    return (pa.concat_tables(valid) if valid else schema.empty_table()), report


def _validate(source: Source, validator: Validator, report: IngestReport, progress: Progress | None) -> list[pa.Table]:
    """The valid rows of every chunk of ``source``; counts and the first problems go to ``report``."""
    valid: list[pa.Table] = []
    done = 0
    for chunk in source.chunks:
        room = MAX_PROBLEMS - len(report.problems)
        if source.format == "jsonl":
            checked = validator.check_jsonl(chunk, room)
        else:
            checked = validator.check(str(chunk.table), room)  # a relation DuckDB reads
        report.read += checked.valid.num_rows + checked.invalid
        report.rejected += checked.invalid
        report.problems += checked.problems
        valid.append(checked.valid)
        done += chunk.size
        if progress:
            progress("reading", done, source.total or done)
    return valid


def _write(ledger: UsageWriter, kind: str, batch: pa.Table, report: IngestReport, progress: Progress | None) -> None:
    """One atomic write of ``batch``; its counts go to ``report``."""
    if progress:
        progress("writing", 0, batch.num_rows)
    if kind == "events":
        result = ledger.write_events(batch)
        report.written, report.duplicates = result.written, result.duplicates
    else:
        report.written = ledger.upsert_entities(kind, batch)
    if progress:
        progress("writing", batch.num_rows, batch.num_rows)
