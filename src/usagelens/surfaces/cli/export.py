"""``usagelens export``: a team's events (or its names of one entity kind) to a file that
``usagelens ingest`` reads back, from the store or from a running server (``--url``).

The file appears whole or not at all: bytes go to a temporary file beside ``--out``, renamed
over it only once the export is complete (``-`` writes to stdout as it goes). A terminal gets a
progress bar on stderr; the last line is always ``exported N events to FILE in S s (R events/s)``.
"""

from __future__ import annotations

import os
import secrets
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, TYPE_CHECKING, Annotated, Any

import typer

from usagelens.auth import Caller
from usagelens.errors import Forbidden, InvalidArgument, NotFound, Unauthorized, Unavailable, UsageError
from usagelens.ledger import open_ledger
from usagelens.surfaces.cli.console import err, out
from usagelens.surfaces.cli.options import DbOption, KeyOption, UrlOption
from usagelens.surfaces.cli.remote import RemoteLedger, remote_from_env

if TYPE_CHECKING:  # httpx, DuckDB and pyarrow load when ``export`` runs, not with the CLI
    import httpx

__all__ = ["export", "register"]

_ERRORS: dict[int, type[UsageError]] = {400: InvalidArgument, 401: Unauthorized, 403: Forbidden, 404: NotFound}
#: ``tick(rows)`` moves the progress bar to ``rows`` events.
Tick = Callable[[int], None]


@contextmanager
def _progress(label: str, total: int | None) -> Iterator[Tick]:
    """A Rich bar on stderr when it is a terminal; otherwise a tick that does nothing."""
    if not err.is_terminal:
        yield lambda rows: None
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    with Progress(*columns, console=err, transient=True) as bar:
        task = bar.add_task(label, total=total)
        yield lambda rows: bar.update(task, completed=rows)


@contextmanager
def _target(path: str) -> Iterator[IO[bytes]]:
    """A binary file that becomes ``path`` when the block ends without error (stdout for ``-``);
    on any error (or Ctrl-C) the partial file is removed and ``path`` is left as it was."""
    if path == "-":
        try:
            yield sys.stdout.buffer
            sys.stdout.buffer.flush()
        except BrokenPipeError:  # the reader went away (``| head``): say so once, print nothing more
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            raise Unavailable("--out -: stdout was closed before the export ended") from None
        return
    final = Path(path)
    tmp = final.parent / f".{final.name}.{secrets.token_hex(4)}.part"
    try:
        handle = tmp.open("xb")  # the umask's permissions, as for any new file
    except OSError as e:
        raise InvalidArgument(f"--out: cannot write {path} ({e.strerror or e})", field="--out") from None
    try:
        with handle as sink:
            yield sink
        os.replace(tmp, final)
    except OSError as e:
        tmp.unlink(missing_ok=True)
        raise InvalidArgument(f"--out: writing {path} failed ({e.strerror or e}); nothing was written") from None
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _local(db: str | None, team: str | None, window: tuple[Any, Any], entity: str | None, fmt: str, path: str) -> int:
    """Export from the store itself; returns the rows written."""
    from usagelens.export import EventExport, entity_table, export_scope, write_entities

    ledger = open_ledger(db, read_only=True, must_exist=True)
    try:
        scope = export_scope(ledger, Caller.local(), team, "--team")
        if entity is not None:
            rows = entity_table(ledger, scope, entity)
            with _target(path) as sink:
                return write_entities(rows, entity, fmt, sink)
        total = EventExport(ledger, scope, *window).total()
        with _progress(f"export {scope.team_id}", total) as tick, _target(path) as sink:
            return EventExport(ledger, scope, *window, progress=tick).write(fmt, sink)
    finally:
        ledger.close()


def _raise_for(r: httpx.Response, location: str) -> None:
    """A 4xx/5xx answer as the ``UsageError`` it describes (its one sentence)."""
    r.read()
    try:
        error = r.json()["error"]
        message, field = error["message"], error.get("field")
    except (ValueError, KeyError, TypeError):
        raise Unavailable(f"the server at {location} answered {r.status_code}") from None
    raise _ERRORS.get(r.status_code, Unavailable)(message, field=field)


class _Rows:
    """Counts the rows of a JSONL or CSV stream chunk by chunk (CSV: line breaks outside quotes,
    less the header)."""

    def __init__(self, fmt: str) -> None:
        self.fmt, self.rows, self._quoted = fmt, -1 if fmt == "csv" else 0, False

    def add(self, chunk: bytes) -> None:
        if self.fmt == "jsonl":
            self.rows += chunk.count(b"\n")
            return
        for i, part in enumerate(chunk.split(b'"')):
            if i:
                self._quoted = not self._quoted
            if not self._quoted:
                self.rows += part.count(b"\n")


def _remote(remote: RemoteLedger, params: dict[str, str], entity: str | None, fmt: str, path: str) -> int:
    """Export through ``GET /v1/usage-events`` (or ``/v1/entities/{kind}``), streamed to the file."""
    import httpx
    import pyarrow.parquet as pq

    where = f"/v1/entities/{entity}" if entity else "/v1/usage-events"
    try:
        with remote._http.stream("GET", where, params={**params, "format": fmt}) as r:
            if r.status_code >= 400:
                _raise_for(r, remote.location)
            total = r.headers.get("x-total-count")
            counter = _Rows(fmt)
            with _progress("export", int(total) if total and total.isdigit() else None) as tick, _target(path) as sink:
                for chunk in r.iter_bytes():
                    sink.write(chunk)
                    if fmt != "parquet":
                        counter.add(chunk)
                        tick(max(counter.rows, 0))
    except httpx.HTTPError as e:
        raise Unavailable(f"the export from {remote.location} broke off ({e}); nothing was written") from None
    return pq.ParquetFile(path).metadata.num_rows if fmt == "parquet" else max(counter.rows, 0)


def export(
    out_file: Annotated[
        str, typer.Option("--out", help="The file to write (.jsonl, .csv or .parquet), or - for stdout (jsonl, csv).")
    ],
    team: Annotated[
        str | None, typer.Option("--team", help="The team to export (required when the store or key has several).")
    ] = None,
    start: Annotated[
        str | None,
        typer.Option(help="First day (YYYY-MM-DD, from 00:00 UTC) or ISO instant; default: the first event."),
    ] = None,
    end: Annotated[
        str | None,
        typer.Option(help="Last day, included (YYYY-MM-DD), or the ISO instant the export stops; default: no end."),
    ] = None,
    fmt: Annotated[
        str | None, typer.Option("--format", help="jsonl, csv or parquet (default: from --out's extension).")
    ] = None,
    entity: Annotated[
        str | None,
        typer.Option(help="Export the team's names of one kind instead: teams, projects, users, models, jobs, assets."),
    ] = None,
    db: DbOption = None,
    url: UrlOption = None,
    key: KeyOption = None,
) -> None:
    """Export a team's events (or entity names) to a file that usagelens ingest reads back."""
    from usagelens.export import entity_kind, export_window
    from usagelens.ingest.export import export_format

    started = time.perf_counter()
    fmt = export_format(fmt, None if out_file == "-" else out_file) if fmt or out_file != "-" else "jsonl"
    if out_file == "-" and fmt == "parquet":
        raise InvalidArgument("--out: - (stdout) takes jsonl or csv; write Parquet to a file", field="--out")
    if entity is not None:
        entity_kind(entity, "--entity")
        if start is not None or end is not None:
            raise InvalidArgument("--start/--end: entities have no time; drop them to export --entity", field="--start")
    window = export_window(start, end, ("--start", "--end"))
    remote = remote_from_env(url, key)
    if remote:
        params = {k: v for k, v in {"teamId": team, "start": start, "end": end}.items() if v is not None}
        try:
            rows = _remote(remote, params, entity, fmt, out_file)
        finally:
            remote.close()
    else:
        rows = _local(db, team, window, entity, fmt, out_file)
    seconds = time.perf_counter() - started
    what = entity or "events"
    rate = f" ({rows / seconds:,.0f} {what}/s)" if seconds > 0 else ""
    summary = f"exported {rows:,} {what} to {'stdout' if out_file == '-' else out_file} in {seconds:.2f} s{rate}"
    (err if out_file == "-" else out).print(summary, highlight=False, markup=False)


def register(app: typer.Typer) -> None:
    """Add ``export`` to ``app``."""
    app.command()(export)
