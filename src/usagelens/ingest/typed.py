"""The fast path of validation: typed Arrow columns checked with vectorised Arrow kernels.

Callers can rely on: ``fast_rows`` returns exactly the table the SQL rules (``ingest.fields``)
make of the same columns, or None when it cannot prove every row valid (a problem, or a column
shape it does not know). It never accepts a row the SQL rules refuse, and never words a problem:
on None the caller runs the SQL rules, which find and word every problem. It is conservative
where that is cheap: a string longer than 512 *bytes* (the rule counts characters), a time
that is not ``YYYY-MM-DDTHH:MM:SS[.ffffff]Z``, a decimal of more than 6 places or within 1 of
±1e12 (the rule compares with the double 1e12, which 999999999999.99999 rounds to) goes to SQL.

Equivalences it relies on (``tests/test_ingest_typed.py`` compares both paths): a time string
of that shape is parsed by Arrow exactly when DuckDB parses it, to the same instant; a safe cast
to ``DECIMAL(18,6)`` succeeds exactly when the value has at most 6 decimals and is below 1e12.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

import pyarrow as pa
import pyarrow.compute as pc

from usagelens.model import CU_TYPE, EVENT_SCHEMA, AssetKind, Field, FieldType, with_defaults

__all__ = ["fast_rows"]

_MAX_BYTES = 512
_NEAR_LIMIT = Decimal(999_999_999_999)
_YEAR_ONE = datetime(1, 1, 1)
_KINDS = pa.array([k.value for k in AssetKind])
_TIME_SHAPE = r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{6})?Z$"
_DECIMALS = (FieldType.DECIMAL, FieldType.NONNEG_DECIMAL)
_STRINGS = (FieldType.STRING, FieldType.ASSET_KIND, FieldType.TIME)


def fast_rows(
    table: pa.Table, fields: tuple[Field, ...], schema: pa.Schema, max_time: datetime, *, check_utf8: bool = True
) -> pa.Table | None:
    """``table`` (columns named by JSON field name) validated into ``schema``, or None.

    ``check_utf8=False`` skips the UTF-8 check of strings a reader has validated already."""
    columns = []
    for f in fields:
        target = schema.field(f.column).type
        if f.name not in table.column_names:
            if f.required:
                return None
            columns.append(pa.chunked_array([pa.nulls(table.num_rows, target)]))
            continue
        try:
            got = _column(f, table.column(f.name), max_time, check_utf8)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError):
            return None
        if got is None:
            return None
        columns.append(got.cast(target) if got.type != target else got)
    rows = pa.Table.from_arrays(columns, schema=schema)
    return with_defaults(rows) if schema == EVENT_SCHEMA else rows


def _column(f: Field, col: pa.ChunkedArray, max_time: datetime, check_utf8: bool) -> pa.ChunkedArray | None:
    """One checked column in the ledger's type, or None (not provably valid)."""
    typ = col.type
    if pa.types.is_dictionary(typ):
        col = col.cast(typ.value_type)
        typ = col.type
    if f.type in _STRINGS and (pa.types.is_string(typ) or pa.types.is_large_string(typ)):
        if check_utf8:
            col.validate(full=True)  # raises on invalid UTF-8: the SQL path words it
        return _text(f, col, max_time)
    if f.type is FieldType.TIME and pa.types.is_timestamp(typ) and typ.tz is not None and typ.unit != "ns":
        return _not_after(col.cast(pa.timestamp(typ.unit)).cast(pa.timestamp("us")), f, max_time)
    if f.type in _DECIMALS and pa.types.is_decimal(typ):
        return _decimal(f, col)
    if f.type is FieldType.BOOL and pa.types.is_boolean(typ):
        return col
    if f.type is FieldType.LABELS and (pa.types.is_list(typ) or pa.types.is_large_list(typ)):
        if not (pa.types.is_string(typ.value_type) or pa.types.is_large_string(typ.value_type)):
            return None
        if check_utf8:
            col.validate(full=True)  # UTF-8 of every label
        return col
    return None


def _text(f: Field, col: pa.ChunkedArray, max_time: datetime) -> pa.ChunkedArray | None:
    """A string column: present means not null and not empty; the rules of ``fields._text``."""
    lengths = pc.binary_length(col)
    longest = pc.max(lengths).as_py()
    if longest is None:  # every value null
        return None if f.required else col
    if f.type is FieldType.STRING and longest > _MAX_BYTES:
        return None
    if pc.min(lengths).as_py() == 0:
        if f.required:
            return None
        col = pc.if_else(pc.equal(lengths, 0), pa.scalar(None, col.type), col)
    if f.required and col.null_count:
        return None
    if f.type is FieldType.ASSET_KIND:
        known = pc.sum(pc.is_in(col, value_set=_KINDS)).as_py() or 0
        return col if known == len(col) - col.null_count else None
    if f.type is FieldType.TIME:
        return _time(f, col, max_time)
    return col


def _time(f: Field, col: pa.ChunkedArray, max_time: datetime) -> pa.ChunkedArray | None:
    if not pc.all(pc.match_substring_regex(col, _TIME_SHAPE)).as_py():  # nulls are skipped here
        return None
    return _not_after(pc.cast(col, pa.timestamp("us", tz="UTC")).cast(pa.timestamp("us")), f, max_time)


def _not_after(col: pa.ChunkedArray, f: Field, max_time: datetime) -> pa.ChunkedArray | None:
    """``col`` when no time is after ``max_time`` (or before year 1, which Python cannot hold)."""
    if f.required and col.null_count:
        return None
    bounds = pc.min_max(col)
    if not bounds["min"].is_valid:
        return col
    late = pc.greater(bounds["max"], pa.scalar(max_time, col.type)).as_py()
    early = pc.less(bounds["min"], pa.scalar(_YEAR_ONE, col.type)).as_py()
    return None if late or early else col


def _decimal(f: Field, col: pa.ChunkedArray) -> pa.ChunkedArray | None:
    exact = col.cast(CU_TYPE)  # safe: raises on lost digits or on 1e12 and beyond
    bounds = pc.min_max(exact)
    least, most = bounds["min"].as_py(), bounds["max"].as_py()
    if least is None:
        return exact
    # the SQL rule compares with the double 1e12: values within 1e-4 of it round up to it there
    if most >= _NEAR_LIMIT or least <= -_NEAR_LIMIT:
        return None
    return None if f.type is FieldType.NONNEG_DECIMAL and least < 0 else exact
