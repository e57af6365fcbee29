"""The HTTP server's outer guard through a real uvicorn: the body limit (413 before a big body is
read, for Content-Length and chunked uploads), loopback-only Host names and no browsers of other
origins without keys, security headers on every response, and a script-free ``/docs``."""

from __future__ import annotations

import json
import re
import select
import socket
from collections.abc import Iterator
from datetime import datetime

import httpx
import pytest

from conftest import event, table
from http_server import serving
from usagelens.auth import KeyStore
from usagelens.errors import InvalidArgument
from usagelens.ledger.duckdb import DuckDBLedger
from usagelens.surfaces.http import create_app
from usagelens.surfaces.http.guard import DEFAULT_MAX_BODY, SECURITY_HEADERS, max_body_bytes

LIMIT = 64 * 1024
MCP_POST = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}
INIT = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}},
}
EVENT = {
    "id": "x1",
    "time": "2026-04-10T10:00:00Z",
    "teamId": "team_a",
    "projectId": "proj_1",
    "userId": "u1",
    "action": "upscale",
}


@pytest.fixture(scope="module")
def ledger() -> Iterator[DuckDBLedger]:
    led = DuckDBLedger(":memory:")
    led.write_events(table([event(i, datetime(2026, 4, 10, i % 24)) for i in range(20)]))
    yield led
    led.close()


@pytest.fixture(scope="module")
def keyless(ledger) -> Iterator[str]:
    """A keyless server on 127.0.0.1 with a 64 KiB body limit."""
    with serving(create_app(ledger, require_keys=False, max_body=LIMIT)) as url:
        yield url


@pytest.fixture(scope="module")
def keyed() -> Iterator[tuple[str, str]]:
    led = DuckDBLedger(":memory:")
    led.write_events(table([event(i, datetime(2026, 4, 10, i % 24)) for i in range(5)]))
    key = KeyStore(led).create("team_a", "analytics")
    with serving(create_app(led)) as url:
        yield url, key.credential()
    led.close()


def _port(url: str) -> int:
    return int(url.rsplit(":", 1)[1])


def _events(url: str) -> int:
    return httpx.get(f"{url}/v1/stats", timeout=30).json()["events"]


def _assert_error(r: httpx.Response, status: int, code: str) -> str:
    assert r.status_code == status, r.text
    body = r.json()
    assert set(body) == {"error"} and body["error"]["code"] == code, body
    return body["error"]["message"]


def _rss_kib() -> int:
    with open("/proc/self/status") as f:
        return int(next(line for line in f if line.startswith("VmRSS:")).split()[1])


def _response(sock: socket.socket) -> tuple[int, dict]:
    """Read one HTTP response (status, JSON body) from ``sock``."""
    data = b""
    while b"\r\n\r\n" not in data or len(data.split(b"\r\n\r\n", 1)[1]) < _length(data):
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    head, body = data.split(b"\r\n\r\n", 1)
    return int(head.split()[1]), json.loads(body[: _length(data)])


def _length(data: bytes) -> int:
    m = re.search(rb"content-length: (\d+)", data.split(b"\r\n\r\n", 1)[0], re.I)
    return int(m.group(1)) if m else 0


# -- body limit -----------------------------------------------------------------------------------


def test_a_declared_400_mb_body_is_refused_with_413_before_any_of_it_is_sent(keyless):
    with socket.create_connection(("127.0.0.1", _port(keyless)), timeout=10) as sock:
        sock.sendall(
            b"POST /v1/usage-events HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/x-ndjson\r\n"
            b"Content-Length: 400000000\r\n\r\n"
        )
        status, body = _response(sock)
    assert status == 413
    assert body == {
        "error": {
            "code": "too_large",
            "message": "the request body of 400,000,000 bytes is larger than the 65,536 bytes this server accepts "
            "(USAGELENS_MAX_BODY_BYTES); split it into smaller requests.",
        }
    }


@pytest.mark.parametrize("path", ["/v1/usage-events", "/mcp"])
def test_a_chunked_upload_that_never_ends_is_refused_once_it_passes_the_limit(keyless, path):
    chunk = b"x" * 16384
    sent, rss_before = 0, _rss_kib()
    with socket.create_connection(("127.0.0.1", _port(keyless)), timeout=10) as sock:
        sock.sendall(
            f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            "Accept: application/json, text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n".encode()
        )
        while not select.select([sock], [], [], 0)[0]:
            assert sent < 256 * 1024 * 1024, "the server kept reading a body far past its limit"
            try:
                sock.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            except (BrokenPipeError, ConnectionResetError):
                break
            sent += len(chunk)
        status, body = _response(sock)
    assert status == 413 and body["error"]["code"] == "too_large"
    assert body["error"]["message"].startswith("the request body is larger than the 65,536 bytes")
    assert sent >= LIMIT
    assert _rss_kib() - rss_before < 32 * 1024  # the server did not keep what it was sent


def test_a_body_under_the_limit_still_reaches_the_endpoint(keyless):
    r = httpx.post(
        f"{keyless}/v1/usage-events", content=json.dumps(EVENT) + "\n", headers={"Content-Type": "application/x-ndjson"}
    )
    assert r.status_code == 200, r.text


def test_the_limit_is_16_mib_unless_usagelens_max_body_bytes_says_otherwise(monkeypatch):
    monkeypatch.delenv("USAGELENS_MAX_BODY_BYTES", raising=False)
    assert max_body_bytes() == DEFAULT_MAX_BODY == 16 * 1024 * 1024
    monkeypatch.setenv("USAGELENS_MAX_BODY_BYTES", "1048576")
    assert max_body_bytes() == 1048576
    monkeypatch.setenv("USAGELENS_MAX_BODY_BYTES", "16MB")
    with pytest.raises(InvalidArgument) as e:
        max_body_bytes()
    assert str(e.value) == (
        "USAGELENS_MAX_BODY_BYTES: '16MB' is not a number of bytes; set a whole number such as 16777216."
    )


# -- keyless: loopback Host names only, no browser of another origin ------------------------------


@pytest.mark.parametrize(
    "host", ["evil.example", "evil.example:{port}", "192.168.1.7:{port}", "127.0.0.1.evil.example"]
)
def test_without_keys_a_host_that_is_not_loopback_is_refused(keyless, host):
    r = httpx.get(f"{keyless}/v1/usage", headers={"Host": host.format(port=_port(keyless))})
    message = _assert_error(r, 403, "forbidden")
    assert message.startswith(f"Host '{host.format(port=_port(keyless))}' is not a loopback name;")


@pytest.mark.parametrize("host", ["localhost:{port}", "127.0.0.1:{port}", "[::1]:{port}", "LOCALHOST"])
def test_without_keys_loopback_host_names_are_answered(keyless, host):
    r = httpx.get(f"{keyless}/v1/teams", headers={"Host": host.format(port=_port(keyless))})
    assert r.status_code == 200, r.text


def test_without_keys_a_rebound_name_cannot_reach_mcp(keyless):
    r = httpx.post(f"{keyless}/mcp", json=INIT, headers={**MCP_POST, "Host": "evil.example"})
    _assert_error(r, 403, "forbidden")


def test_a_cross_site_text_plain_post_writes_nothing(keyless):
    before = _events(keyless)
    r = httpx.post(
        f"{keyless}/v1/usage-events",
        content=json.dumps({**EVENT, "id": "forged"}) + "\n",
        headers={"Content-Type": "text/plain", "Origin": "https://evil.example", "Sec-Fetch-Site": "cross-site"},
    )
    assert _assert_error(r, 403, "forbidden") == (
        "requests from a page of another origin ('https://evil.example') are refused; call the API from its own "
        "origin or without a browser."
    )
    assert _events(keyless) == before


@pytest.mark.parametrize(
    "headers",
    [
        {"Origin": "null"},
        {"Origin": "http://localhost:1"},
        {"Sec-Fetch-Site": "cross-site", "Sec-Fetch-Mode": "cors"},
        {"Sec-Fetch-Site": "same-site", "Sec-Fetch-Mode": "no-cors"},
    ],
)
def test_reads_by_a_page_of_another_origin_are_refused(keyless, headers):
    _assert_error(httpx.get(f"{keyless}/v1/teams", headers=headers), 403, "forbidden")


def test_same_origin_fetches_and_links_from_elsewhere_are_answered(keyless):
    same = {"Origin": keyless, "Sec-Fetch-Site": "same-origin", "Sec-Fetch-Mode": "cors"}
    assert httpx.get(f"{keyless}/v1/teams", headers=same).status_code == 200
    link = {"Sec-Fetch-Site": "cross-site", "Sec-Fetch-Mode": "navigate"}
    assert httpx.get(f"{keyless}/", headers=link).status_code == 200
    assert httpx.get(f"{keyless}/docs", headers=link).status_code == 200


def test_with_keys_any_host_is_answered_but_cross_origin_pages_are_still_refused(keyed):
    url, cred = keyed
    auth = {"X-API-Key": cred}
    assert httpx.get(f"{url}/v1/teams", headers={**auth, "Host": "usage.example.com"}).status_code == 200
    r = httpx.post(f"{url}/v1/usage-events", content=b"{}", headers={**auth, "Origin": "https://evil.example"})
    _assert_error(r, 403, "forbidden")


# -- security headers on every response, and /docs ------------------------------------------------


def _assert_security_headers(r: httpx.Response) -> None:
    for name, value in SECURITY_HEADERS:
        if name == b"content-security-policy":
            assert "frame-ancestors 'none'" in r.headers[name.decode()], r.headers
        else:
            assert r.headers[name.decode()] == value.decode(), (name, r.headers)


@pytest.mark.parametrize(
    ("method", "path", "kw"),
    [
        ("GET", "/v1/usage?team_id=team_a", {}),
        ("GET", "/v1/usage?end_date=2026-02-30", {}),
        ("GET", "/v1/nowhere", {}),
        ("GET", "/", {}),
        ("GET", "/app.js", {}),
        ("GET", "/docs", {}),
        ("GET", "/openapi.json", {}),
        ("POST", "/mcp", {"json": INIT, "headers": MCP_POST}),
        ("POST", "/v1/usage-events", {"content": b"x" * (LIMIT + 1)}),
        ("GET", "/v1/teams", {"headers": {"Host": "evil.example"}}),
    ],
)
def test_every_response_carries_the_security_headers(keyless, method, path, kw):
    _assert_security_headers(httpx.request(method, keyless + path, timeout=30, **kw))


def test_an_internal_error_carries_the_security_headers_and_the_one_shape(tmp_path):
    led = DuckDBLedger(str(tmp_path / "closed.duckdb"))
    app = create_app(led, require_keys=False)
    led.close()  # a real failure: every read of the store now raises
    with serving(app) as url:
        r = httpx.get(f"{url}/v1/teams")
    assert _assert_error(r, 500, "internal") == "internal error; the server log has the details"
    _assert_security_headers(r)


def test_docs_is_a_self_contained_reference_of_every_endpoint(keyless):
    r = httpx.get(f"{keyless}/docs")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    assert r.headers["content-security-policy"].startswith("default-src 'none';")
    page = r.text
    assert "<script" not in page.lower() and "cdn" not in page.lower()
    assert not re.search(r"""(src|href)=["']?https?://""", page)
    for path in httpx.get(f"{keyless}/openapi.json").json()["paths"]:
        assert f"<code>{path}</code>" in page
    assert httpx.get(f"{keyless}/redoc").status_code == 404
