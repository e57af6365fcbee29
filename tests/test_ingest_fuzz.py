"""Property tests of every ingest path over arbitrary input (issue 10): arbitrary bytes, odd JSON
values and NDJSON line shapes, through the validator, the HTTP endpoints and file ingest.

Invariants: never a 5xx or an exception other than ``InvalidInput``; never a partial write (the
store holds exactly what was acknowledged); every valid row is the record of the line it is
numbered with. ``USAGELENS_FUZZ_EXAMPLES`` sets the examples per test (``make fuzz`` runs many).
"""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from usagelens.auth import KeyStore
from usagelens.errors import InvalidInput
from usagelens.ingest.pipeline import ingest_file
from usagelens.ingest.records import RecordValidator
from usagelens.ledger.duckdb import DuckDBLedger
from usagelens.surfaces.http import create_app

EXAMPLES = int(os.environ.get("USAGELENS_FUZZ_EXAMPLES", "60"))
FUZZ = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)
FIELDS = ["id", "time", "teamId", "projectId", "userId", "action", "creativeUnitsCost", "discount", "nsfw", "x:y"]


@st.composite
def events(draw: st.DrawFn, team: str = "team_a") -> dict[str, Any]:
    """A mostly valid event, sometimes with one field replaced by an arbitrary value."""
    e: dict[str, Any] = {
        "id": draw(st.text(min_size=1, max_size=12)),
        "time": "2026-04-10T10:00:00Z",
        "teamId": team,
        "projectId": "p",
        "userId": "u",
        "action": "upscale",
        "creativeUnitsCost": draw(st.decimals(-(10**11), 10**11, places=6, allow_nan=False, allow_infinity=False)),
    }
    if draw(st.booleans()):
        e[draw(st.sampled_from(FIELDS))] = draw(json_values)
    return e


def _text(value: Any) -> str:
    return json.dumps(value, default=str)


lines = st.one_of(
    events().map(_text),
    json_values.map(_text),
    st.tuples(events(), events()).map(lambda p: f"{_text(p[0])} {_text(p[1])}"),
    st.sampled_from(["", " ", "\t", "\r", "null", "[]", "{", "}", "{}{}", '{"id": "\\ud800"}']),
    st.text(max_size=40).filter(lambda s: "\n" not in s),
)
ndjson_bodies = st.one_of(
    st.lists(lines, min_size=1, max_size=8).map(lambda ls: ("\n".join(ls) + "\n").encode()),
    st.binary(max_size=300),
)


@FUZZ
@given(ndjson_bodies)
def test_the_validator_gives_every_valid_row_the_number_of_the_line_it_came_from(body):
    try:
        checked = RecordValidator().check(body if body.endswith(b"\n") else body + b"\n")
    except InvalidInput:
        return
    physical = body.split(b"\n")
    for number, row_id in zip(checked.lines.to_pylist(), checked.valid["id"].to_pylist(), strict=True):
        record = json.loads(physical[number])
        assert isinstance(record, dict) and record["id"] == row_id
    assert {p.at for p in checked.problems}.isdisjoint(checked.lines.to_pylist())


class Store:
    """A real store behind the real app (in-process ASGI), with one ingest key per team."""

    def __init__(self) -> None:
        self.ledger = DuckDBLedger(":memory:")
        keys = KeyStore(self.ledger)
        self.creds = {t: keys.create(t, "ingest").credential() for t in ("team_a", "team_b")}
        self.app = create_app(self.ledger, require_keys=True)

    def ids(self) -> set[tuple[str, str]]:
        cur = self.ledger._con.cursor()
        try:
            return set(cur.execute("SELECT team_id, id FROM events").fetchall())
        finally:
            cur.close()

    def post(self, requests: list[tuple[str, str, bytes, str]]) -> list[httpx.Response]:
        """Send ``(method, path, body, content type)`` requests of team A concurrently."""

        async def go() -> list[httpx.Response]:
            transport = httpx.ASGITransport(app=self.app)
            async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as c:
                headers = {"x-api-key": self.creds["team_a"]}
                return await asyncio.gather(
                    *(c.request(m, p, content=b, headers={**headers, "content-type": t}) for m, p, b, t in requests)
                )

        return asyncio.run(go())


@pytest.fixture(scope="module")
def store() -> Store:
    s = Store()
    yield s
    s.ledger.close()


def _expected(body: bytes, content_type: str) -> set[tuple[str, str]]:
    """What an accepted body writes: the (team, id) of its records (computed independently)."""
    if content_type == "application/json":
        records = json.loads(body)
        records = records["events"] if isinstance(records, dict) else records
    else:
        records = [json.loads(raw) for raw in body.split(b"\n") if raw.strip(b" \t\r")]
    return {(r["teamId"], r["id"]) for r in records}


@FUZZ
@given(st.lists(st.tuples(ndjson_bodies, st.sampled_from(["application/x-ndjson", "application/json"])), max_size=4))
def test_concurrent_ingest_of_arbitrary_bodies_is_whole_or_refused_and_never_a_5xx(store, requests):
    before = store.ids()
    answers = store.post([("POST", "/v1/usage-events", b, t) for b, t in requests])
    written: set[tuple[str, str]] = set()
    for (body, content_type), r in zip(requests, answers, strict=True):
        assert r.status_code < 500, r.text
        assert set(r.json()) == ({"written", "duplicates"} if r.status_code == 200 else {"error"})
        if r.status_code == 200:
            mine = _expected(body, content_type)
            assert all(team == "team_a" for team, _ in mine)  # the key's own team only
            written |= mine
        else:
            assert r.json()["error"]["message"]
    assert store.ids() - before == written - before


@FUZZ
@given(json_values.map(lambda v: json.dumps(v).encode()) | st.binary(max_size=200))
def test_entity_upserts_of_arbitrary_json_never_fail_the_server(store, body):
    for kind in ("users", "models", "projects"):
        [r] = store.post([("PUT", f"/v1/entities/{kind}", body, "application/json")])
        assert r.status_code < 500, r.text
        assert set(r.json()) == ({"written"} if r.status_code == 200 else {"error"})


@FUZZ
@given(st.sampled_from(["jsonl", "json", "csv", "parquet"]), ndjson_bodies)
def test_file_ingest_of_arbitrary_bytes_is_whole_or_a_clear_error(tmp_path_factory, suffix, body):
    path = Path(tmp_path_factory.mktemp("fuzz")) / f"f.{suffix}"
    path.write_bytes(body)
    led = DuckDBLedger(":memory:")
    try:
        try:
            report = ingest_file(led, str(path))
        except InvalidInput as e:
            assert str(e) and "\n" not in str(e)
            assert led.stats().events == 0  # nothing partly written
            return
        assert led.stats().events == report.written == report.read - report.duplicates
    finally:
        led.close()


def test_the_fast_json_path_survives_every_braced_line_shape_in_a_child_process():
    """A crash of Arrow's reader would kill the test process, so the property runs in a child
    (``fuzz_arrow_reader.py``): a segfault shows as its exit status, not as a lost suite."""
    import subprocess
    import sys

    child = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            str(Path(__file__).parent / "fuzz_arrow_reader.py"),
        ],
        capture_output=True,
        text=True,
        timeout=900,
        cwd=Path(__file__).parent.parent,
    )
    assert child.returncode == 0, child.stdout[-3000:] + child.stderr[-3000:]
