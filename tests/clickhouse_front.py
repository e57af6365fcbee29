"""A test-only ClickHouse HTTP front over an in-process chDB engine, for driving clickhouse-connect's HTTP client.

Not a server to deploy: no TLS, no progress headers, no response compression (clients accept identity), one engine
call at a time, and one shared chDB session (``session_id`` is ignored, so a ``SET``/``USE`` sent as SQL outlives its
request). ``client_protocol_version`` is ignored too, so clickhouse-connect's probe falls back to protocol 0 (Native
results without BlockInfo). It speaks the subset of ClickHouse's HTTP interface that clickhouse-connect's HTTP client
(``clickhouse_connect.get_client(interface="http")``) uses:

* ``GET /ping`` and a bare ``GET /`` answer ``Ok.``.
* GET/POST queries: the SQL is the ``query`` URL argument followed by a newline and the (decoded) body, or the body
  alone. ``database`` (or ``X-ClickHouse-Database``) selects the database, ``default_format`` (or
  ``X-ClickHouse-Format``) the output format when the SQL has no ``FORMAT`` clause (else ``TabSeparated``),
  ``param_<name>`` values are server-side parameters for ``{name:Type}``, and every other URL argument is a query
  setting applied with ``SET`` (changed settings only; settings a request omits go back to ``DEFAULT``), except the
  HTTP-only names in ``HTTP_ONLY``, which are ignored. An unknown setting fails like ClickHouse (code 115).
* ``INSERT ... FORMAT <fmt>`` followed by data (in the body, or the body after a ``query`` URL argument) is streamed
  into chDB's ``send_insert``: Native, Arrow, CSV, ... Bodies may be chunked and ``Content-Encoding`` lz4 (concatenated
  frames, as clickhouse-connect sends), zstd, gzip or deflate. Other INSERTs run as plain SQL.
* Auth: HTTP basic (what clickhouse-connect sends), ``X-ClickHouse-User``/``X-ClickHouse-Key`` or ``user``/``password``
  arguments; a mismatch is answered like ClickHouse (403, code 516 AUTHENTICATION_FAILED).
* Errors: a non-200 status chosen like ClickHouse does, body ``Code: N. DB::Exception: ...`` and the
  ``X-ClickHouse-Exception-Code`` header.
* ``multipart/form-data`` bodies carry the query and ``param_*`` fields (clickhouse-connect sends large parameters
  so); external data (form files) is not implemented.

Run as ``python tests/clickhouse_front.py --path DIR [--port 0] [--user U --password P] [--delay-ms N]
[--die-after-inserts N]``: prints ``PORT <n>`` once listening. One chDB engine (one data path) per process, so tests
start it as a subprocess through ``Front``.
"""

from __future__ import annotations

import argparse
import base64
import email.policy
import gzip
import json
import os
import re
import select
import subprocess
import sys
import threading
import time
import uuid
import zlib
from email.parser import BytesParser
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, quote, urlsplit

#: URL arguments that shape the HTTP exchange rather than the query; never applied as settings.
HTTP_ONLY = frozenset(
    {
        *("query", "database", "default_format", "user", "password", "quota_key", "query_id", "role", "stacktrace"),
        *("session_id", "session_timeout", "session_check", "close_session", "compress", "decompress", "buffer_size"),
        *("wait_end_of_query", "client_protocol_version", "enable_http_compression", "send_progress_in_http_headers"),
        *("http_headers_progress_interval_ms", "http_wait_end_of_query", "http_response_buffer_size"),
        "cancel_http_readonly_queries_on_client_close",
    }
)
_INSERT_DATA = re.compile(rb"(\s*INSERT\s+INTO\s.*?)\bFORMAT\s+(\w+)[ \t\f]*\r?\n?", re.I | re.S)
_INSERT = re.compile(rb"\s*INSERT\b", re.I)
_RESULT_SET = re.compile(r"\s*\(*\s*(SELECT|WITH|SHOW|DESC|DESCRIBE|EXISTS|EXPLAIN|CHECK)\b", re.I)
_TRAILING_FORMAT = re.compile(r"\bFORMAT\s+(\w+)\s*;?\s*$", re.I)
_SUMMARY_KEYS = ("read_rows", "read_bytes", "written_rows", "written_bytes", "result_rows", "result_bytes")
_SETTING_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
#: HTTP status by exception code, as ClickHouse's HTTPHandler maps them (500 otherwise): auth failures 403, UNKNOWN_*
#: 404, parse/argument errors 400, SOCKET_TIMEOUT/CANNOT_OPEN_FILE/CANNOT_SCHEDULE_TASK 503, NOT_IMPLEMENTED 501.
_STATUS = {
    **dict.fromkeys((516, 192, 193), 403),
    **dict.fromkeys((60, 81, 46, 47, 50, 56, 63, 73, 115), 404),
    **dict.fromkeys((6, 15, 27, 36, 38, 41, 44, 53, 62, 72, 117, 321, 456, 457), 400),
    **{209: 503, 76: 503, 439: 503, 48: 501, 159: 408},
}


class ClickHouseError(Exception):
    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code, self.message = code, message

    @classmethod
    def new(cls, code: int, name: str, text: str) -> ClickHouseError:
        return cls(code, f"Code: {code}. DB::Exception: {text}. ({name})")

    @classmethod
    def of(cls, ex: Exception) -> ClickHouseError:
        text = str(ex)
        text = text[text.find("Code: ") :] if "Code: " in text else f"Code: 1001. DB::Exception: {text}"
        match = re.match(r"Code: (\d+)\.", text)
        return cls(int(match.group(1)) if match else 1001, text.strip())


def decode_body(body: bytes, encoding: str) -> bytes:
    """Undo a request ``Content-Encoding``; lz4 bodies from clickhouse-connect are one frame per block."""
    encoding = encoding.strip().lower()
    if encoding in ("", "identity"):
        return body
    if encoding == "lz4":
        import lz4.frame

        out = []
        while body:
            decompressor = lz4.frame.LZ4FrameDecompressor()
            out.append(decompressor.decompress(body))
            body = decompressor.unused_data
        return b"".join(out)
    if encoding == "zstd":
        from backports import zstd

        return zstd.decompress(body)
    if encoding in ("gzip", "deflate"):
        return gzip.decompress(body) if encoding == "gzip" else zlib.decompress(body)
    raise ClickHouseError.new(48, "NOT_IMPLEMENTED", f"Content-Encoding {encoding} is not supported")


class Engine:
    """The chDB engine of this process, its session state and the lock serializing calls on it."""

    def __init__(self, path: str, die_after_inserts: int = 0) -> None:
        import chdb

        self.conn = chdb.connect(path)
        self.lock = threading.Lock()
        self.applied: dict[str, str] = {}
        self.database = "default"
        self.inserts = 0
        self.die_after_inserts = die_after_inserts
        self.version, self.timezone = self._sql("SELECT version(), timezone()").bytes().decode().split()

    def _sql(self, sql: str, fmt: str = "TabSeparated", params: dict[str, str] | None = None) -> Any:
        try:
            return self.conn.query(sql, fmt, params=params or {})
        except Exception as ex:
            raise ClickHouseError.of(ex) from None

    def _prepare(self, database: str, settings: dict[str, str]) -> None:
        for name in [name for name in self.applied if name not in settings]:
            self._sql(f"SET {name} = DEFAULT")
            del self.applied[name]
        for name, value in settings.items():
            if self.applied.get(name) != value:
                if not _SETTING_NAME.match(name):
                    raise ClickHouseError.new(115, "UNKNOWN_SETTING", f"Unknown setting '{name}'")
                escaped = value.replace("\\", "\\\\").replace("'", "\\'")
                self._sql(f"SET {name} = '{escaped}'")
                self.applied[name] = value
        if database != self.database:
            self._sql(f"USE `{database.replace('`', '``')}`")
            self.database = database

    def execute(
        self, sql: bytes, database: str, settings: dict[str, str], params: dict[str, str], fmt: str
    ) -> tuple[bytes, dict[str, str], str | None]:
        """Run one request; returns the body, the ``X-ClickHouse-Summary`` and the result format (None: no result)."""
        with self.lock:
            self._prepare(database, settings)
            is_insert = _INSERT.match(sql) is not None
            self.inserts += is_insert
            try:
                return self._run(sql, params, fmt)
            finally:
                if is_insert and self.inserts == self.die_after_inserts:
                    os._exit(1)  # the insert is done: die before answering, like a server killed mid-batch

    def _run(self, sql: bytes, params: dict[str, str], fmt: str) -> tuple[bytes, dict[str, str], str | None]:
        started = time.perf_counter_ns()
        insert = _INSERT_DATA.match(sql)
        if insert:
            data = sql[insert.end() :]
            try:
                with self.conn.send_insert(insert.group(1).decode(), insert.group(2).decode()) as inserter:
                    if data:
                        inserter.append(data)
                    written = inserter.finish()
            except Exception as ex:
                raise ClickHouseError.of(ex) from None
            rows, size = written.rows_written, written.bytes_written
            return b"", _summary(started, read_rows=rows, read_bytes=size, written_rows=rows, written_bytes=size), None
        text = sql.decode()
        result = self._sql(text, fmt, params)
        body = result.bytes() or b""
        trailing = _TRAILING_FORMAT.search(text)
        out_format = (trailing.group(1) if trailing else fmt) if _RESULT_SET.match(text) else None
        rows, size = result.rows_read(), result.bytes_read()
        summary = _summary(started, read_rows=rows, read_bytes=size, result_rows=rows, result_bytes=len(body))
        return body, summary, out_format


def _summary(started: int, **counts: int) -> dict[str, str]:
    """An ``X-ClickHouse-Summary`` (ClickHouse sends every count as a string)."""
    summary = {key: str(counts.get(key, 0)) for key in (*_SUMMARY_KEYS, "total_rows_to_read")}
    return {**summary, "elapsed_ns": str(time.perf_counter_ns() - started)}


class FrontServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, port: int, engine: Engine, user: str | None, password: str, delay_ms: int) -> None:
        super().__init__(("127.0.0.1", port), Handler)
        self.engine, self.user, self.password, self.delay_ms = engine, user, password, delay_ms

    def handle_error(self, request: Any, client_address: Any) -> None:
        if not isinstance(sys.exc_info()[1], OSError):  # a client that went away (e.g. timed out) is not news
            super().handle_error(request, client_address)


def form_fields(content_type: str, body: bytes) -> dict[str, str]:
    """The plain text fields of a ``multipart/form-data`` body (files, i.e. external data, are refused)."""
    message = BytesParser(policy=email.policy.HTTP).parsebytes(f"Content-Type: {content_type}\r\n\r\n".encode() + body)
    fields = {}
    for part in message.iter_parts():
        if part.get_filename():
            raise ClickHouseError.new(
                48, "NOT_IMPLEMENTED", "external data (form files) is not implemented by the front"
            )
        payload = part.get_payload(decode=True)
        fields[str(part.get_param("name", header="content-disposition"))] = (payload or b"").decode()
    return fields


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as clickhouse-connect pools connections
    disable_nagle_algorithm = True  # TCP_NODELAY: without it small answers stall 40 ms on delayed ACKs
    server: FrontServer

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_POST(self) -> None:
        url = urlsplit(self.path)
        body = self._read_body()
        args = dict(parse_qsl(url.query, keep_blank_values=True))
        if url.path.rstrip("/") == "/ping" or (url.path == "/" and not body and "query" not in args):
            return self._send(200, b"Ok.\n", {"Content-Type": "text/html; charset=UTF-8"})
        if self.server.delay_ms:
            time.sleep(self.server.delay_ms / 1000)
        engine = self.server.engine
        query_id = args.get("query_id") or str(uuid.uuid4())
        headers = {"X-ClickHouse-Query-Id": query_id, "X-ClickHouse-Timezone": engine.timezone}
        try:
            self._authenticate(args)
            if self.headers.get("Content-Type", "").startswith("multipart/form-data"):
                # the query and its parameters as form fields (clickhouse-connect sends large parameters so)
                args.update(form_fields(self.headers["Content-Type"], body))
                body = b""
            body = decode_body(body, self.headers.get("Content-Encoding", ""))
            sql = args["query"].encode() + b"\n" + body if "query" in args else body
            database = self.headers.get("X-ClickHouse-Database") or args.get("database") or "default"
            fmt = self.headers.get("X-ClickHouse-Format") or args.get("default_format") or "TabSeparated"
            params = {name[6:]: value for name, value in args.items() if name.startswith("param_")}
            settings = {k: v for k, v in args.items() if k not in HTTP_ONLY and not k.startswith("param_")}
            result, summary, out_format = engine.execute(sql, database, settings, params, fmt)
        except Exception as error:  # a failure of the front itself is answered as ClickHouse's STD_EXCEPTION
            ex = error if isinstance(error, ClickHouseError) else ClickHouseError.of(error)
            message = ex.message if "(version " in ex.message else f"{ex.message} (version {engine.version})"
            headers.update({"X-ClickHouse-Exception-Code": str(ex.code), "Content-Type": "text/plain; charset=UTF-8"})
            return self._send(_STATUS.get(ex.code, 500), f"{message}\n".encode(), headers)
        headers["X-ClickHouse-Summary"] = json.dumps(summary, separators=(",", ":"))
        if out_format:
            headers["X-ClickHouse-Format"] = out_format
        text = out_format in ("TabSeparated", "TSV", "CSV", "JSON", "JSONEachRow")
        headers["Content-Type"] = "text/plain; charset=UTF-8" if text else "application/octet-stream"
        return self._send(200, result, headers)

    do_GET = do_POST

    def _authenticate(self, args: dict[str, str]) -> None:
        auth = self.headers.get("Authorization", "")
        if auth.startswith("Basic "):
            user, _, password = base64.b64decode(auth[6:]).decode().partition(":")
        else:
            user = self.headers.get("X-ClickHouse-User") or args.get("user") or "default"
            password = self.headers.get("X-ClickHouse-Key") or args.get("password") or ""
        if self.server.user is not None and (user, password) != (self.server.user, self.server.password):
            text = f"{user}: Authentication failed: password is incorrect, or there is no user with such name"
            raise ClickHouseError.new(516, "AUTHENTICATION_FAILED", text)

    def _read_body(self) -> bytes:
        if "chunked" not in self.headers.get("Transfer-Encoding", "").lower():
            return self.rfile.read(int(self.headers.get("Content-Length") or 0))
        chunks = []
        while size := int(self.rfile.readline().split(b";")[0].strip() or b"0", 16):
            chunks.append(self.rfile.read(size))
            self.rfile.readline()
        while self.rfile.readline() not in (b"\r\n", b"\n", b""):  # trailers
            pass
        return b"".join(chunks)

    def _send(self, status: int, body: bytes, headers: dict[str, str]) -> None:
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class Front:
    """The front as a subprocess, for tests: ``with Front(tmp_path) as front: ... front.port``."""

    def __init__(
        self,
        path: str | Path,
        *,
        user: str | None = None,
        password: str = "",
        delay_ms: int = 0,
        die_after_inserts: int = 0,
    ) -> None:
        self.path, self.user, self.password, self.delay_ms = Path(path), user, password, delay_ms
        self.port = 0
        self._proc: subprocess.Popen[str] | None = None
        self._start(0, die_after_inserts)

    def _start(self, port: int, die_after_inserts: int, timeout: float = 30) -> None:
        cmd = [sys.executable, __file__, "--path", str(self.path), "--port", str(port)]
        cmd += ["--delay-ms", str(self.delay_ms)]
        if self.user is not None:
            cmd += ["--user", self.user, "--password", self.password]
        if die_after_inserts:
            cmd += ["--die-after-inserts", str(die_after_inserts)]
        self._proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
        assert self._proc.stdout is not None
        ready = select.select([self._proc.stdout], [], [], timeout)[0]
        line = self._proc.stdout.readline() if ready else ""
        if not line.startswith("PORT "):
            self.stop()
            raise RuntimeError(f"the ClickHouse front did not start on port {port} (got {line!r})")
        self.port = int(line.split()[1])

    def stop(self) -> None:
        """Kill the front (if still running) and reap it."""
        if self._proc is not None:
            self._proc.kill()
            self._proc.wait()
            assert self._proc.stdout is not None
            self._proc.stdout.close()
            self._proc = None

    def restart(self) -> None:
        """Start again on the same path and options, without ``--die-after-inserts``; same port when it is free."""
        self.stop()
        try:
            self._start(self.port, 0)
        except RuntimeError:
            self._start(0, 0)

    def wait(self, timeout: float = 10) -> int:
        """Wait for the front to exit on its own (``--die-after-inserts``); its exit status."""
        assert self._proc is not None
        return self._proc.wait(timeout)

    def url(self, user: str = "default", password: str = "", database: str = "default") -> str:
        return f"clickhouse://{quote(user, safe='')}:{quote(password, safe='')}@127.0.0.1:{self.port}/{database}"

    def __enter__(self) -> Front:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--path", required=True, help="chDB data directory")
    parser.add_argument("--port", type=int, default=0, help="0: any free port")
    parser.add_argument("--user", default=None)
    parser.add_argument("--password", default="")
    parser.add_argument("--delay-ms", type=int, default=0, help="sleep before answering each query (not /ping)")
    parser.add_argument("--die-after-inserts", type=int, default=0, help="exit, unanswered, after the N-th INSERT")
    args = parser.parse_args(argv)
    server = FrontServer(args.port, Engine(args.path, args.die_after_inserts), args.user, args.password, args.delay_ms)
    print(f"PORT {server.server_address[1]}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
