"""Per-field SQL for validation, in layers so each value is parsed once per row.

Sources differ in how a value arrives: a JSON value (JSONL, REST bodies), text (CSV cells,
string columns) or a typed column (Parquet). For each field, ``field_sql`` returns a
``FieldSQL``: columns computed from the source row (``base``: presence, text, raw text, JSON
type), columns computed from those (``parsed``: casts), and over all of them the field's
``value`` in the ledger's type and its ``error``: NULL, or one problem
``{field, message: "what is wrong (got …)"}``. Typed columns that cannot hold a field raise
``ColumnTypeError`` (a whole-file problem).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from usagelens.model import CU_SCALE, AssetKind, Field, FieldType

__all__ = ["ColumnTypeError", "FieldSQL", "field_sql", "lit", "problem"]

_CU = f"DECIMAL(18,{CU_SCALE})"
_WIDE = "DECIMAL(38,18)"
_KINDS = [k.value for k in AssetKind]
_TIME_RE = r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?[ ]?([Zz]|[+-]\d{2}(:?\d{2})?)$"
_NO_OFFSET_RE = r"^\d{4}-\d{2}-\d{2}([Tt ]\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?)?$"
_DEC_RE = r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$"
_INTS = ("TINYINT", "SMALLINT", "INTEGER", "BIGINT", "UTINYINT", "USMALLINT", "UINTEGER")
_DECIMALS = (FieldType.DECIMAL, FieldType.NONNEG_DECIMAL)


class ColumnTypeError(Exception):
    """A typed column cannot hold this field (e.g. a DOUBLE column for CU)."""


def lit(s: str) -> str:
    """A SQL string literal."""
    return "'" + s.replace("'", "''") + "'"


@dataclass
class FieldSQL:
    """Layered SQL of one field (see the module docstring)."""

    base: dict[str, str] = field(default_factory=dict)
    parsed: dict[str, str] = field(default_factory=dict)
    value: str = "NULL"
    error: str = "NULL"


def problem(field: str, message: str) -> str:
    """A problem as a SQL value: ``{field, message}`` (SQL expressions), never text to parse back."""
    return f"{{'field': {field}, 'message': {message}}}"


def _err(f: Field, what: str, raw: str | None) -> str:
    got = f" || ' (got ' || left({raw}, 60) || ')'" if raw else ""
    return problem(lit(f.name), f"{lit(what)}{got}")


def _case(checks: list[tuple[str, str]]) -> str:
    """First matching (condition, message) wins; NULL when none matches."""
    if not checks:
        return "NULL"
    return "CASE " + " ".join(f"WHEN {c} THEN {m}" for c, m in checks) + " END"


def _parse_text(f: Field, n: str, out: FieldSQL) -> list[tuple[str, str]]:
    """Value and checks of a field that arrives as text in column ``{n}_s``."""
    s, r, t = f"{n}_s", f"{n}_r", f.type
    if t is FieldType.STRING:
        out.value = s
        return [(f"length({s}) > 512", _err(f, "is longer than 512 characters", None))]
    if t is FieldType.ASSET_KIND:
        out.value = s
        kinds = _err(f, f"must be one of {', '.join(_KINDS)}", r)
        return [(f"NOT list_contains({_KINDS}, {s})", kinds)]
    if t is FieldType.TIME:
        # the common UTC forms parse without ICU or regexes; anything else takes the full checks
        out.parsed[f"{n}_z"] = (
            f"coalesce(try_strptime({s}, '%Y-%m-%dT%H:%M:%S.%fZ'), try_strptime({s}, '%Y-%m-%dT%H:%M:%SZ'))"
        )
        out.parsed[f"{n}_ts"] = f"CASE WHEN {n}_z IS NULL THEN try_cast({s} AS TIMESTAMPTZ)::TIMESTAMP END"
        out.value = f"coalesce({n}_z, {n}_ts)"
        return [
            (
                f"{n}_z IS NULL AND regexp_matches({s}, '{_NO_OFFSET_RE}')",
                _err(f, "has no timezone offset; add Z or ±HH:MM", r),
            ),
            (
                f"{n}_z IS NULL AND ({n}_ts IS NULL OR NOT regexp_matches({s}, '{_TIME_RE}'))",
                _err(f, "must be an ISO 8601 date-time with offset, e.g. 2026-04-01T12:00:00Z", r),
            ),
            (f"{out.value} > $max_time", _err(f, "is in the future beyond the accepted tolerance", r)),
        ]
    out.parsed[f"{n}_x"] = f"try_cast({s} AS {_WIDE})"
    out.parsed[f"{n}_c"] = f"try_cast({s} AS {_CU})"
    out.value = f"{n}_c"
    checks = [
        (f"{n}_x IS NULL OR NOT regexp_matches({s}, '{_DEC_RE}')", _err(f, "must be a decimal number", r)),
        *_decimal_range(f, f"{n}_x", f"{n}_c", r),
    ]
    return checks


def _decimal_range(f: Field, exact: str, value: str, raw: str) -> list[tuple[str, str]]:
    checks = [
        (f"{exact} <> {value}", _err(f, f"has more than {CU_SCALE} decimal places", raw)),
        (f"abs({exact}) >= 1e12", _err(f, "is too large (at most 1e12)", raw)),
    ]
    if f.type is FieldType.NONNEG_DECIMAL:
        checks.append((f"{exact} < 0", _err(f, "must not be negative", raw)))
    return checks


def _finish(f: Field, n: str, out: FieldSQL, checks: list[tuple[str, str]], text: str | None = None) -> FieldSQL:
    present = f"{n}_p"
    missing = []
    if f.required:
        if text is not None:  # an empty string is there, but empty
            missing.append((f"{text} = ''", _err(f, "must not be empty", None)))
        missing.append((f"NOT {present}", _err(f, "is required", None)))
    out.error = _case(missing + [(f"{present} AND ({c})", m) for c, m in checks])
    out.value = f"CASE WHEN {present} THEN {out.value} END"
    return out


def _json(f: Field, x: str, n: str, line: str) -> FieldSQL:
    """A field of a JSON object: ``x`` is its JSON text, or for decimal fields its exact
    DECIMAL(38,18) value (DuckDB parses JSON numbers as doubles; a typed transform does not)."""
    t, r = f"{n}_t", f"{n}_r"
    if f.type in _DECIMALS:
        return _json_decimal(f, x, n, line)
    out = FieldSQL(base={t: f"json_type({x})", r: f"{x}::VARCHAR", f"{n}_s": f"json_extract_string({x}, '$')"})
    out.base[f"{n}_p"] = f"coalesce(json_type({x}) <> 'NULL', false)"
    if f.type is FieldType.BOOL:
        out.value = f"{r} = 'true'"
        return _finish(f, n, out, [(f"{t} <> 'BOOLEAN'", _err(f, "must be true or false", r))])
    if f.type is FieldType.LABELS:
        elems = f"json_extract({x}, '$[*]')"
        strings = f"list_bool_and(list_transform({elems}, lambda e: json_type(e) = 'VARCHAR'))"
        out.parsed[f"{n}_ok"] = f"CASE WHEN {t} = 'ARRAY' THEN {strings} IS NOT FALSE ELSE false END"
        out.value = f"CASE WHEN {n}_ok THEN from_json({x}, '[\"VARCHAR\"]') END"
        return _finish(f, n, out, [(f"NOT {n}_ok", _err(f, "must be a list of strings", r))])
    checks = [(f"{t} <> 'VARCHAR'", _err(f, "must be a string", r))]
    if f.required:
        checks.append((f"{n}_s = ''", _err(f, "must not be empty", None)))
    return _finish(f, n, out, checks + _parse_text(f, n, out))


def _json_decimal(f: Field, x: str, n: str, line: str) -> FieldSQL:
    # The exact value came from a typed transform, which also turns true into 1 and gives
    # NULL for "abc" or [1]: look at the JSON type, with one more parse, only for those rows.
    # (``_ok``: the line is a JSON object; the raw text is only extracted for messages)
    path = lit("$." + f.name)
    raw = f"json_extract({line}, {path})::VARCHAR"
    out = FieldSQL(value=f"{n}_c")
    out.base[f"{n}_t"] = f"CASE WHEN _ok AND ({x} IS NULL OR {x} IN (0, 1)) THEN json_type({line}, {path}) END"
    out.parsed[f"{n}_p"] = f"{x} IS NOT NULL OR coalesce({n}_t <> 'NULL', false)"
    out.parsed[f"{n}_c"] = f"{x}::{_CU}"
    ok_types = "('VARCHAR', 'UBIGINT', 'BIGINT', 'DOUBLE')"
    checks = [
        (f"{n}_t NOT IN {ok_types}", _err(f, "must be a number", raw)),
        (f"{x} IS NULL", _err(f, "must be a decimal number", raw)),
        *_decimal_range(f, x, f"{n}_c", raw),
    ]
    return _finish(f, n, out, checks)


def _text(f: Field, x: str, n: str) -> FieldSQL:
    r = f"{n}_r"
    out = FieldSQL(base={f"{n}_s": x, r: f"'\"' || {x} || '\"'", f"{n}_p": f"coalesce({x} <> '', false)"})
    if f.type is FieldType.BOOL:
        out.value = f"lower({x}) IN ('true', '1')"
        ok = f"lower({x}) IN ('true', 'false', '1', '0')"
        return _finish(f, n, out, [(f"NOT {ok}", _err(f, "must be true or false", r))])
    if f.type is FieldType.LABELS:
        out.parsed[f"{n}_l"] = (
            f"CASE WHEN starts_with({x}, '[') THEN try_cast({x} AS VARCHAR[]) ELSE string_split({x}, ';') END"
        )
        out.value = f"{n}_l"
        return _finish(f, n, out, [(f"{n}_l IS NULL", _err(f, "must be labels separated by ';'", r))])
    return _finish(f, n, out, _parse_text(f, n, out), text=x)


def _native(f: Field, x: str, n: str, typ: str) -> FieldSQL:
    """A typed (Parquet) column; text columns go through the text rules."""
    if typ == "VARCHAR":
        return _text(f, x, n)
    r, t = f"{n}_r", f.type
    out = FieldSQL(base={f"{n}_p": f"{x} IS NOT NULL", r: f"{x}::VARCHAR"}, value=x)
    checks: list[tuple[str, str]] = []
    if t is FieldType.TIME and typ == "TIMESTAMP WITH TIME ZONE":
        out.value = f"{x}::TIMESTAMP"
        future = _err(f, "is in the future beyond the accepted tolerance", r)
        checks = [(f"{x}::TIMESTAMP > $max_time", future)]
    elif t in _DECIMALS and (typ.startswith("DECIMAL") or typ in _INTS):
        out.parsed[f"{n}_c"] = f"try_cast({x} AS {_CU})"
        out.value = f"{n}_c"
        checks = _decimal_range(f, f"{x}::{_WIDE}", f"{n}_c", r)
    elif not ((t is FieldType.BOOL and typ == "BOOLEAN") or (t is FieldType.LABELS and typ == "VARCHAR[]")):
        raise ColumnTypeError(_column_hint(f, typ))
    return _finish(f, n, out, checks)


def _column_hint(f: Field, typ: str) -> str:
    exact = "DECIMAL, integer or text (floating point would not be exact)"
    want = {
        FieldType.TIME: "a timestamp with time zone (UTC-adjusted) or ISO 8601 text with offset",
        FieldType.DECIMAL: exact,
        FieldType.NONNEG_DECIMAL: exact,
        FieldType.BOOL: "BOOLEAN or text true/false",
        FieldType.LABELS: "a list of strings or text",
    }.get(f.type, "text")
    return f"column {f.name} has type {typ}; expected {want}"


def field_sql(f: Field, column: str, source: str, line: str = "line") -> FieldSQL:
    """The layered SQL of field ``f`` read from ``column``.

    ``source`` is ``"json"`` (``column`` holds the field's JSON text, or its DECIMAL(38,18)
    value for decimal fields; the whole object text is column ``line``),
    ``"text"`` (a string) or a DuckDB type name of a typed column.
    """
    n = f"_{f.column}"
    if source == "json":
        return _json(f, column, n, line)
    if source == "text":
        return _text(f, column, n)
    return _native(f, column, n, source)
