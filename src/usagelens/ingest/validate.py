"""Validate raw chunks into ledger-typed Arrow tables, collecting row-numbered problems.

All checks run as one vectorised SQL statement per chunk in a private in-memory DuckDB (the
file parser, not the store), so validation keeps pace with bulk ingest.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from usagelens.errors import InvalidInput
from usagelens.ingest.fields import ColumnTypeError, field_sql, lit
from usagelens.model import Field

__all__ = ["Checked", "Validator"]

MAX_PROBLEMS = 20


@dataclass
class Checked:
    """Valid rows of one chunk, the number of invalid ones and the first problems."""

    valid: pa.Table
    invalid: int
    problems: list[str] = field(default_factory=list)


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

    def _select(self, exprs: list[tuple[str, str]], extra_errors: list[str]) -> str:
        values = ", ".join(f"{v} AS {f.column}" for f, (v, _) in zip(self.fields, exprs, strict=True))
        errors = ", ".join([*(e for _, e in exprs), *extra_errors])
        return f"{values}, list_filter([{errors}], lambda e: e IS NOT NULL) AS _errs"

    def _column_sql(self, columns: dict[str, str]) -> str:
        exprs = []
        for f in self.fields:
            if f.name in columns:
                exprs.append(field_sql(f, f'"{f.name}"', columns[f.name]))
            else:
                exprs.append(field_sql(f, "NULL::VARCHAR", "text"))
        return f"SELECT _line, {self._select(exprs, [])} FROM chunk"

    def _json_sql(self) -> str:
        names = [f.name for f in self.fields]
        paths = "[" + ", ".join(lit(f"$.{n}") for n in names) + "]"
        exprs = [field_sql(f, f"_v[{i + 1}]", "json") for i, f in enumerate(self.fields)]
        accepted = ", ".join(names)
        unknown = (
            f"CASE WHEN len(_unknown) > 0 THEN _unknown[1] || ': unknown field (accepted: {accepted})' END"
        )
        body = self._select(exprs, [unknown])
        return (
            f"SELECT _line, CASE WHEN _ok THEN _errs ELSE [CASE WHEN json_valid(line) "
            "THEN 'record: must be a JSON object (got ' || left(line, 60) || ')' "
            "ELSE 'record: is not valid JSON (got ' || left(line, 60) || ')' END] END AS _errs, "
            f"* EXCLUDE (_line, _errs, _ok, line) FROM (SELECT _line, _ok, line, {body} FROM ("
            "SELECT _line, line, _ok, CASE WHEN _ok THEN json_extract(line, "
            f"{paths}) END AS _v, CASE WHEN _ok THEN list_filter(json_keys(line), lambda k: "
            f"NOT list_contains({names}, k)) END AS _unknown FROM (SELECT _line, line, "
            "CASE WHEN json_valid(line) THEN json_type(line) = 'OBJECT' ELSE false END AS _ok "
            "FROM chunk)))"
        )

    def check(self, chunk: pa.Table, room: int = MAX_PROBLEMS) -> Checked:
        """Valid rows in ``schema`` plus up to ``room`` problems of the invalid ones."""
        self._con.register("chunk", chunk)
        try:
            params = self._params if "$max_time" in self._sql else None
            out = self._con.sql(self._sql, params=params).to_arrow_table()
        except duckdb.Error as e:
            raise InvalidInput(f"{self.name}: cannot read values ({str(e).splitlines()[0]})") from None
        finally:
            self._con.unregister("chunk")
        bad = pc.greater(pc.list_value_length(out["_errs"]), 0)
        invalid = pc.sum(bad).as_py() or 0
        valid = out.filter(pc.invert(bad)) if invalid else out
        problems: list[str] = []
        if invalid and room > 0:
            rows = out.filter(bad).slice(0, room).select(["_line", "_errs"]).to_pylist()
            problems = [f"{self.unit} {r['_line']}: {e}" for r in rows for e in r["_errs"]][:room]
        return Checked(valid.select(self.schema.names).cast(self.schema), invalid, problems)

    def close(self) -> None:
        """Release the engine."""
        self._con.close()
