"""Run in a child process by ``test_ingest_fuzz``: the fast JSONL path over lines that pass its
guard (each line braced). Arrow's JSON reader crashes the process on some shapes (a bare null
first); whatever reaches it must not, and its rows must be exactly the lines' objects."""

from __future__ import annotations

import json
import os

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from usagelens.errors import InvalidInput
from usagelens.ingest.lines import split_lines
from usagelens.ingest.records import RecordValidator

EXAMPLES = int(os.environ.get("USAGELENS_FUZZ_EXAMPLES", "60"))
scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8)
values = st.recursive(scalars, lambda v: st.lists(v, max_size=3) | st.dictionaries(st.text(max_size=5), v, max_size=3))
event = st.fixed_dictionaries(
    {"id": st.text(min_size=1, max_size=6), "time": st.just("2026-04-10T10:00:00Z"), "teamId": st.just("t")},
    optional={"projectId": values, "userId": values, "action": values, "nsfw": values, "creativeUnitsCost": values},
)
objects = event.map(json.dumps) | st.dictionaries(st.text(max_size=5), values, max_size=3).map(json.dumps)
# a braced line: one object, or an object followed by more values (which must never shift a row)
braced = st.one_of(
    objects,
    st.tuples(objects, st.lists(values.map(json.dumps) | objects, min_size=1, max_size=3)).map(
        lambda t: " ".join([t[0], *t[1], "{}"])
    ),
    st.tuples(objects, st.sampled_from([" null {}", "\t[]{}", "{}", ' "x" {}'])).map("".join),
)
VALIDATOR = RecordValidator()


@settings(max_examples=EXAMPLES * 2, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.lists(braced, min_size=1, max_size=6))
def test_lines_that_pass_the_guard_never_crash_the_reader_nor_shift_a_row(lines):
    body = ("\n".join(lines) + "\n").encode()
    split = split_lines(body, 0)
    assert split.braced() or any(not s.strip() for s in lines)
    try:
        checked = VALIDATOR.check(body)
    except InvalidInput:
        return
    for number, row_id in zip(checked.lines.to_pylist(), checked.valid["id"].to_pylist(), strict=True):
        record = json.loads(lines[number])  # exactly one object on that line
        assert record["id"] == row_id
