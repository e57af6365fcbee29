"""Backups of a DuckDB store: a consistent snapshot while it serves, and the check of one.

Callers can rely on:

- ``snapshot`` copies a *file* store under the ledger's write lock, after a ``CHECKPOINT``: every
  write of the process takes that lock, so the copy is the state after the last acknowledged
  write, and writers wait for the copy (0.1–1 s for a 1M-event store, ``docs/backup.md``); readers
  never wait. An in-memory store has no file: it is copied with ``COPY FROM DATABASE`` in one
  transaction (a snapshot; writers go on).
- ``check_backup`` opens a file read-only, never changes it, and raises one sentence (``NotFound``
  for a missing file, else ``InvalidArgument``) unless it is a whole usagelens store of this
  schema version, every block of every table readable (checksums), and every rollup table, row
  by row at every grain (with its rows still in ``rollups_recent``), equal to the sums of the raw
  events, for every team.
"""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
import threading
import time
from collections import defaultdict
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import duckdb

from usagelens.errors import Conflict, InvalidArgument, NotFound, Unavailable
from usagelens.ledger.base import BASE_MEASURES, BackupInfo
from usagelens.ledger.duckdb import sql as q
from usagelens.ledger.rollups import GRAIN_CODES, ROLLUPS, Rollup

__all__ = ["BackupCheck", "BackupInfo", "check_backup", "snapshot"]


def snapshot(con: duckdb.DuckDBPyConnection, location: str, lock: threading.Lock, path: str) -> BackupInfo:
    """Write a consistent copy of the store behind ``con`` to the new file ``path``; see the module."""
    if os.path.lexists(path) or os.path.lexists(path + ".wal"):
        raise Conflict(f"{path} already exists; a backup is written to a new file")
    started = time.perf_counter()
    try:
        if location == ":memory:":
            method, events = "copy-database", _copy_database(con, path)
        else:
            method, events = "checkpoint+copy", _checkpoint_copy(con, location, lock, path)
        with open(path, "rb") as f:  # durable before anyone is told it exists
            os.fsync(f.fileno())
    except BaseException:
        for leftover in (path, path + ".wal"):
            if os.path.lexists(leftover):
                os.remove(leftover)
        raise
    return BackupInfo(path, os.path.getsize(path), events, time.perf_counter() - started, method)


def _checkpoint_copy(con: duckdb.DuckDBPyConnection, location: str, lock: threading.Lock, path: str) -> int:
    """Under the write lock: fold the WAL into the file, then copy the file's bytes."""
    with lock:
        cur = con.cursor()
        try:
            cur.execute("CHECKPOINT")
            (events,) = cur.execute("SELECT count(*) FROM events").fetchall()[0]
        finally:
            cur.close()
        wal = location + ".wal"
        if os.path.exists(wal) and os.path.getsize(wal) > 0:  # never seen: CHECKPOINT empties it
            raise Unavailable(f"the store {location} could not be checkpointed (its {wal} is not empty); try again")
        _copy_in_child(location, path)
    return int(events)


def _copy_in_child(source: str, path: str) -> None:
    """Copy the file in another process. DuckDB holds its file with a POSIX lock, which the
    process loses when it closes *any* descriptor of that file: a copy made here (open, read,
    close) would silently let a second process open the store read-write."""
    child = subprocess.run(
        [sys.executable, "-I", "-c", "import shutil, sys; shutil.copyfile(sys.argv[1], sys.argv[2])", source, path],
        capture_output=True,
        text=True,
        check=False,
    )
    if child.returncode != 0:
        last = (child.stderr.strip().splitlines() or ["no message"])[-1]
        raise Unavailable(f"the copy of the store {source} to {path} failed ({last})")


def _copy_database(con: duckdb.DuckDBPyConnection, path: str) -> int:
    """``COPY FROM DATABASE`` into a new file, in one transaction (a snapshot: writers go on)."""
    alias = f"usagelens_backup_{secrets.token_hex(4)}"
    cur = con.cursor()
    try:
        (source,) = cur.execute("SELECT current_database()").fetchall()[0]
        cur.execute(f"ATTACH {q.quote(path)} AS {alias}")
        try:
            cur.execute("BEGIN")
            try:
                cur.execute(f'COPY FROM DATABASE "{source}" TO {alias}')
                (events,) = cur.execute(f"SELECT count(*) FROM {alias}.events").fetchall()[0]
                cur.execute("COMMIT")
            except BaseException:
                cur.execute("ROLLBACK")
                raise
        finally:
            cur.execute(f"DETACH {alias}")
    finally:
        cur.close()
    return int(events)


@dataclass(frozen=True)
class BackupCheck:
    """What the check of a backup found (it passed): what the file holds and how much was compared."""

    path: str
    bytes: int
    schema_version: str
    events: int
    teams: int
    total_cu: Decimal
    rollup_tables: int  # rollup tables compared, row by row, with the raw events

    def summary(self) -> str:
        """One line: what the backup holds and that it was checked."""
        return (
            f"{self.events:,} events of {self.teams:,} teams (total CU {self.total_cu}), schema "
            f"{self.schema_version}, {self.bytes / 1e6:,.1f} MB; every rollup matches the raw events"
        )


def check_backup(path: str) -> BackupCheck:
    """Check the backup at ``path`` (read-only); see the module docstring for what is checked."""
    if not os.path.lexists(path):
        raise NotFound(f"the backup {path} does not exist", field="path")
    if not os.path.isfile(path):
        raise InvalidArgument(f"the backup {path} is not a file", field="path")
    if os.path.exists(path + ".wal"):
        raise InvalidArgument(
            f"the backup {path} has a write-ahead log beside it ({path}.wal): it is a copy of a store in use, "
            "not a usagelens backup; make one with usagelens backup",
            field="path",
        )
    try:
        con = duckdb.connect(path, read_only=True)
    except duckdb.Error as e:
        raise _not_a_backup(path, e) from None
    try:
        version, events, teams, total = _contents(con, path)
        tables = _compare_rollups(con, path)
    except duckdb.Error as e:
        raise _not_a_backup(path, e) from None
    finally:
        con.close()
    return BackupCheck(path, os.path.getsize(path), version, events, teams, total, tables)


def _not_a_backup(path: str, e: Exception) -> InvalidArgument:
    first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
    return InvalidArgument(f"the backup {path} is not a whole usagelens store ({first})", field="path")


def _contents(con: duckdb.DuckDBPyConnection, path: str) -> tuple[str, int, int, Decimal]:
    """The schema version and counts, after reading every value of every table (a damaged block
    fails its checksum here, whichever column it holds)."""
    tables = [r[0] for r in con.execute("SELECT table_name FROM duckdb_tables() ORDER BY 1").fetchall()]
    if "meta" not in tables or "events" not in tables:
        raise InvalidArgument(f"the backup {path} is a DuckDB file but not a usagelens store", field="path")
    rows = con.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchall()
    version = rows[0][0] if rows else "none"
    if version != q.SCHEMA_VERSION:
        raise InvalidArgument(
            f"the backup {path} has schema version {version}, this usagelens needs {q.SCHEMA_VERSION}; "
            "restore it with the usagelens that made it",
            field="path",
        )
    for name in tables:
        con.execute(f'SELECT count(*), bit_xor(hash(COLUMNS(*))) FROM "{name}"').fetchall()
    sql = "SELECT count(*), count(DISTINCT team_id), coalesce(sum(cu), 0) FROM events"
    events, teams, total = con.execute(sql).fetchall()[0]
    return version, int(events), int(teams), Decimal(total)


Key = tuple[Any, ...]


def _compare_rollups(con: duckdb.DuckDBPyConnection, path: str) -> int:
    """Compare every stored rollup row, each table with its share of ``rollups_recent``, with the
    sums of the raw events, per team, project (except team-level tables), dimensions and API-key
    flag; ``InvalidArgument`` naming the first rollup and team that differ. Returns the tables."""
    tables = 0
    for r in ROLLUPS:
        raw = _raw_sums(con, r.dims)
        for grain in r.grains:
            for team_level in (False, True) if grain in q.TEAM_GRAINS else (False,):
                stored = _stored_sums(con, r, grain, team_level)
                want = _fold(raw, team_level)
                if stored != want:
                    diff = {k for k in set(stored) | set(want) if stored.get(k) != want.get(k)}
                    team = min(k[0] for k in diff)
                    level = "team-level " if team_level else ""
                    raise InvalidArgument(
                        f"the backup {path} is inconsistent: the {level}{grain} rows of the {r.name} rollup of team "
                        f"{team} do not add up to its raw events",
                        field="path",
                    )
                tables += 1
    return tables


def _stored_sums(con: duckdb.DuckDBPyConnection, r: Rollup, grain: str, team_level: bool) -> dict[Key, tuple[Any, ...]]:
    """One main table's rows plus the ``rollups_recent`` rows it stands for (weeks are made from
    the recent day rows at compaction), summed per key."""
    cols = "team_id, project_id, d1, d2, is_api_key, " + ", ".join(BASE_MEASURES)
    source = GRAIN_CODES["day" if grain == "week" else grain]
    keys = "team_id, d1, d2, is_api_key" if team_level else "team_id, project_id, d1, d2, is_api_key"
    rows = con.execute(
        f"SELECT {keys}, {', '.join(f'sum({m})' for m in BASE_MEASURES)} FROM (SELECT {cols} FROM "
        f"{q.main_table(r, grain, team_level)} UNION ALL SELECT {cols} FROM rollups_recent WHERE kind = {r.code} "
        f"AND grain = {source}) GROUP BY ALL"
    ).fetchall()
    return _nonzero((row[: -len(BASE_MEASURES)], row[-len(BASE_MEASURES) :]) for row in rows)


def _raw_sums(con: duckdb.DuckDBPyConnection, dims: tuple[str, ...]) -> list[tuple[Any, ...]]:
    """Base measures over the raw events, by team, project, ``dims`` (as ``d1``, ``d2``) and API-key flag."""
    source = "(SELECT *, unnest(nsfw) AS label FROM events)" if "label" in dims else "events"
    d = [f"e.{c}" for c in dims] + ["NULL::VARCHAR"] * (2 - len(dims))
    measures = ", ".join(f"{expr} AS {m}" for m, expr in q.RAW_MEASURES.items())
    sql = f"SELECT e.team_id, e.project_id, {', '.join(d)}, e.is_api_key, {measures} FROM {source} e GROUP BY ALL"
    return con.execute(sql).fetchall()


def _fold(rows: list[tuple[Any, ...]], team_level: bool) -> dict[Key, tuple[Any, ...]]:
    """Raw sums per key, without the project for a team-level table."""
    if not team_level:
        return _nonzero((row[:5], row[5:]) for row in rows)
    sums: dict[Key, list[Any]] = defaultdict(lambda: [0] * len(BASE_MEASURES))
    for row in rows:
        acc = sums[(row[0], *row[2:5])]
        for i, v in enumerate(row[5:]):
            acc[i] += v or 0
    return _nonzero(sums.items())


def _nonzero(items: Any) -> dict[Key, tuple[Any, ...]]:
    """Keys whose measures are not all zero (a voided group sums to zero in the rollups and is
    absent from the raw events), with the measures as exact values."""
    out = {}
    for key, values in items:
        exact = tuple(Decimal(v or 0) for v in values)
        if any(exact):
            out[tuple(key)] = exact
    return out
