"""Ingest over HTTP as an attacker and a careless client would use it (issue 10, items 1–4):
every request writes only its own rows, odd line shapes are problems of their line, nothing
crashes the server, problems travel as values, and numbers are exact."""

from __future__ import annotations

import asyncio
import base64
import json
import random
import threading
from collections.abc import Iterator
from datetime import datetime
from decimal import Decimal

import httpx
import pytest

from http_server import serving
from usagelens.auth import KeyStore
from usagelens.errors import InvalidInput
from usagelens.ingest.group_commit import GroupWriter
from usagelens.ledger.duckdb import DuckDBLedger
from usagelens.surfaces.http import create_app

NDJSON = {"content-type": "application/x-ndjson"}


def ev(i: str, team: str, **kw: object) -> dict:
    return {
        "id": i,
        "time": "2026-04-10T10:00:00Z",
        "teamId": team,
        "projectId": f"proj_{team}",
        "userId": "u1",
        "action": "upscale",
        "creativeUnitsCost": "1.25",
        **kw,
    }


def line(*records: object) -> str:
    """One NDJSON line holding ``records`` side by side (one record is the normal case)."""
    return " ".join(json.dumps(r) for r in records)


def stored(led: DuckDBLedger) -> dict[str, str]:
    """Every stored event id -> its team, read straight from the store."""
    cur = led._con.cursor()
    try:
        return dict(cur.execute("SELECT id, team_id FROM events").fetchall())
    finally:
        cur.close()


@pytest.fixture
def served() -> Iterator[tuple[str, DuckDBLedger, dict[str, str]]]:
    led = DuckDBLedger(":memory:")
    keys = KeyStore(led)
    creds = {t: keys.create(t, "ingest").credential() for t in ("team_a", "team_b")}
    creds["reader_b"] = keys.create("team_b", "analytics").credential()
    with serving(create_app(led, require_keys=True)) as url:
        yield url, led, creds
    led.close()


def _auth(cred: str) -> dict[str, str]:
    return {"authorization": "Basic " + base64.b64encode(cred.encode()).decode()}


def test_a_request_in_a_group_commit_writes_only_its_own_rows():
    """The case reproduced on main: A's line with two objects (one forged for team B) and a
    blank-line request in the same group shifted B's request onto A's forged event."""
    led = DuckDBLedger(":memory:")

    def only(team: str):
        def authorize(rows) -> None:
            if set(rows["team_id"].to_pylist()) - {team}:
                raise PermissionError(team)

        return authorize

    bodies = [
        (line(ev("a1", "team_a"), ev("forged", "team_b")) + "\n", "team_a"),
        ("\n", "team_a"),
        (line(ev("b1", "team_b")) + "\n", "team_b"),
    ]

    async def submit_together() -> list[object]:
        writer = GroupWriter(led)  # one group: all three are pending before it drains
        calls = [writer.submit(b.encode(), b.count("\n"), only(t)) for b, t in bodies]
        return await asyncio.gather(*calls, return_exceptions=True)

    first, blank, own = asyncio.run(submit_together())
    assert isinstance(first, InvalidInput)
    assert [str(p) for p in first.problems] == [
        "index 0: record: is not valid JSON (one JSON object per line) (got "
        + line(ev("a1", "team_a"), ev("forged", "team_b"))[:60]
        + ")"
    ]
    assert isinstance(blank, InvalidInput) and str(blank) == "the batch holds no events (only blank lines)"
    assert (own.written, own.duplicates) == (1, 0)
    assert stored(led) == {"b1": "team_b"}
    led.close()


def test_groups_validated_while_the_previous_one_is_written_are_written_in_order():
    """The next group is validated while the previous one is written (a pipeline of two), but
    groups are written in the order they arrived: of requests carrying the same id, the first
    one writes it and every later one counts it as a duplicate, and an invalid request among
    them fails alone."""
    led = DuckDBLedger(":memory:")

    async def submit_over_time() -> list[object]:
        writer = GroupWriter(led)
        tasks = []
        for k in range(24):
            body = ('{"id": ' if k == 13 else line(ev(f"id{k % 4}", "team_a"))) + "\n"
            tasks.append(asyncio.create_task(writer.submit(body.encode(), 1, lambda rows: None)))
            await asyncio.sleep(0.002 * (k % 3))  # groups of one to several requests form
        return await asyncio.gather(*tasks, return_exceptions=True)

    results = asyncio.run(submit_over_time())
    assert isinstance(results[13], InvalidInput)
    counts = [(r.written, r.duplicates) for k, r in enumerate(results) if k != 13]  # type: ignore[union-attr]
    assert counts == [(1, 0)] * 4 + [(0, 1)] * 19
    assert stored(led) == {f"id{k}": "team_a" for k in range(4)}
    led.close()


class _HeldWrites:
    """A real ledger whose first group write waits for ``release`` (a slow disk, as far as the
    group writer can tell); records how many batches each write carried."""

    def __init__(self, inner: DuckDBLedger) -> None:
        self.inner = inner
        self.release = threading.Event()
        self.groups: list[int] = []

    def write_events_many(self, batches):
        self.groups.append(len(batches))
        if len(self.groups) == 1:
            assert self.release.wait(10)
        return self.inner.write_events_many(batches)

    def __getattr__(self, name: str):
        return getattr(self.inner, name)


@pytest.mark.parametrize(("cap", "groups"), [(GroupWriter.MAX_EVENTS, [1, 6]), (3, [1, 3, 3])])
def test_every_request_that_arrives_while_a_group_is_written_is_validated_meanwhile_and_joins_the_next(cap, groups):
    """Requests arriving one by one during a write are validated as they come (the write does
    not hold them back) and then written together, in one write of at most ``MAX_EVENTS``."""
    led = _HeldWrites(DuckDBLedger(":memory:"))
    checked: list[int] = []

    async def submit_during_a_write() -> list[object]:
        writer = GroupWriter(led)  # type: ignore[arg-type]
        writer.MAX_EVENTS = cap
        first = asyncio.create_task(writer.submit((line(ev("w0", "team_a")) + "\n").encode(), 1, lambda rows: None))
        while not led.groups:  # the first group is being written
            await asyncio.sleep(0.005)
        later = []
        for k in range(1, 7):
            body = (line(ev(f"w{k}", "team_a")) + "\n").encode()
            later.append(asyncio.create_task(writer.submit(body, 1, lambda rows, k=k: checked.append(k))))
            await asyncio.sleep(0.05)
        assert checked == [1, 2, 3, 4, 5, 6][:cap]  # validated (then authorized) during the write
        led.release.set()
        return await asyncio.gather(first, *later)

    results = asyncio.run(submit_during_a_write())
    assert [(r.written, r.duplicates) for r in results] == [(1, 0)] * 7  # type: ignore[union-attr]
    assert led.groups == groups
    assert stored(led.inner) == {f"w{k}": "team_a" for k in range(7)}
    led.inner.close()


SHAPES = ("good", "good", "good", "blank", "two", "null", "array", "garbage", "foreign")


def _body(team: str, other: str, n: int, rng: random.Random, tag: str) -> tuple[str, list[str]]:
    """A request body of random line shapes, and the ids it would write if accepted whole."""
    lines, ids = [], []
    for j in range(n):
        shape = rng.choice(SHAPES)
        own = ev(f"{tag}-{j}", team)
        if shape == "good":
            lines.append(line(own))
            ids.append(own["id"])
        elif shape == "blank":
            lines.append(rng.choice(["", "  ", "\t", "\r"]))
        elif shape == "two":
            lines.append(line(own, ev(f"{tag}-{j}-x", other)))
        elif shape == "null":
            lines.append("null")
        elif shape == "array":
            lines.append(json.dumps([own]))
        elif shape == "garbage":
            lines.append('{"id": ')
        else:  # an event of the other team: refused by the team check
            lines.append(line(ev(f"{tag}-{j}-f", other)))
    return "\n".join(lines) + "\n", ids


def test_interleaved_requests_of_two_teams_only_ever_write_their_own_acknowledged_events(served):
    url, led, creds = served
    rng = random.Random(10)
    acknowledged: dict[str, str] = {}
    refused: list[list[str]] = []

    async def round_(r: int) -> None:
        async with httpx.AsyncClient(base_url=url, timeout=60) as client:
            plans = []
            for k in range(12):
                team, other = ("team_a", "team_b") if k % 2 == 0 else ("team_b", "team_a")
                body, ids = _body(team, other, rng.randint(1, 6), rng, f"r{r}k{k}")
                plans.append((team, body, ids))
            answers = await asyncio.gather(
                *(
                    client.post("/v1/usage-events", content=b, headers={**NDJSON, **_auth(creds[t])})
                    for t, b, _ in plans
                )
            )
        for (team, _, ids), answer in zip(plans, answers, strict=True):
            assert answer.status_code in (200, 403, 422), answer.text
            if answer.status_code == 200:
                assert answer.json() == {"written": len(ids), "duplicates": 0}
                acknowledged.update(dict.fromkeys(ids, team))
            else:
                assert set(answer.json()) == {"error"}
                refused.append(ids)

    for r in range(25):
        asyncio.run(round_(r))
    have = stored(led)
    assert have == acknowledged  # every acknowledged event, with its requester's team, and nothing else
    assert not any(i in have for ids in refused for i in ids)
    assert acknowledged and refused  # both outcomes happened


@pytest.mark.parametrize(
    "body, headers",
    [
        (b"[null]", {"content-type": "application/json"}),
        (b"null\n", NDJSON),
        (b"null\n" + line(ev("n1", "team_a")).encode() + b"\n", NDJSON),
        (b'[null, 1, "x", []]', {"content-type": "application/json"}),
    ],
)
def test_a_null_record_is_a_problem_of_its_line_and_the_server_keeps_serving(served, body, headers):
    url, led, creds = served
    r = httpx.post(url + "/v1/usage-events", content=body, headers={**headers, **_auth(creds["team_a"])})
    assert r.status_code == 422, r.text
    problems = r.json()["error"]["problems"]
    assert problems[0] == {"index": 0, "field": "record", "message": "must be one JSON object (got null)"}
    r = httpx.put(url + "/v1/entities/users", content=body, headers={**headers, **_auth(creds["team_a"])})
    assert r.status_code == 422 and r.json()["error"]["problems"][0]["field"] == "record"
    assert httpx.get(url + "/healthz").json() == {"status": "ok"}  # still alive
    assert stored(led) == {}


def test_an_unknown_field_whose_name_holds_a_colon_refuses_the_batch(served):
    url, led, creds = served
    batch = [ev("c1", "team_a"), {**ev("c2", "team_a"), "x:y": 1}]
    r = httpx.post(url + "/v1/usage-events", json=batch, headers=_auth(creds["team_a"]))
    assert r.status_code == 422, r.text
    [problem] = r.json()["error"]["problems"]
    assert (problem["index"], problem["field"]) == (1, "x:y")
    assert problem["message"].startswith("unknown field (accepted: id, time, teamId")
    assert stored(led) == {}


@pytest.mark.parametrize("content_type", ["application/json", "application/x-ndjson"])
def test_cu_in_a_json_body_are_read_from_their_text_never_through_a_float(served, content_type):
    url, led, creds = served
    text = (
        '[{"id": "x1", "time": "2026-04-10T10:00:00Z", "teamId": "team_b", "projectId": "p", "userId": "u",'
        ' "action": "upscale", "creativeUnitsCost": 123456789012.123456, "discount": 0.000001}]'
    )
    body = text if content_type == "application/json" else text[1:-1] + "\n"
    r = httpx.post(
        url + "/v1/usage-events", content=body, headers={"content-type": content_type, **_auth(creds["team_b"])}
    )
    assert r.json() == {"written": 1, "duplicates": 0}
    cur = led._con.cursor()
    assert cur.execute("SELECT cu, discount FROM events").fetchall() == [
        (Decimal("123456789012.123456"), Decimal("0.000001"))
    ]
    cur.close()
    answer = httpx.get(
        url + "/v1/usage",
        params={"start_date": "2026-04-10", "end_date": "2026-04-10"},
        headers=_auth(creds["reader_b"]),
    )
    assert '"totalCU":123456789012.123456' in answer.text


@pytest.mark.parametrize(
    "body, message",
    [
        (b"[" * 100_000 + b"]" * 100_000, "the body nests JSON too deeply; send a JSON array of events or NDJSON"),
        (b"[NaN]", "the body is not valid JSON (NaN is not a JSON number); send a JSON array of events or NDJSON"),
        (b"\xff\xfe[", "the body is not valid JSON"),
        (b"{}", 'the body must be a JSON array of events, an object {"events": [...]}, or NDJSON'),
    ],
)
def test_bodies_that_are_not_a_json_array_get_one_sentence(served, body, message):
    url, _, creds = served
    r = httpx.post(
        url + "/v1/usage-events", content=body, headers={"content-type": "application/json", **_auth(creds["team_a"])}
    )
    assert r.status_code == 422, r.text
    assert r.json()["error"]["message"].startswith(message)


def test_deeply_nested_and_invalid_utf8_ndjson_lines_are_problems_of_their_line(served):
    url, led, creds = served
    deep = '{"id": "d", "nsfw": ' + "[" * 50_000 + "]" * 50_000 + "}"
    body = (line(ev("ok", "team_a")) + "\n" + deep + "\n").encode() + b'{"id": "\xff"}\n'
    r = httpx.post(url + "/v1/usage-events", content=body, headers={**NDJSON, **_auth(creds["team_a"])})
    assert r.status_code == 422, r.text
    problems = r.json()["error"]["problems"]
    assert [(p["index"], p["field"]) for p in problems][-1] == (2, "record")
    assert "not valid UTF-8" in problems[-1]["message"]
    assert 1 in {p["index"] for p in problems}
    assert stored(led) == {}


def test_a_utf8_bom_before_an_ndjson_body_is_ignored(served):
    url, led, creds = served
    body = b"\xef\xbb\xbf" + line(ev("bom1", "team_a")).encode() + b"\n"
    r = httpx.post(url + "/v1/usage-events", content=body, headers={**NDJSON, **_auth(creds["team_a"])})
    assert r.json() == {"written": 1, "duplicates": 0}
    assert stored(led) == {"bom1": "team_a"}


def test_the_validator_numbers_rows_from_its_own_line_split():
    from usagelens.ingest.records import RecordValidator

    braced_three = line(ev("v6", "t")) + " null " + line(ev("v6b", "t"))  # three values, braced
    rows = [line(ev("v0", "t")), "", line(ev("v2", "t"), ev("v2b", "t")), "   ", line(ev("v4", "t")), "null"]
    rows += ["", "\t", braced_three, line(ev("v9", "t"))]
    checked = RecordValidator().check(("\n".join(rows) + "\n").encode())
    assert checked.lines.to_pylist() == [0, 4, 9]
    assert checked.valid["id"].to_pylist() == ["v0", "v4", "v9"]
    assert [(p.at, p.field) for p in checked.problems] == [(2, "record"), (5, "record"), (8, "record")]
    assert checked.valid["time"].to_pylist() == [datetime(2026, 4, 10, 10)] * 3


def test_only_braced_lines_reach_the_fast_reader_and_only_whole_counts_are_trusted():
    from usagelens.ingest.lines import split_lines

    assert split_lines(b'{"a": 1}\n\n  {"b": 2}\t\r\n', 0).braced()
    assert split_lines(b'{"a": 1} {"b": 2}\n', 0).braced()  # braced, but two rows for one line: refused by count
    for shape in (b"null\n", b'{"a": 1} null\n', b"[{}]\n", b'\xef{"a": 1}\n', b'x{"a": 1}\n'):
        assert not split_lines(shape, 0).braced(), shape
