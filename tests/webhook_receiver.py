"""A real webhook receiver on 127.0.0.1 for the alert delivery tests: records every POST (headers,
body) and answers the statuses it is told, in order; it can hold its answer to the first POST
until released (to kill a server while it waits)."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

__all__ = ["Received", "Receiver", "receiving", "verified"]


@dataclass
class Received:
    """One POST as the receiver got it."""

    headers: dict[str, str]
    body: bytes

    @property
    def key(self) -> str:
        return self.headers["idempotency-key"]

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Receiver:
    """What the receiver answers and what it got. ``statuses`` are answered in order, then
    ``default``; with ``hold_first`` the first POST's answer waits until ``release`` is set."""

    statuses: list[int] = field(default_factory=list)
    default: int = 200
    hold_first: bool = False
    url: str = ""
    got: list[Received] = field(default_factory=list)
    arrived: threading.Condition = field(default_factory=threading.Condition)
    release: threading.Event = field(default_factory=threading.Event)

    def wait_for(self, count: int, timeout: float = 10.0) -> list[Received]:
        """The POSTs received, once there are at least ``count`` (AssertionError after ``timeout``)."""
        with self.arrived:
            assert self.arrived.wait_for(lambda: len(self.got) >= count, timeout), (
                f"{len(self.got)} POSTs arrived, expected {count}"
            )
            return list(self.got)

    def _answer(self, received: Received) -> int:
        with self.arrived:
            self.got.append(received)
            first = len(self.got) == 1
            status = self.statuses.pop(0) if self.statuses else self.default
            self.arrived.notify_all()
        if first and self.hold_first:
            self.release.wait(30)
        return status


def verified(secret: str, r: Received) -> bool:
    """Whether ``r``'s signature is valid for ``secret``: the README's algorithm, written here again."""
    parts = dict(p.split("=", 1) for p in r.headers["x-usagelens-signature"].split(","))
    expected = hmac.new(secret.encode(), parts["t"].encode() + b"." + r.body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, parts["v1"])


@contextmanager
def receiving(receiver: Receiver | None = None) -> Iterator[Receiver]:
    """Serve ``receiver`` on a free port of 127.0.0.1 until the block ends."""
    rec = receiver or Receiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length", "0")))
            status = rec._answer(Received({k.lower(): v for k, v in self.headers.items()}, body))
            self.send_response(status)
            self.send_header("content-length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args: Any) -> None:
            pass

    class Server(ThreadingHTTPServer):
        daemon_threads = True
        block_on_close = False

        def handle_error(self, request: Any, client_address: Any) -> None:
            pass  # a client killed while the answer was held: nothing to report

    server = Server(("127.0.0.1", 0), Handler)
    rec.url = f"http://127.0.0.1:{server.server_address[1]}/hooks/usagelens"
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield rec
    finally:
        rec.release.set()
        server.shutdown()
        server.server_close()
        thread.join(10)
