"""``jsonout.dumps``: orjson's compact text is byte for byte what simplejson writes (exact
decimals, UTF-8 unescaped), and what orjson refuses still comes out, from simplejson."""

from __future__ import annotations

import collections
from decimal import Decimal

import simplejson
from hypothesis import given, settings
from hypothesis import strategies as st

from usagelens.jsonout import _walked_size, dumps, num, size_of

leaves = (
    st.none()
    | st.booleans()
    | st.integers(-(2**80), 2**80)
    | st.decimals(allow_nan=False, allow_infinity=False, places=6)
    | st.text()  # lone surrogates included: orjson refuses them
    # floats (the answer's one: usedPercent, to 0.01) read the same; below 1e-4 orjson writes
    # 1e-7 where simplejson writes 1e-07 (the same number)
    | st.floats(allow_nan=False, allow_infinity=False).filter(lambda f: f == 0 or abs(f) >= 1e-4)
)
values = st.recursive(
    leaves, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4), max_leaves=20
)


def reference(obj: object) -> str:
    return simplejson.dumps(obj, separators=(",", ":"), ensure_ascii=False, use_decimal=True)


@settings(max_examples=300)
@given(values)
def test_compact_text_is_what_simplejson_writes(obj):
    assert dumps(obj) == reference(obj)
    assert size_of(obj) == _walked_size(obj) == len(reference(obj).encode())


def test_edge_values_keep_their_exact_form():
    Pair = collections.namedtuple("Pair", "a b")
    for obj in (
        {"cu": Decimal("0.000001"), "big": 2**70, "neg": Decimal("-5.5")},
        {"text": "é\u2028\x00\x1f\x7f</script>\ud83d"},
        {"pair": Pair(1, 2)},  # simplejson writes a named tuple as an object
        [Decimal("1E+3"), -0, 0.5],
    ):
        assert dumps(obj) == reference(obj)
    assert dumps({"a": [1]}, indent=2) == simplejson.dumps({"a": [1]}, indent=2, separators=(",", ": "))


@settings(max_examples=500)
@given(st.decimals(allow_nan=False, allow_infinity=False, min_value=-(10**20), max_value=10**20, places=6))
def test_num_is_the_normalized_value_with_its_digits(d):
    n = d.normalize()
    expected = n.quantize(Decimal(1)) if n.as_tuple().exponent > 0 else n  # type: ignore[operator]
    got = num(d)
    assert got == d and str(got) == str(Decimal(0) if d == 0 else expected)
