"""Naming and reaching a ClickHouse store: store URLs, the clickhouse-connect client, one-line errors.

Store names (``--db`` / ``$USAGELENS_DB``):

- ``clickhouse://user:password@host:8123/database`` (HTTP), ``clickhouses://…:8443/database``
  (HTTPS, ClickHouse Cloud), or the same as ``http://`` / ``https://``; the database defaults to
  ``usagelens``. Query options: ``timeout`` (seconds a query may take, default 30),
  ``connect_timeout`` (default 10), ``verify=false`` (skip TLS verification).
- ``chdb:///relative/dir`` or ``chdb:////absolute/dir``: the ClickHouse engine in this process
  (chDB; one directory per process), ``?database=name`` to pick a database.

Callers can rely on: every failure to reach or use ClickHouse (refused connection, wrong
password, timeout, a server error) surfaces as one ``Unavailable`` sentence naming the server
and what to check, never as a driver traceback; passwords never appear in messages.
"""

from __future__ import annotations

import contextlib
import logging
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from usagelens.errors import InvalidArgument, Unavailable
from usagelens.ledger.clickhouse.schema import check_name
from usagelens.query_parse import shown

__all__ = ["SCHEMES", "Target", "client_for", "guard", "parse_url"]

SCHEMES = ("clickhouse://", "clickhouses://", "http://", "https://", "chdb://")
_OPTIONS = {"database", "timeout", "connect_timeout", "verify"}


@dataclass(frozen=True)
class Target:
    """Where a ClickHouse store lives, parsed from its URL (no secrets in ``location``)."""

    location: str  # for messages: the URL without its password
    database: str
    chdb_path: str | None = None  # the in-process engine's directory
    host: str = ""
    port: int = 0
    secure: bool = False
    username: str = "default"
    password: str = field(default="", repr=False)
    timeout: float = 30.0
    connect_timeout: float = 10.0
    verify: bool = True


def _options(query: str, url: str) -> dict[str, str]:
    opts = {k: v[-1] for k, v in parse_qs(query, keep_blank_values=True).items()}
    unknown = sorted(set(opts) - _OPTIONS)
    if unknown:
        raise InvalidArgument(
            f"--db: unknown option {shown(unknown[0])!r} in {shown(url.split('?')[0])}; "
            f"accepted: {', '.join(sorted(_OPTIONS))}",
            field="db",
        )
    return opts


def _seconds(opts: dict[str, str], name: str, default: float) -> float:
    try:
        value = float(opts.get(name, default))
    except ValueError:
        value = -1.0
    if not 0 < value <= 86_400:
        raise InvalidArgument(f"--db: {name}={shown(opts[name])!r} is not a number of seconds (0 to 86400)", field="db")
    return value


def parse_url(url: str) -> Target:
    """The ``Target`` a ClickHouse or chDB store URL names; one sentence when it names none."""
    if url.startswith("chdb://"):
        rest, _, query = url.removeprefix("chdb://").partition("?")
        if not rest.startswith("/") or rest == "/":
            raise InvalidArgument(
                f"--db: '{shown(url)}' is not a chDB URL; use chdb:///relative/dir or chdb:////absolute/dir",
                field="db",
            )
        opts = _options(query, url)
        db = check_name("database", opts.get("database", "usagelens"))
        return Target(location=f"chdb://{rest}", database=db, chdb_path=rest[1:])
    try:
        parts = urlsplit(url)
        host, port_given = parts.hostname, parts.port
    except ValueError:
        raise InvalidArgument(
            f"--db: '{shown(url)}' is not a ClickHouse URL; use clickhouse://user:password@host:8123/database",
            field="db",
        ) from None
    secure = parts.scheme in ("clickhouses", "https")
    if not host:
        raise InvalidArgument(
            f"--db: '{shown(url)}' names no host; use clickhouse://user:password@host:8123/database", field="db"
        )
    port = port_given or (8443 if secure else 8123)
    opts = _options(parts.query, url)
    db = check_name("database", unquote(parts.path.strip("/")) or "usagelens")
    user = unquote(parts.username or "default")
    scheme = "clickhouses" if secure else "clickhouse"
    return Target(
        location=f"{scheme}://{shown(user)}@{shown(host)}:{port}/{db}",
        database=db,
        host=host,
        port=port,
        secure=secure,
        username=user,
        password=unquote(parts.password or ""),
        timeout=_seconds(opts, "timeout", 30.0),
        connect_timeout=_seconds(opts, "connect_timeout", 10.0),
        verify=opts.get("verify", "true").lower() not in ("false", "0", "no"),
    )


_CHDB_LOCK = threading.Lock()


def client_for(target: Target) -> Any:
    """A clickhouse-connect client for ``target`` (no default database: statements name it)."""
    import clickhouse_connect

    # every failure becomes one sentence here: the driver's and urllib3's own retry warnings
    # would print a second, different account of it on stderr
    for name in ("clickhouse_connect", "urllib3.connectionpool"):
        logging.getLogger(name).setLevel(logging.CRITICAL)
    with guard(target):
        if target.chdb_path is not None:
            try:
                import chdb  # noqa: F401  (clickhouse-connect needs it for chdb://)
            except ImportError:
                raise Unavailable(
                    f"--db: {target.location} needs the chDB engine; pip install 'usagelens[chdb]' (or chdb)"
                ) from None
            with _CHDB_LOCK:
                return clickhouse_connect.get_client(dsn=f"chdb://{target.chdb_path}")
        return clickhouse_connect.get_client(
            host=target.host,
            port=target.port,
            username=target.username,
            password=target.password,
            secure=target.secure,
            verify=target.verify,
            interface="https" if target.secure else "http",
            connect_timeout=target.connect_timeout,
            send_receive_timeout=target.timeout,
            autogenerate_session_id=False,  # one client serves several threads at once
            compress=False,
            dedicated_pool=True,  # its sockets close with the ledger
        )


_CODE = re.compile(r"Code: (\d+)\. DB::Exception: (.*?)(?: \(([A-Z_]+)\))?(?: \(version [^)]*\))?\.?$", re.S)


def _sentence(target: Target, e: Exception) -> str:
    text = " ".join(str(e).split())
    where = f"ClickHouse at {target.location}"
    if "Authentication failed" in text or "AUTHENTICATION_FAILED" in text or "516" in text.split("Code:")[-1][:6]:
        return f"{where} refused user '{target.username}': authentication failed; check the user and password in --db"
    lowered = text.lower()
    if "timed out" in lowered or "timeout" in lowered:
        return f"{where} did not answer within {target.timeout:g} s; retry, or raise ?timeout= in --db"
    if any(s in lowered for s in ("connection refused", "max retries", "failed to establish", "name or service")):
        return f"{where} is not reachable; check that the server runs and the host and port in --db"
    if "already initialized with path" in text:
        return f"{where}: this process already opened another chDB directory; use one chDB directory per process"
    m = _CODE.search(text)
    detail = m.group(2) if m else text
    detail = detail[:300].replace(target.password, "***") if target.password else detail[:300]
    return f"{where} failed: {detail}"


@contextlib.contextmanager
def guard(target: Target) -> Iterator[None]:
    """Turn clickhouse-connect's and the transport's exceptions into one ``Unavailable`` sentence."""
    from clickhouse_connect.driver.exceptions import ClickHouseError

    try:
        yield
    except (ClickHouseError, OSError) as e:
        raise Unavailable(_sentence(target, e)) from None
