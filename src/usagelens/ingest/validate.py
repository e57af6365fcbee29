"""Validate raw chunks into ledger-typed Arrow tables, collecting row-numbered problems.

All checks run as one vectorised SQL statement per chunk in a private in-memory DuckDB (the
file parser, not the store), so validation keeps pace with bulk ingest.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pajson

from usagelens.errors import InvalidInput, Problem
from usagelens.ingest.fields import ColumnTypeError, FieldSQL, field_sql, lit, problem
from usagelens.ingest.lines import braced_lines, split_lines
from usagelens.ingest.readers import Chunk
from usagelens.ingest.typed import fast_rows
from usagelens.model import EVENT_SCHEMA, Field, FieldType, with_defaults

__all__ = ["Checked", "Validator"]

MAX_PROBLEMS = 20
_DECIMALS = (FieldType.DECIMAL, FieldType.NONNEG_DECIMAL)
_WIDE = pa.decimal128(38, 18)
#: How the fast JSONL path reads each field type with Arrow, and how DuckDB then sees it.
_FAST_TYPES = {
    FieldType.STRING: pa.string(),
    FieldType.TIME: pa.string(),
    FieldType.ASSET_KIND: pa.string(),
    FieldType.DECIMAL: _WIDE,
    FieldType.NONNEG_DECIMAL: _WIDE,
    FieldType.BOOL: pa.bool_(),
    FieldType.LABELS: pa.list_(pa.string()),
}
_FAST_DUCK = {
    FieldType.STRING: "VARCHAR",
    FieldType.TIME: "VARCHAR",
    FieldType.ASSET_KIND: "VARCHAR",
    FieldType.DECIMAL: "DECIMAL(38,18)",
    FieldType.NONNEG_DECIMAL: "DECIMAL(38,18)",
    FieldType.BOOL: "BOOLEAN",
    FieldType.LABELS: "VARCHAR[]",
}


@dataclass
class Checked:
    """Valid rows of one chunk, the number of invalid ones and the first problems.

    ``lines`` holds the line (or row) number of each valid row, as numbered by our own split
    of the input: a caller may rely on it to give rows back to where they came from."""

    valid: pa.Table
    invalid: int
    problems: list[Problem] = field(default_factory=list)
    lines: pa.ChunkedArray | pa.Array | None = None


class Validator:
    """Validates chunks of one source against ``fields`` into ``schema``."""

    def __init__(
        self,
        name: str,
        fields: tuple[Field, ...],
        schema: pa.Schema,
        columns: dict[str, str],
        *,
        unit: str = "line",
        max_time: datetime | None = None,
    ) -> None:
        self.name, self.fields, self.schema, self.unit = name, fields, schema, unit
        self._con = duckdb.connect()
        self._con.execute("SET TimeZone = 'UTC'")
        self._params = {"max_time": max_time or datetime(9999, 1, 1)}
        try:
            self._sql = self._json_sql() if not columns else self._column_sql(columns)
        except ColumnTypeError as e:
            raise InvalidInput(f"{name}: {e}") from None
        self._fast_schema = pa.schema([(f.name, _FAST_TYPES[f.type]) for f in fields], metadata=None)
        fast_columns = {f.name: _FAST_DUCK[f.type] for f in fields}
        self._fast_sql = "" if columns else self._column_sql(fast_columns)

    def set_max_time(self, max_time: datetime) -> None:
        """Refuse event times after ``max_time`` from now on (a validator may outlive a request)."""
        self._params["max_time"] = max_time

    def _layers(self, source: str, specs: list[FieldSQL], extra_errors: list[str], keep: str) -> str:
        """Stack the per-field layers on ``source``: base, parsed, then values and errors."""
        base = ", ".join(f"{e} AS {k}" for s in specs for k, e in s.base.items())
        parsed = ", ".join(f"{e} AS {k}" for s in specs for k, e in s.parsed.items()) or "1 AS _none"
        values = ", ".join(f"{s.value} AS {f.column}" for f, s in zip(self.fields, specs, strict=True))
        errors = ", ".join([*(s.error for s in specs), *extra_errors])
        return (
            f"SELECT {keep}, {values}, list_filter([{errors}], lambda e: e IS NOT NULL) AS _errs FROM "
            f"(SELECT *, {parsed} FROM (SELECT *, {base} FROM {source}))"
        )

    def _column_sql(self, columns: dict[str, str]) -> str:
        specs = []
        for f in self.fields:
            if f.name in columns:
                specs.append(field_sql(f, f'"{f.name}"', columns[f.name]))
            else:
                specs.append(field_sql(f, "NULL::VARCHAR", "text"))
        return self._layers("chunk", specs, [], "_line")

    def _json_sql(self) -> str:
        names = [f.name for f in self.fields]
        # one typed transform per line gives every value (exact decimals); one more parse
        # lists the keys, to refuse unknown fields rather than drop them silently
        struct = (
            "{"
            + ", ".join(f'"{f.name}": "{"DECIMAL(38,18)" if f.type in _DECIMALS else "JSON"}"' for f in self.fields)
            + "}"
        )
        specs = [field_sql(f, f'_j."{f.name}"', "json") for f in self.fields]
        accepted = lit(f"unknown field (accepted: {', '.join(names)})")
        unknown = f"CASE WHEN len(_unknown) > 0 THEN {problem('_unknown[1]', accepted)} END"
        # _ok: the line is exactly one JSON object (a line holding two, or a bare null, is not)
        source = (
            f"(SELECT _line, line, _ok, _j, CASE WHEN _ok THEN list_filter(json_keys(line), "
            f"lambda k: NOT list_contains({names}, k)) END AS _unknown FROM (SELECT _line, line, _j, "
            "_j IS NOT NULL AND coalesce(try(json_type(line)) = 'OBJECT', false) AS _ok FROM (SELECT _line, line, "
            f"try(json_transform(line, {lit(struct)})) AS _j FROM chunk)))"
        )
        cols = ", ".join(f.column for f in self.fields)
        got = "' (got ' || left(line, 60) || ')'"
        not_object = problem(
            "'record'",
            f"CASE WHEN json_valid(line) THEN 'must be one JSON object' ELSE "
            f"'is not valid JSON (one JSON object per line)' END || {got}",
        )
        return (
            f"SELECT _line, {cols}, CASE WHEN _ok THEN _errs ELSE [{not_object}] END AS _errs "
            f"FROM ({self._layers(source, specs, [unknown], '_line, _ok, line')})"
        )

    def check_jsonl(self, chunk: Chunk, room: int = MAX_PROBLEMS) -> Checked:
        """Check JSONL lines: a typed Arrow parse when the chunk is clean, else line by line.

        Lines are split and numbered by us (``ingest.lines``). Arrow's JSON reader, which
        crashes on some shapes and may read a line as two rows or none, only ever sees a chunk
        whose every line is braced (``braced_lines``, else ``Lines.braced``), and its rows are
        used only when there are exactly as many as lines (then row *i* is line *i*). It refuses
        any type mismatch or unknown field; its typed columns are checked by ``typed.fast_rows``
        (else by the SQL rules); a chunk it refuses, or in which a value is invalid, is checked
        again line by line (each line exactly one object) for exact, per-line messages.
        """
        assert chunk.jsonl is not None
        count = braced_lines(chunk.jsonl, chunk.breaks) if self._fast_sql else None
        if count:
            checked = self._typed_jsonl(chunk.jsonl, np.arange(chunk.first_line, chunk.first_line + count), room)
            if checked is not None:
                return checked
        split = split_lines(chunk.jsonl, chunk.first_line, self.unit)
        lines = split.table
        if self._fast_sql and lines.num_rows and split.braced() and not count:
            checked = self._typed_jsonl(chunk.jsonl, lines["_line"], room)
            if checked is not None:
                return checked
        checked = self._run(self._sql, lines, room - len(split.problems)) if lines.num_rows else self._empty()
        if not split.problems:
            return checked
        problems = sorted([*split.problems, *checked.problems], key=lambda p: p.at)[:room]
        return Checked(checked.valid, checked.invalid + len(split.problems), problems, checked.lines)

    def _typed_jsonl(self, data: bytes, numbers: np.ndarray | pa.ChunkedArray, room: int) -> Checked | None:
        """The chunk through Arrow's typed parse, when every value is valid; else None.
        ``numbers``: the number of each line, as we split them."""
        typed = self._arrow_parse(data)
        if typed is None or typed.num_rows != len(numbers):
            return None
        lines = pa.chunked_array([numbers], pa.int64()) if isinstance(numbers, np.ndarray) else numbers
        rows = fast_rows(typed, self.fields, self.schema, self._params["max_time"], check_utf8=False)
        if rows is not None:
            return Checked(rows, 0, [], lines)
        checked = self._run(self._fast_sql, typed.add_column(0, "_line", lines), room)
        return None if checked.invalid else checked

    def check_arrow(self, chunk: Chunk, room: int = MAX_PROBLEMS) -> Checked:
        """Check a chunk read by Arrow (``Chunk.arrow``), falling back to the SQL rules over the
        relation of the same rows (``Chunk.table``) when a row may be invalid."""
        if chunk.arrow is not None:
            rows = fast_rows(chunk.arrow, self.fields, self.schema, self._params["max_time"])
            if rows is not None:
                return Checked(rows, 0, [], None)
        assert chunk.table is not None
        return self._run(self._sql, chunk.table, room)

    def _arrow_parse(self, data: bytes) -> pa.Table | None:
        try:
            return pajson.read_json(
                pa.BufferReader(pa.py_buffer(data)),  # no copy
                read_options=pajson.ReadOptions(block_size=4 << 20),
                parse_options=pajson.ParseOptions(explicit_schema=self._fast_schema, unexpected_field_behavior="error"),
            )
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            return None

    def _empty(self) -> Checked:
        return Checked(self.schema.empty_table(), 0, [], pa.array([], pa.int64()))

    def check(self, chunk: pa.Table | str, room: int = MAX_PROBLEMS) -> Checked:
        """Valid rows in ``schema`` plus up to ``room`` problems of the invalid ones.

        ``chunk`` is an Arrow table or the SQL text of a relation (a file DuckDB reads).
        """
        return self._run(self._sql, chunk, room)

    def _run(self, sql: str, chunk: pa.Table | str, room: int) -> Checked:
        if isinstance(chunk, str):
            sql = sql.replace(" FROM chunk", f" FROM {chunk}")
        else:
            self._con.register("chunk", chunk)
        try:
            params = self._params if "$max_time" in sql else None
            out = self._con.sql(sql, params=params).to_arrow_table()
        except duckdb.Error as e:
            raise InvalidInput(f"{self.name}: {_engine_problem(str(e))}") from None
        finally:
            if not isinstance(chunk, str):
                self._con.unregister("chunk")
        bad = pc.greater(pc.list_value_length(out["_errs"]), 0)
        invalid = pc.sum(bad).as_py() or 0
        valid = out.filter(pc.invert(bad)) if invalid else out
        problems: list[Problem] = []
        if invalid and room > 0:
            rows = out.filter(bad).slice(0, room).select(["_line", "_errs"]).to_pylist()
            problems = [Problem(r["_line"], e["field"], e["message"], self.unit) for r in rows for e in r["_errs"]]
            problems = problems[:room]
        rows = valid.select(self.schema.names).cast(self.schema)
        if self.schema == EVENT_SCHEMA:
            rows = with_defaults(rows)
        return Checked(rows, invalid, problems, valid["_line"])

    def close(self) -> None:
        """Release the engine."""
        self._con.close()


def _engine_problem(message: str) -> str:
    """One actionable sentence from a DuckDB reader error (CSV errors name their line)."""
    lines = [m.strip() for m in message.splitlines() if m.strip()]
    m = re.search(r"CSV Error on Line: (\d+)", message)
    if m and "not utf-8 encoded" in message:
        return f"line {m.group(1)} is not valid UTF-8; save the file as UTF-8 (in Excel: CSV UTF-8)"
    if m:
        why = next((x for x in lines[1:] if not x.startswith(("Original Line", "Possible Solution"))), lines[0])
        return f"line {m.group(1)} cannot be read as CSV ({why[:160]})"
    return f"cannot read values ({lines[0][:160] if lines else 'unknown error'})"
