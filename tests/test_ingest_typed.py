"""The fast validation path (``ingest.typed``) against the SQL rules: whenever it accepts a table,
the SQL rules accept it too and make exactly the same rows of it; what it cannot prove valid it
leaves to them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from usagelens.ingest.typed import fast_rows
from usagelens.ingest.validate import Validator
from usagelens.model import EVENT_FIELDS, EVENT_SCHEMA

NOW = datetime(2026, 5, 1)
#: How DuckDB names each Arrow type of these tests (what a Parquet reader reports).
DUCK = {
    pa.string(): "VARCHAR",
    pa.bool_(): "BOOLEAN",
    pa.list_(pa.string()): "VARCHAR[]",
}


def duck_type(t: pa.DataType) -> str:
    if pa.types.is_timestamp(t):
        return "TIMESTAMP WITH TIME ZONE"
    if pa.types.is_decimal(t):
        return f"DECIMAL({t.precision},{t.scale})"
    return DUCK[t]


def by_field_name(rows: pa.Table) -> pa.Table:
    """Ledger rows as a source would give them: columns by JSON field name, times with a zone."""
    names = {f.column: f.name for f in EVENT_FIELDS}
    t = rows.set_column(1, "time", rows["time"].cast(pa.timestamp("us", tz="UTC")))
    return t.rename_columns([names[c] for c in t.column_names])


def sql_rows(source: pa.Table) -> tuple[int, list[dict]]:
    """Invalid rows and valid rows of ``source`` by the SQL rules."""
    columns = {f.name: duck_type(f.type) for f in source.schema}
    v = Validator("t", EVENT_FIELDS, EVENT_SCHEMA, columns, unit="row", max_time=NOW)
    try:
        lines = pa.array(range(1, source.num_rows + 1), pa.int64())
        checked = v.check(source.add_column(0, "_line", lines))
    finally:
        v.close()
    return checked.invalid, checked.valid.to_pylist()


def agree(source: pa.Table) -> pa.Table | None:
    """The fast path's table, after checking that the SQL rules agree with it."""
    fast = fast_rows(source, EVENT_FIELDS, EVENT_SCHEMA, NOW)
    if fast is not None:
        invalid, rows = sql_rows(source)
        assert invalid == 0 and fast.schema == EVENT_SCHEMA and fast.to_pylist() == rows
    return fast


def test_demo_events_take_the_fast_path_and_come_out_the_same(small_demo_events):
    source = by_field_name(small_demo_events.slice(0, 3000))
    assert agree(source) is not None


def test_json_shaped_columns_take_the_fast_path_too(small_demo_events):
    """Arrow's JSON reader gives times as text and decimals as DECIMAL(38,18)."""
    source = by_field_name(small_demo_events.slice(0, 2000))
    text = [
        t.strftime("%Y-%m-%dT%H:%M:%S") + ("Z" if i % 2 else t.strftime(".%fZ"))
        for i, t in enumerate(small_demo_events.slice(0, 2000)["time"].to_pylist())
    ]
    source = source.set_column(1, "time", pa.array(text))
    for name in ("creativeUnitsCost", "discount"):
        i = source.schema.get_field_index(name)
        source = source.set_column(i, name, source[name].cast(pa.decimal128(38, 18)))
    assert agree(source) is not None


def one(**values: object) -> pa.Table:
    """A one-row source table of typed columns (a Parquet-like file) with ``values`` changed."""
    row: dict[str, object] = {
        "id": "e1",
        "time": datetime(2026, 4, 1, 12, tzinfo=UTC),
        "teamId": "t",
        "projectId": "p",
        "userId": "u",
        "action": "images-generation",
        "creativeUnitsCost": Decimal("1.5"),
        "discount": Decimal("0"),
        "isApiKey": None,
        "modelId": "",
        "nsfw": ["a", None],
        "assetKind": "image",
    } | values
    types = {
        "time": pa.timestamp("us", tz="UTC"),
        "creativeUnitsCost": pa.decimal128(18, 6),
        "discount": pa.decimal128(18, 6),
        "isApiKey": pa.bool_(),
        "nsfw": pa.list_(pa.string()),
    }
    return pa.table({k: pa.array([v], types.get(k, pa.string())) for k, v in row.items()})


@pytest.mark.parametrize(
    "values",
    [
        {},
        {"nsfw": []},
        {"assetKind": ""},
        {"userId": "é" * 300},  # 300 characters but 600 bytes: left to SQL, which accepts it
        {"time": datetime(2026, 4, 1, 14, tzinfo=__import__("zoneinfo").ZoneInfo("Europe/Paris"))},
        {"creativeUnitsCost": Decimal("-999999999999.999999")},
    ],
)
def test_valid_values_agree(values):
    agree(one(**values))


@pytest.mark.parametrize(
    "values",
    [
        {"id": ""},
        {"teamId": None},
        {"assetKind": "photo"},
        {"discount": Decimal("-1")},
        {"time": datetime(2026, 6, 1, tzinfo=UTC)},  # beyond the tolerance
        {"userId": "x" * 513},
    ],
)
def test_invalid_values_are_left_to_the_sql_rules(values):
    source = one(**values)
    assert fast_rows(source, EVENT_FIELDS, EVENT_SCHEMA, NOW) is None
    assert sql_rows(source)[0] == 1


def test_decimals_beyond_the_scale_or_range_are_left_to_the_sql_rules():
    for value in ("1.1234567", "1000000000000"):
        source = one().set_column(6, "creativeUnitsCost", pa.array([Decimal(value)], pa.decimal128(38, 18)))
        assert fast_rows(source, EVENT_FIELDS, EVENT_SCHEMA, NOW) is None
        assert sql_rows(source)[0] == 1


@settings(max_examples=300, deadline=None)
@given(
    st.integers(0, 9999),
    st.integers(0, 19),
    st.integers(0, 39),
    st.integers(0, 29),
    st.integers(0, 69),
    st.integers(0, 69),
    st.none() | st.integers(0, 999_999),
)
def test_time_text_the_fast_path_accepts_is_the_instant_duckdb_reads(year, month, day, hour, minute, second, frac):
    text = f"{year:04d}-{month:02d}-{day:02d}T{hour:02d}:{minute:02d}:{second:02d}"
    text += "Z" if frac is None else f".{frac:06d}Z"
    source = one().set_column(1, "time", pa.array([text]))
    agree(source)


def test_a_time_beyond_the_tolerance_is_refused_by_both():
    later = (NOW + timedelta(seconds=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    source = one().set_column(1, "time", pa.array([later]))
    assert fast_rows(source, EVENT_FIELDS, EVENT_SCHEMA, NOW) is None
    assert sql_rows(source)[0] == 1
