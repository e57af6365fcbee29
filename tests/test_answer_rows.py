"""The user and model lists of an answer (``report.rows``): sorted by CU descending, ties by id
ascending (code point order, as Python sorts), numbers in their shortest exact form — the same
rows whether a list is short (built in Python) or long (sorted and cut in Arrow)."""

from __future__ import annotations

from decimal import Decimal

import pyarrow as pa
from hypothesis import given, settings
from hypothesis import strategies as st

from usagelens.jsonout import num
from usagelens.report.facts import SMALL
from usagelens.report.rows import consumption_rows, model_rows

CU = pa.decimal128(38, 6)
ids = st.text(alphabet="aAzZ_09éß€😀", min_size=1, max_size=4)
cus = st.sampled_from([Decimal("0"), Decimal("1.5"), Decimal("1.500001"), Decimal("-2"), Decimal("1200")])


def facts(key: str, rows: list[tuple[str, Decimal, Decimal, int, int]]) -> pa.Table:
    return pa.table(
        {
            key: pa.array([r[0] for r in rows], pa.string()),
            "cu": pa.array([r[1] for r in rows], CU),
            "discount": pa.array([r[2] for r in rows], CU),
            "api_cu": pa.array([r[2] for r in rows], CU),
            "api_discount": pa.array([r[1] for r in rows], CU),
            "events": pa.array([r[3] for r in rows], pa.int64()),
            "jobs": pa.array([r[3] for r in rows], pa.int64()),
            "api_events": pa.array([r[4] for r in rows], pa.int64()),
        }
    )


@settings(max_examples=150, deadline=None)
@given(
    st.sampled_from([3, SMALL - 1, SMALL, 3 * SMALL]).flatmap(  # short and long lists alike
        lambda n: st.dictionaries(
            ids, st.tuples(cus, cus, st.integers(1, 5), st.integers(0, 5)), min_size=n, max_size=n
        )
    ),
    st.booleans(),
)
def test_lists_sort_by_cu_then_id_in_both_paths(by_id, named):
    rows = [(i, cu, d, n, min(a, n)) for i, (cu, d, n, a) in by_id.items()]
    names = {i: {"name": f"m {i}", "full_name": f"u {i}", "is_api_key": None} for i in by_id} if named else {}
    order = sorted(rows, key=lambda r: (-r[1], r[0]))
    users = consumption_rows(facts("user_id", rows), names)
    assert [(u["userId"], str(u["value"]), str(u["discount"]), str(u["total"]), u["isApiKey"]) for u in users] == [
        (i, str(num(cu)), str(num(d)), str(num(cu + d)), a == n) for i, cu, d, n, a in order
    ]
    assert all(u["name"] == (f"u {u['userId']}" if named else None) for u in users)
    models = model_rows(facts("model_id", rows), names)
    assert [(m["modelId"], str(m["totalCU"]), m["totalJobs"], str(m["totalApiKeyCU"])) for m in models] == [
        (i, str(num(cu)), n, str(num(d))) for i, cu, d, n, _ in order
    ]
