"""The REST API: auth, tenant isolation, the one error shape, ingest, Markdown."""

from __future__ import annotations

import base64
from collections.abc import Iterator

import httpx
import pytest

from http_server import serving
from usagelens.auth import KeyStore
from usagelens.ledger.duckdb import DuckDBLedger
from usagelens.surfaces.http import create_app

GOOD = {
    "id": "e1",
    "time": "2026-04-10T10:00:00Z",
    "teamId": "team_b_0",
    "projectId": "proj_b_1",
    "userId": "u1",
    "action": "upscale",
    "creativeUnitsCost": "2.5",
}


@pytest.fixture(scope="module")
def api(small_demo_events) -> Iterator[tuple[str, dict[str, str]]]:
    from conftest import SMALL_DEMO
    from usagelens.demo import demo_entities

    led = DuckDBLedger(":memory:")
    for kind, t in demo_entities(SMALL_DEMO).items():
        led.upsert_entities(kind, t)
    led.write_events(small_demo_events)
    store = KeyStore(led)
    creds = {
        "analytics": store.create("team_b_0", "analytics"),
        "project": store.create("team_b_0", "project", "proj_b_1"),
        "ingest": store.create("team_b_0", "ingest"),
        "other": store.create("team_b_1", "analytics"),
    }
    with serving(create_app(led, require_keys=True)) as url:
        yield url, {k: v.credential() for k, v in creds.items()}
    led.close()


def _get(url: str, path: str, cred: str | None, **params) -> httpx.Response:
    headers = {"authorization": "Basic " + base64.b64encode(cred.encode()).decode()} if cred else {}
    return httpx.get(url + path, params=params, headers=headers, timeout=30)


def _assert_error(r: httpx.Response, status: int, code: str) -> dict:
    assert r.status_code == status, r.text
    body = r.json()
    assert set(body) == {"error"} and body["error"]["code"] == code and body["error"]["message"]
    assert "Traceback" not in r.text
    return body["error"]


READS = [
    ("/v1/usage", {"team_id": "team_b_0", "start_date": "2026-04-01", "end_date": "2026-04-30"}),
    ("/v1/usages", {"teamId": "team_b_0", "startDate": "2026-04-01", "endDate": "2026-04-30"}),
    ("/v1/teams", {}),
]


@pytest.mark.parametrize(("path", "params"), READS)
def test_every_read_endpoint_requires_a_key(api, path, params):
    url, _ = api
    _assert_error(_get(url, path, None, **params), 401, "unauthorized")
    _assert_error(_get(url, path, "ul_0123456789abcdef:wrong", **params), 401, "unauthorized")


@pytest.mark.parametrize(("path", "params"), READS)
@pytest.mark.parametrize("kind", ["analytics", "project", "other"])
def test_tenant_isolation_on_every_read(api, path, params, kind):
    url, creds = api
    r = _get(url, path, creds[kind], **params)
    if path == "/v1/teams":
        teams = [t["id"] for t in r.json()["teams"]]
        assert teams == (["team_b_1"] if kind == "other" else ["team_b_0"])
        return
    if kind == "other":  # team_b_0 does not exist for this key, and is not named back
        err = _assert_error(r, 404, "not_found")
        assert "team_b_0 (" not in err["message"] and "Aurora" not in err["message"]
        return
    assert r.status_code == 200, r.text


def test_a_project_key_reads_its_project_only(api):
    url, creds = api
    whole = _get(
        url,
        "/v1/usage",
        creds["analytics"],
        team_id="team_b_0",
        project_ids="proj_b_1",
        start_date="2026-04-01",
        end_date="2026-04-30",
    ).json()
    mine = _get(url, "/v1/usage", creds["project"], start_date="2026-04-01", end_date="2026-04-30").json()
    assert mine["totals"]["totalCU"] == whole["totals"]["totalCU"]
    _assert_error(_get(url, "/v1/usage", creds["project"], project_id="proj_b_2"), 404, "not_found")


def test_an_ingest_key_writes_but_cannot_read(api):
    url, creds = api
    _assert_error(_get(url, "/v1/usage", creds["ingest"]), 403, "forbidden")
    auth = {"authorization": "Bearer " + creds["ingest"]}
    r = httpx.post(url + "/v1/usage-events", json=[GOOD], headers=auth)
    assert r.json() == {"written": 1, "duplicates": 0}
    r = httpx.post(url + "/v1/usage-events", json={"events": [GOOD]}, headers=auth)
    assert r.json() == {"written": 0, "duplicates": 1}
    _assert_error(
        httpx.post(url + "/v1/usage-events", json=[dict(GOOD, id="e2", teamId="team_b_1")], headers=auth),
        403,
        "forbidden",
    )
    _assert_error(
        httpx.post(url + "/v1/usage-events", json=[GOOD], headers={"x-api-key": creds["analytics"]}), 403, "forbidden"
    )


def test_an_invalid_batch_lists_every_problem_and_writes_nothing(api):
    url, creds = api
    auth = {"x-api-key": creds["ingest"]}
    batch = [dict(GOOD, id="v1"), dict(GOOD, id="v2", time="2026-04-10"), dict(GOOD, id="v3", assetKind="gif"), 7]
    err = _assert_error(httpx.post(url + "/v1/usage-events", json=batch, headers=auth), 422, "invalid_input")
    assert err["message"] == "3 of 4 events are invalid; nothing was written"
    assert [(p["index"], p["field"]) for p in err["problems"]] == [(1, "time"), (2, "assetKind"), (3, "record")]
    again = httpx.post(url + "/v1/usage-events", json=[dict(GOOD, id="v1")], headers=auth)
    assert again.json() == {"written": 1, "duplicates": 0}  # v1 was not written the first time


def test_ndjson_bodies_and_batch_limits(api):
    url, creds = api
    auth = {"x-api-key": creds["ingest"], "content-type": "application/x-ndjson"}
    import json

    body = "".join(json.dumps(dict(GOOD, id=f"n{i}")) + "\n" for i in range(3))
    assert httpx.post(url + "/v1/usage-events", content=body, headers=auth).json() == {"written": 3, "duplicates": 0}
    big = "".join(json.dumps(dict(GOOD, id=f"b{i}")) + "\n" for i in range(10_001))
    err = _assert_error(httpx.post(url + "/v1/usage-events", content=big, headers=auth), 413, "too_large")
    assert err["message"] == "the batch holds 10,001 events; send at most 10,000 per request"
    _assert_error(
        httpx.post(url + "/v1/usage-events", content=b"{nope", headers={"x-api-key": creds["ingest"]}),
        422,
        "invalid_input",
    )


def test_bad_arguments_and_unknown_paths_keep_the_error_shape(api):
    url, creds = api
    c = creds["analytics"]
    _assert_error(_get(url, "/v1/usage", c, include="bogus"), 400, "invalid_argument")
    _assert_error(_get(url, "/v1/usage", c, activity_offset="ten"), 400, "invalid_argument")
    _assert_error(_get(url, "/v1/usages", c, startDate="2026-04-01"), 400, "invalid_argument")
    _assert_error(_get(url, "/v1/usages", c, timeRange="forever"), 400, "invalid_argument")
    _assert_error(_get(url, "/v1/nowhere", c), 404, "not_found")
    _assert_error(httpx.delete(url + "/v1/usage"), 405, "method_not_allowed")
    _assert_error(_get(url, "/v1/stats", c), 403, "forbidden")


def test_markdown_on_request(api):
    url, creds = api
    r = httpx.get(
        url + "/v1/usage",
        params={"start_date": "2026-04-01", "end_date": "2026-04-30"},
        headers={"x-api-key": creds["analytics"], "accept": "text/markdown"},
    )
    assert r.headers["content-type"].startswith("text/markdown") and r.text.startswith("# Usage 2026-04-01")


def test_entities_upsert_with_an_ingest_key(api):
    url, creds = api
    auth = {"x-api-key": creds["ingest"]}
    r = httpx.put(url + "/v1/entities/models", json=[{"id": "model_b_1", "name": "Renamed"}], headers=auth)
    assert r.json() == {"written": 1}
    _assert_error(
        httpx.put(url + "/v1/entities/teams", json=[{"id": "team_b_1", "name": "x"}], headers=auth), 403, "forbidden"
    )
    _assert_error(httpx.put(url + "/v1/entities/robots", json=[{"id": "r"}], headers=auth), 422, "invalid_input")


def test_concurrent_batches_are_committed_together_with_their_own_counts(api):
    import asyncio

    url, creds = api
    auth = {"x-api-key": creds["ingest"]}

    async def post_all() -> list[dict]:
        async with httpx.AsyncClient(base_url=url, headers=auth, timeout=60) as c:
            batches = [[dict(GOOD, id=f"g{i}-{j}") for j in range(300)] + [dict(GOOD, id=f"g{i}-0")] for i in range(12)]
            batches.append([dict(GOOD, id="g0-1"), dict(GOOD, id="g-new")])  # one repeat of another request
            rs = await asyncio.gather(*(c.post("/v1/usage-events", json=b) for b in batches))
            return [r.json() for r in rs]

    got = asyncio.run(post_all())
    # every id is written exactly once, whichever request carried it first
    assert sum(g["written"] for g in got) == 12 * 300 + 1
    assert sum(g["duplicates"] for g in got) == 12 + 1
    assert all(g["written"] + g["duplicates"] == n for g, n in zip(got, [301] * 12 + [2], strict=True))
