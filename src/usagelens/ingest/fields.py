"""Per-field SQL for validation: a value expression and an error expression for each field.

Sources differ in how a value arrives: a JSON value (JSONL, REST bodies), text (CSV cells,
string columns) or a typed column (Parquet). ``field_sql`` returns ``(value, error)``: the
value in the ledger's type, and NULL or one message ``field: what is wrong (got …)``.
Type mismatches of a whole typed column are file-level problems (``ColumnTypeError``).
"""

from __future__ import annotations

from usagelens.model import CU_SCALE, AssetKind, Field, FieldType

__all__ = ["ColumnTypeError", "field_sql", "lit"]

_CU = f"DECIMAL(18,{CU_SCALE})"
_WIDE = "DECIMAL(38,18)"
_KINDS = [k.value for k in AssetKind]
_TIME_RE = r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?[ ]?([Zz]|[+-]\d{2}(:?\d{2})?)$"
_NO_OFFSET_RE = r"^\d{4}-\d{2}-\d{2}([Tt ]\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?)?$"
_DEC_RE = r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$"
_CU_LIMIT = "1e12"


class ColumnTypeError(Exception):
    """A typed column cannot hold this field (e.g. a DOUBLE column for CU)."""


def lit(s: str) -> str:
    """A SQL string literal."""
    return "'" + s.replace("'", "''") + "'"


def _err(f: Field, what: str, raw: str | None) -> str:
    got = f" || ' (got ' || left({raw}, 60) || ')'" if raw else ""
    return f"{lit(f'{f.name}: {what}')}{got}"


def _case(checks: list[tuple[str, str]]) -> str:
    """First matching (condition, message) wins; NULL when none matches."""
    return "CASE " + " ".join(f"WHEN {c} THEN {m}" for c, m in checks) + " END"


def _text_checks(f: Field, text: str, raw: str) -> tuple[str, list[tuple[str, str]]]:
    """Value and checks for a field whose value arrives as text."""
    t = f.type
    if t is FieldType.STRING:
        return text, [(f"length({text}) > 512", _err(f, "is longer than 512 characters", None))]
    if t is FieldType.ASSET_KIND:
        return text, [
            (f"NOT list_contains({_KINDS}, {text})", _err(f, f"must be one of {', '.join(_KINDS)}", raw))
        ]
    if t is FieldType.TIME:
        return _time_text(f, text, raw)
    if t in (FieldType.DECIMAL, FieldType.NONNEG_DECIMAL):
        exact = f"try_cast({text} AS {_WIDE})"
        checks = [
            (
                f"NOT regexp_matches({text}, '{_DEC_RE}') OR {exact} IS NULL",
                _err(f, "must be a decimal number", raw),
            ),
            (
                f"{exact} <> try_cast({text} AS {_CU})",
                _err(f, f"has more than {CU_SCALE} decimal places", raw),
            ),
            (f"abs({exact}) >= {_CU_LIMIT}", _err(f, "is too large (at most 1e12)", raw)),
        ]
        if t is FieldType.NONNEG_DECIMAL:
            checks.append((f"{exact} < 0", _err(f, "must not be negative", raw)))
        return f"try_cast({text} AS {_CU})", checks
    raise AssertionError(t)


def _time_text(f: Field, text: str, raw: str) -> tuple[str, list[tuple[str, str]]]:
    value = f"try_cast({text} AS TIMESTAMPTZ)::TIMESTAMP"
    return value, [
        (
            f"regexp_matches({text}, '{_NO_OFFSET_RE}')",
            _err(f, "has no timezone offset; add Z or ±HH:MM", raw),
        ),
        (
            f"NOT regexp_matches({text}, '{_TIME_RE}') OR try_cast({text} AS TIMESTAMPTZ) IS NULL",
            _err(f, "must be an ISO 8601 date-time with offset, e.g. 2026-04-01T12:00:00Z", raw),
        ),
    ]


def _time_limit(f: Field, value: str, raw: str) -> list[tuple[str, str]]:
    if f.type is not FieldType.TIME:
        return []
    return [(f"{value} > $max_time", _err(f, "is in the future beyond the accepted tolerance", raw))]


def _finish(f: Field, present: str, value: str, checks: list[tuple[str, str]], raw: str) -> tuple[str, str]:
    checks = checks + _time_limit(f, value, raw)
    missing = [(f"NOT ({present})", _err(f, "is required", None))] if f.required else []
    error = (
        _case(missing + [(f"({present}) AND ({c})", m) for c, m in checks]) if (missing or checks) else "NULL"
    )
    return f"CASE WHEN {present} THEN {value} END", error


def _json(f: Field, x: str, line: str) -> tuple[str, str]:
    jt, raw = f"json_type({x})", f"{x}::VARCHAR"
    present = f"{x} IS NOT NULL AND {jt} <> 'NULL'"
    s = f"json_extract_string({x}, '$')"
    if f.type is FieldType.BOOL:
        return _finish(
            f,
            present,
            f"({x}::VARCHAR = 'true')",
            [(f"{jt} <> 'BOOLEAN'", _err(f, "must be true or false", raw))],
            raw,
        )
    if f.type is FieldType.LABELS:
        elems = f"json_extract({x}, '$[*]')"
        strings = f"list_bool_and(list_transform({elems}, lambda e: json_type(e) = 'VARCHAR'))"
        ok = f"{jt} = 'ARRAY' AND {strings} IS NOT FALSE"
        return _finish(
            f,
            present,
            f"from_json({x}, '[\"VARCHAR\"]')",
            [(f"NOT ({ok})", _err(f, "must be a list of strings", raw))],
            raw,
        )
    numeric = f.type in (FieldType.DECIMAL, FieldType.NONNEG_DECIMAL)
    allowed = ["VARCHAR"] + (["UBIGINT", "BIGINT", "DOUBLE"] if numeric else [])
    text, exact = s, []
    if numeric:
        # DuckDB parses JSON numbers as doubles; read the digits from the line itself so
        # 99999999999.999999 is not silently rounded, and check both readings agree.
        digits = f"regexp_extract({line}, '\"{f.name}\"\\s*:\\s*(-?[0-9][0-9.eE+-]*)', 1)"
        text = f"CASE WHEN {jt} = 'VARCHAR' THEN {s} ELSE {digits} END"
        exact = [
            (
                f"{jt} <> 'VARCHAR' AND try_cast({text} AS DOUBLE) IS DISTINCT FROM {x}::DOUBLE",
                _err(f, "could not be read exactly; send it as a string", raw),
            )
        ]
    value, checks = _text_checks(f, text, raw)
    kind = "a number" if numeric else "a string"
    type_check = (f"NOT list_contains({allowed}, {jt})", _err(f, f"must be {kind}", raw))
    empty = [(f"{s} = ''", _err(f, "must not be empty", None))] if f.required else []
    return _finish(f, present, value, [type_check, *empty, *exact, *checks], raw)


def _text(f: Field, x: str) -> tuple[str, str]:
    raw = f"'\"' || {x} || '\"'"
    present = f"{x} IS NOT NULL AND {x} <> ''"
    if f.type is FieldType.BOOL:
        return _finish(
            f,
            present,
            f"lower({x}) IN ('true', '1')",
            [(f"lower({x}) NOT IN ('true', 'false', '1', '0')", _err(f, "must be true or false", raw))],
            raw,
        )
    if f.type is FieldType.LABELS:
        value = (
            f"CASE WHEN starts_with({x}, '[') THEN try_cast({x} AS VARCHAR[]) ELSE string_split({x}, ';') END"
        )
        return _finish(
            f, present, value, [(f"{value} IS NULL", _err(f, "must be labels separated by ';'", raw))], raw
        )
    value, checks = _text_checks(f, x, raw)
    return _finish(f, present, value, checks, raw)


def _native(f: Field, x: str, typ: str) -> tuple[str, str]:
    """A typed (Parquet) column; text columns go through the text rules."""
    if typ == "VARCHAR" and f.type is not FieldType.LABELS:
        return _text(f, x)
    raw = f"{x}::VARCHAR"
    present = f"{x} IS NOT NULL"
    t, ok = f.type, False
    checks: list[tuple[str, str]] = []
    value = x
    if t is FieldType.TIME and typ == "TIMESTAMP WITH TIME ZONE":
        ok, value = True, f"{x}::TIMESTAMP"
    elif t is FieldType.BOOL:
        ok = typ == "BOOLEAN"
    elif t is FieldType.LABELS:
        ok = typ == "VARCHAR[]"
        if typ == "VARCHAR":
            return _text(f, x)
    elif t in (FieldType.DECIMAL, FieldType.NONNEG_DECIMAL):
        ok = typ.startswith("DECIMAL") or typ in (
            "TINYINT",
            "SMALLINT",
            "INTEGER",
            "BIGINT",
            "UTINYINT",
            "USMALLINT",
            "UINTEGER",
        )
        value = f"try_cast({x} AS {_CU})"
        checks = [
            (f"{x}::{_WIDE} <> {value}", _err(f, f"has more than {CU_SCALE} decimal places", raw)),
            (f"abs({x}::{_WIDE}) >= {_CU_LIMIT}", _err(f, "is too large (at most 1e12)", raw)),
        ]
        if t is FieldType.NONNEG_DECIMAL:
            checks.append((f"{x} < 0", _err(f, "must not be negative", raw)))
    if not ok:
        raise ColumnTypeError(_column_hint(f, typ))
    return _finish(f, present, value, checks, raw)


def _column_hint(f: Field, typ: str) -> str:
    want = {
        FieldType.TIME: "a timestamp with time zone (UTC-adjusted) or ISO 8601 text with offset",
        FieldType.DECIMAL: "DECIMAL, integer or text (floating point would not be exact)",
        FieldType.NONNEG_DECIMAL: "DECIMAL, integer or text (floating point would not be exact)",
        FieldType.BOOL: "BOOLEAN or text true/false",
        FieldType.LABELS: "a list of strings or text",
    }.get(f.type, "text")
    return f"column {f.name} has type {typ}; expected {want}"


def field_sql(f: Field, column: str, source: str, line: str = "line") -> tuple[str, str]:
    """``(value_sql, error_sql)`` of field ``f`` read from ``column``.

    ``source`` is ``"json"`` (a JSON value taken from the object text in column ``line``),
    ``"text"`` (a string) or a DuckDB type name of a typed column. Raises
    ``ColumnTypeError`` when a typed column cannot hold the field.
    """
    if source == "json":
        return _json(f, column, line)
    if source == "text":
        return _text(f, column)
    return _native(f, column, source)
