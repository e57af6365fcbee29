"""clickhouse-connect's real HTTP client against the test-only ClickHouse front (chDB behind a stdlib HTTP server)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import clickhouse_connect
import pyarrow as pa
import pytest
from clickhouse_connect.driver.client import Client
from clickhouse_connect.driver.exceptions import DatabaseError, OperationalError

from clickhouse_front import Front

TABLE_DDL = """
CREATE TABLE ledger (id UInt32, cu Decimal(18, 6), time DateTime64(6, 'UTC'))
ENGINE = MergeTree ORDER BY id SETTINGS non_replicated_deduplication_window = 100
"""
T0 = datetime(2026, 4, 30, 12, 34, 56, 123456, tzinfo=UTC)
ROWS = [
    [1, Decimal("0.000001"), T0],
    [2, Decimal("123456789012.345678"), T0],
    [3, Decimal("-7.5"), T0],
]


@contextmanager
def connect(front: Front, **kw: Any) -> Iterator[Client]:
    """An HTTP client of ``front`` with its own connection pool, closed on exit (no leaked sockets)."""
    client = clickhouse_connect.get_client(
        host="127.0.0.1", port=front.port, interface="http", dedicated_pool=True, **kw
    )
    try:
        yield client
    finally:
        client.close()


@pytest.fixture
def front(tmp_path: Path) -> Iterator[Front]:
    with Front(tmp_path / "chdb") as f:
        yield f


def test_get_client_version_and_sql_errors(front: Front) -> None:
    with connect(front, username="default", password="") as client:
        assert client.ping()
        version = client.query("SELECT version()").result_rows[0][0]
        assert version == client.server_version == client.command("SELECT version()")
        assert version.startswith("26.")
        with pytest.raises(DatabaseError, match="UNKNOWN_TABLE") as raised:
            client.query("SELECT * FROM no_such_table")
        assert raised.value.code == 60


def test_server_side_parameters(front: Front) -> None:
    with connect(front) as client:
        result = client.query("SELECT {x:UInt32} + 1 AS y, {s:String} AS s", parameters={"x": 41, "s": "it's"})
        assert result.result_rows == [(42, "it's")]


def test_settings_apply_per_request(front: Front) -> None:
    """A query setting in the URL holds for its own request only; HTTP-only arguments are not settings."""
    sql = "SELECT value FROM system.settings WHERE name = 'insert_deduplication_token'"
    with connect(front) as client:
        assert client.query(sql, settings={"insert_deduplication_token": "abc"}).result_rows == [("abc",)]
        assert client.query(sql).result_rows == [("",)]
        with pytest.raises(DatabaseError, match="UNKNOWN_SETTING"):
            client.query("SELECT 1", settings={"no_such_setting": 1})


def test_decimal_and_datetime64_round_trip(front: Front) -> None:
    batch = pa.table(
        {
            "id": pa.array([r[0] for r in ROWS], pa.uint32()),
            "cu": pa.array([r[1] for r in ROWS], pa.decimal128(18, 6)),
            "time": pa.array([r[2] for r in ROWS], pa.timestamp("us", tz="UTC")),
        }
    )
    with connect(front) as client:
        client.command(TABLE_DDL)
        assert client.insert_arrow("ledger", batch).written_rows == 3
        back = client.query_arrow("SELECT * FROM ledger ORDER BY id")
        assert back.column("cu").type == pa.decimal128(18, 6)
        assert back.column("cu").to_pylist() == [r[1] for r in ROWS]
        assert back.column("time").to_pylist() == [r[2] for r in ROWS]
        rows = client.query("SELECT id, cu, time FROM ledger ORDER BY id", tz_mode="aware").result_rows
        assert rows == [tuple(r) for r in ROWS]
        assert client.query("SELECT sum(cu) FROM ledger").result_rows == [(Decimal("123456789004.845679"),)]


def test_wrong_password_is_an_authentication_error(tmp_path: Path) -> None:
    with Front(tmp_path / "chdb", user="ledger", password="s3cret") as front:
        wrong = connect(front, username="ledger", password="wrong")
        with pytest.raises(DatabaseError, match="Authentication failed") as raised, wrong:
            pass
        assert raised.value.code == 516
        with connect(front, username="ledger", password="s3cret") as client:
            assert client.command("SELECT currentUser()") == "default"  # chDB has one user: auth is the front's


def test_slow_server_times_out(tmp_path: Path) -> None:
    with Front(tmp_path / "chdb", delay_ms=3000) as front:
        started = time.perf_counter()
        with pytest.raises(OperationalError, match="timed out"), connect(front, send_receive_timeout=1):
            pass
        assert time.perf_counter() - started < 2.5


def test_insert_retry_after_server_death_is_deduplicated(tmp_path: Path) -> None:
    settings = {"insert_deduplication_token": "t1"}
    with Front(tmp_path / "chdb", die_after_inserts=1) as front:
        with connect(front) as client:
            client.command(TABLE_DDL)
            with pytest.raises(OperationalError):
                client.insert("ledger", ROWS, column_names=["id", "cu", "time"], settings=settings)
        assert front.wait() == 1
        front.restart()
        with connect(front) as client:
            assert client.command("SELECT count() FROM ledger") == 3  # the server committed before dying
            client.insert("ledger", ROWS, column_names=["id", "cu", "time"], settings=settings)
            assert client.query("SELECT id, cu FROM ledger ORDER BY id").result_rows == [tuple(r[:2]) for r in ROWS]
