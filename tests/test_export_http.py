"""``GET /v1/usage-events`` and ``GET /v1/entities/{kind}`` through a real uvicorn: the stream is the
local export byte for byte, keys see only what they may, and no query string gets a 5xx."""

from __future__ import annotations

import io
import os
from collections.abc import Iterator
from typing import Any

import httpx
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from export_support import OTHER, PROJECT, TEAM, demo_store
from http_server import serving
from usagelens.auth import KeyStore
from usagelens.export import EventExport, ExportScope, entity_table, export_window, write_entities
from usagelens.ledger.duckdb import DuckDBLedger
from usagelens.surfaces.http import create_app

#: See ``test_export.py``: the DuckDB backend's Arrow reader warning, ignored as ``pyproject.toml`` does.
pytestmark = pytest.mark.filterwarnings("ignore:Arrow output on a DB-API result:UserWarning")
EXAMPLES = int(os.environ.get("USAGELENS_FUZZ_EXAMPLES", "60"))


@pytest.fixture(scope="module")
def server() -> Iterator[dict[str, Any]]:
    """The demo store served with keys: one client per kind of key."""
    led = demo_store()
    keys = KeyStore(led)
    made = {
        "admin": keys.create(None, "admin"),
        "analytics": keys.create(TEAM, "analytics"),
        "project": keys.create(TEAM, "project", PROJECT),
        "ingest": keys.create(TEAM, "ingest"),
    }
    with serving(create_app(led, require_keys=True)) as url:
        clients = {k: httpx.Client(base_url=url, headers={"x-api-key": v.credential()}) for k, v in made.items()}
        yield {"ledger": led, **clients}
        for c in clients.values():
            c.close()
    led.close()


def _local(led: DuckDBLedger, fmt: str, scope: ExportScope, start: str | None = None, end: str | None = None) -> bytes:
    sink = io.BytesIO()
    EventExport(led, scope, *export_window(start, end)).write(fmt, sink)
    return sink.getvalue()


@pytest.mark.parametrize("fmt", ["jsonl", "csv", "parquet"])
def test_the_http_stream_is_the_local_export_byte_for_byte(server, fmt):
    params = {"teamId": TEAM, "format": fmt, "start": "2026-03-05", "end": "2026-04-20"}
    r = server["admin"].get("/v1/usage-events", params=params)
    assert r.status_code == 200, r.text
    local = _local(server["ledger"], fmt, ExportScope(TEAM), "2026-03-05", "2026-04-20")
    assert r.content == local and len(local) > 10_000
    assert r.headers["content-disposition"] == f'attachment; filename="{TEAM}-events.{fmt}"'
    rows = pq.read_table(io.BytesIO(local)).num_rows if fmt == "parquet" else local.count(b"\n") - (fmt == "csv")
    assert int(r.headers["x-total-count"]) == rows


def test_jsonl_streams_in_chunks_without_a_length(server):
    with server["analytics"].stream("GET", "/v1/usage-events") as r:
        assert r.status_code == 200 and r.headers["content-type"] == "application/x-ndjson"
        assert "content-length" not in r.headers and r.headers["transfer-encoding"] == "chunked"
        assert b"".join(r.iter_bytes()) == _local(server["ledger"], "jsonl", ExportScope(TEAM))


@pytest.mark.parametrize("kind", ["users", "projects", "models"])
def test_entities_over_http_are_the_local_export(server, kind):
    r = server["analytics"].get(f"/v1/entities/{kind}", params={"format": "csv"})
    sink = io.BytesIO()
    write_entities(entity_table(server["ledger"], ExportScope(TEAM), kind), kind, "csv", sink)
    assert r.status_code == 200 and r.content == sink.getvalue() and r.content.count(b"\n") > 1


@pytest.mark.parametrize("path", ["/v1/usage-events", "/v1/entities/users"])
def test_another_teams_export_reads_exactly_like_a_team_that_does_not_exist(server, path):
    other = server["analytics"].get(path, params={"teamId": OTHER})
    missing = server["analytics"].get(path, params={"teamId": "no_such_team"})
    assert other.status_code == missing.status_code == 404
    assert other.text.replace(OTHER, "X") == missing.text.replace("no_such_team", "X")
    assert other.json()["error"]["field"] == "teamId" and "team_b_2" not in other.text


def test_a_project_key_exports_only_its_project(server, demo_rows):
    r = server["project"].get("/v1/usage-events", params={"format": "parquet"})
    got = pq.read_table(io.BytesIO(r.content))
    mine = [x for x in demo_rows if x["team_id"] == TEAM and x["project_id"] == PROJECT]
    assert set(got["projectId"].to_pylist()) == {PROJECT} and got.num_rows == len(mine) > 0
    projects = server["project"].get("/v1/entities/projects")
    assert projects.text.count("\n") == 1 and f'"id":"{PROJECT}"' in projects.text


@pytest.mark.parametrize("path", ["/v1/usage-events", "/v1/entities/users"])
def test_an_ingest_key_may_not_export(server, path):
    r = server["ingest"].get(path, params={"teamId": TEAM})
    assert r.status_code == 403 and r.json()["error"]["code"] == "forbidden"


@pytest.mark.parametrize(
    ("path", "params", "status", "field"),
    [
        ("/v1/usage-events", {}, 400, "teamId"),
        ("/v1/usage-events", {"teamId": TEAM, "format": "xml"}, 400, "format"),
        ("/v1/usage-events", {"teamId": TEAM, "start": "2026-04-02", "end": "2026-04-01"}, 400, "end"),
        ("/v1/usage-events", {"teamId": TEAM, "since": "2026-04-01"}, 400, "since"),
        ("/v1/entities/robots", {"teamId": TEAM}, 400, "kind"),
        ("/v1/entities/users", {"teamId": TEAM, "start": "2026-04-01"}, 400, "start"),
    ],
)
def test_refusals_come_before_the_first_byte_in_the_one_error_shape(server, path, params, status, field):
    r = server["admin"].get(path, params=params)
    assert r.status_code == status and r.headers["content-type"] == "application/json"
    error = r.json()["error"]
    assert error["field"] == field and field in error["message"]


_TEXT = st.one_of(
    st.text(max_size=40),
    st.sampled_from(["jsonl", "csv", "parquet", TEAM, OTHER, "2026-04-01", "2026-04-01T10:00:00+05:30", "9999-12-31"]),
)


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    params=st.dictionaries(
        st.one_of(st.sampled_from(["teamId", "start", "end", "format"]), st.text(min_size=1, max_size=8)),
        _TEXT,
        max_size=4,
    ),
    kind=st.sampled_from(["analytics", "project", "admin"]),
)
def test_no_query_string_gets_a_5xx(server, params, kind):
    r = server[kind].get("/v1/usage-events", params=params)
    assert r.status_code < 500, r.text
    if r.status_code != 200:
        error = r.json()["error"]
        assert error["code"] != "internal" and "\n" not in error["message"]
