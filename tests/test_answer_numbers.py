"""``report.facts.nums``: a decimal column's values in ``jsonout.num``'s shortest exact form,
the same Decimals (value and text) as ``num`` gives one by one, for every scale and nulls, on
both of its paths (a short column one value at a time, a long one cut in Arrow)."""

from __future__ import annotations

from decimal import Decimal

import pyarrow as pa
from hypothesis import given, settings
from hypothesis import strategies as st

from usagelens.jsonout import num
from usagelens.report.facts import SMALL, nums


def _expected(values: list[Decimal | None]) -> list[str]:
    return [str(num(v)) for v in values]


@settings(max_examples=300)
@given(
    st.integers(0, 12).flatmap(
        lambda scale: st.tuples(
            st.just(scale),
            st.lists(
                st.none()
                | st.integers(-(10**20), 10**20).map(lambda i: Decimal(i).scaleb(-scale))
                | st.sampled_from([Decimal(0), Decimal(1).scaleb(-scale), Decimal(10**6), Decimal(-10)]),
                max_size=3 * SMALL,
            ),
        )
    )
)
def test_nums_is_num_of_each_value_for_every_scale(case):
    scale, values = case
    column = pa.array(values, pa.decimal128(38, scale))
    got = nums(column)
    assert [str(g) for g in got] == _expected(values)
    assert got == [num(v) for v in values]
    chunked = pa.chunked_array([column.slice(0, len(values) // 2), column.slice(len(values) // 2)])
    assert [str(g) for g in nums(chunked)] == _expected(values)


def test_nums_cuts_trailing_zeros_only_after_the_point():
    texts = ["100", "100.5", "0", "10", "-0.000001", "-12.34", "0.1"] * SMALL  # the long path
    column = pa.array([Decimal(s) for s in texts], pa.decimal128(38, 6))
    assert [str(d) for d in nums(column)] == texts
    assert [str(d) for d in nums(column.slice(0, 7))] == texts[:7]  # the short path
    assert [str(d) for d in nums(pa.array([None] * SMALL, pa.decimal128(38, 6)))] == ["0"] * SMALL
    # scale 0 has no point to cut after; past scale 6 Arrow's text may use an exponent
    assert [str(d) for d in nums(pa.array([Decimal(100)] * SMALL, pa.decimal128(38, 0)))] == ["100"] * SMALL
    long = pa.array([Decimal("1E-10"), Decimal("2")] * SMALL, pa.decimal128(38, 12))
    assert [str(d) for d in nums(long)] == ["1E-10", "2"] * SMALL
