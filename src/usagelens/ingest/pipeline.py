"""File ingest: read and validate a file as a stream of batches, written in one atomic transaction.

Callers can rely on: by default a file with any invalid record writes nothing and raises
``InvalidInput`` listing the first 20 problems; with ``skip_invalid`` the valid records are
written and the report counts and lists the rejected ones. Re-ingesting a file only counts
duplicates.

Memory: ``valid_batches`` reads and checks a file lazily, in tables of ``WRITE_ROWS`` rows, and
``ingest_file`` hands them to ``UsageWriter.write_events_stream`` as they come: validation and
writing interleave inside one transaction, so a file of any size is written in the memory of a
few batches (the DuckDB store; ClickHouse and a server read the whole stream first). The
``InvalidInput`` of a record found after batches were written inside the transaction comes
out of the stream after its last table, and rolls the transaction back. Entities are small:
they are read whole, then written.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pyarrow as pa

from usagelens.errors import InvalidInput, Problem
from usagelens.ingest.readers import Source, open_source
from usagelens.ingest.validate import MAX_PROBLEMS, Validator
from usagelens.ledger.base import UsageWriter
from usagelens.model import ENTITY_FIELDS, ENTITY_SCHEMAS, EVENT_FIELDS, EVENT_SCHEMA

__all__ = ["DEFAULT_FUTURE_TOLERANCE", "IngestReport", "Progress", "ingest_file", "read_valid", "valid_batches"]

DEFAULT_FUTURE_TOLERANCE = timedelta(hours=1)
#: Valid records are handed to the writer in tables of about this many rows.
WRITE_ROWS = 1 << 20
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
    source = _open(path, kind, fmt)
    # the store loads its id set while the first batches are validated (two cores, two jobs: the
    # writer reads two batches before it waits for the load), except for a Parquet file of one
    # write batch: validated in a fraction of that time, its ids are checked by the store itself
    # (``ledger/duckdb/dedupe.py``), which costs a third of loading them; a text file of one
    # batch likewise (measured, 1M JSONL events into a 10M store: the load competed with Arrow's
    # parser for the CPU, ~105k events/s with it and ~160k without)
    one_batch = _rows_at_most(source, path) <= WRITE_ROWS
    warming = threading.Thread(target=ledger.warm, daemon=True) if kind == "events" and not one_batch else None
    if warming:
        warming.start()
    report = IngestReport(kind)
    batches = _valid(source, report, skip_invalid, future_tolerance, progress, WRITE_ROWS)
    try:
        if kind == "events":
            result = ledger.write_events_stream(_writing(batches, progress))
            report.written, report.duplicates = result.written, result.duplicates
            rows = result.written + result.duplicates  # every valid row is one or the other
        else:
            table = _concat(list(batches), kind)
            rows = table.num_rows
            _progress(progress, 0, rows)
            report.written = ledger.upsert_entities(kind, table)
    finally:
        if warming:
            warming.join()
    _progress(progress, rows, rows)
    report.seconds = time.perf_counter() - started
    return report


def _rows_at_most(source: Source, path: str) -> int:
    """The rows of ``source``: Parquet's count, else an estimate from the bytes per line of its
    first MiB (a guess only decides whether the id set loads ahead: never what is written)."""
    if source.format == "parquet":
        return source.total
    if path == "-" or not source.total:
        return WRITE_ROWS + 1  # stdin: unknown, maybe endless
    try:
        with open(path, "rb") as f:
            head = f.read(1 << 20)
    except OSError:
        return source.total
    lines = head.count(b"\n")
    return source.total if lines == 0 else source.total * lines // len(head)


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
    report = IngestReport(kind)
    batches = valid_batches(
        path, report, fmt=fmt, skip_invalid=skip_invalid, future_tolerance=future_tolerance, progress=progress
    )
    return _concat(list(batches), kind), report


def valid_batches(
    path: str,
    report: IngestReport,
    *,
    fmt: str | None = None,
    skip_invalid: bool = False,
    future_tolerance: timedelta = DEFAULT_FUTURE_TOLERANCE,
    progress: Progress | None = None,
    rows: int = WRITE_ROWS,
) -> Iterator[pa.Table]:
    """The valid records of ``path`` (of ``report.kind``) in tables of about ``rows`` rows, read
    and checked as they are asked for; counts and the first problems go to ``report``.

    Raises ``InvalidInput`` (after the last table) as ``ingest_file`` describes: a consumer that
    writes the tables in one transaction and rolls back on an exception writes a file whole or
    not at all. Without ``skip_invalid`` no table is given after the first invalid record."""
    source = _open(path, report.kind, fmt)
    return _valid(source, report, skip_invalid, future_tolerance, progress, rows)


def _open(path: str, kind: str, fmt: str | None) -> Source:
    if kind != "events" and kind not in ENTITY_FIELDS:
        accepted = ", ".join(["events", *ENTITY_FIELDS])
        raise InvalidInput(f"unknown record kind '{kind}' (accepted: {accepted})")
    return open_source(path, EVENT_FIELDS if kind == "events" else ENTITY_FIELDS[kind], fmt, what=kind)


def _concat(batches: list[pa.Table], kind: str) -> pa.Table:
    schema = EVENT_SCHEMA if kind == "events" else ENTITY_SCHEMAS[kind]
    return pa.concat_tables(batches) if batches else schema.empty_table()


def _valid(
    source: Source,
    report: IngestReport,
    skip_invalid: bool,
    future_tolerance: timedelta,
    progress: Progress | None,
    rows: int,
) -> Iterator[pa.Table]:
    kind = report.kind
    fields = EVENT_FIELDS if kind == "events" else ENTITY_FIELDS[kind]
    schema = EVENT_SCHEMA if kind == "events" else ENTITY_SCHEMAS[kind]
    max_time = datetime.now(UTC).replace(tzinfo=None) + future_tolerance
    validator = Validator(source.name, fields, schema, source.columns, unit=source.unit, max_time=max_time)
    held: list[pa.Table] = []
    try:
        for valid in _validate(source, validator, report, progress):
            if report.rejected and not skip_invalid:
                held = []  # nothing will be written: keep counting problems only
                continue
            held.append(valid)
            if sum(t.num_rows for t in held) >= rows:
                yield pa.concat_tables(held)
                held = []
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
    if held:
        yield pa.concat_tables(held)


def _validate(
    source: Source, validator: Validator, report: IngestReport, progress: Progress | None
) -> Iterator[pa.Table]:
    """The valid rows of each chunk of ``source``; counts and the first problems go to ``report``."""
    done = 0
    for chunk in source.chunks:
        room = MAX_PROBLEMS - len(report.problems)
        # JSONL lines; Arrow rows (Parquet) or a relation DuckDB reads (CSV)
        checked = validator.check_jsonl(chunk, room) if source.format == "jsonl" else validator.check_arrow(chunk, room)
        report.read += checked.valid.num_rows + checked.invalid
        report.rejected += checked.invalid
        report.problems += checked.problems
        done += chunk.size
        if progress:
            progress("reading", done, source.total or done)
        yield checked.valid


def _writing(batches: Iterable[pa.Table], progress: Progress | None) -> Iterator[pa.Table]:
    """``batches`` as the writer asks for them, each announced as "writing" (rows handed to the
    writer so far, with this one; done < total until the commit)."""
    done = 0
    for batch in batches:
        _progress(progress, done, done + batch.num_rows)
        done += batch.num_rows
        yield batch


def _progress(progress: Progress | None, done: int, total: int) -> None:
    if progress:
        progress("writing", done, total)
