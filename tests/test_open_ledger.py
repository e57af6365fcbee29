"""``open_ledger``: the one place a store name becomes a backend (CONTRACT: a path or a URL)."""

from __future__ import annotations

import os
import re
from datetime import datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import event, table
from usagelens.errors import InvalidArgument, Unavailable
from usagelens.ledger import DEFAULT_DB, open_ledger, store_label, store_location, store_path
from usagelens.ledger.clickhouse import parse_url


def test_a_bare_path_and_a_duckdb_url_open_the_same_file(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with open_ledger("plain.duckdb") as led:
        led.write_events(table([event(1, datetime(2026, 4, 1))]))
    with open_ledger("duckdb:///plain.duckdb", read_only=True) as led:
        assert led.stats().events == 1
    absolute = tmp_path / "abs.duckdb"
    with open_ledger(f"duckdb:///{absolute}") as led:
        assert led.stats().events == 0
    assert absolute.exists()


def test_usagelens_db_is_read_only_when_no_name_is_given(tmp_path, monkeypatch):
    monkeypatch.delenv("USAGELENS_DB", raising=False)
    assert store_location(None) == DEFAULT_DB
    monkeypatch.setenv("USAGELENS_DB", f"duckdb:///{tmp_path}/env.duckdb")
    assert store_path(None) == f"{tmp_path}/env.duckdb"
    assert store_path("other.duckdb") == "other.duckdb"  # --db wins over the variable


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("duckdb://host/x.duckdb", "is not a DuckDB URL; use duckdb:///relative/path.duckdb"),
        ("clickhouse://u:p@/usage", "names no host; use clickhouse://user:password@host:8123/database"),
        ("clickhouse://u:p@host:port/usage", "'clickhouse://u:p@host:port/usage' is not a ClickHouse URL"),
        ("clickhouse://host/bad-name", "the database name 'bad-name' is not a plain identifier"),
        ("clickhouses://host/usage?bogus=1", "unknown option 'bogus' in clickhouses://host/usage; accepted: "),
        ("clickhouse://host/usage?timeout=-1", "timeout='-1' is not a number of seconds"),
        ("chdb://relative", "is not a chDB URL; use chdb:///relative/dir or chdb:////absolute/dir"),
        ("chdb:///data?database=1x", "the database name '1x' is not a plain identifier"),
    ],
)
def test_other_names_get_one_sentence(name, message):
    with pytest.raises(InvalidArgument, match=re.escape(message)):
        open_ledger(name)


def test_a_clickhouse_url_is_parsed_without_keeping_its_password_in_messages():
    t = parse_url("clickhouses://ana:p%40ss@ch.example.com/usage?timeout=5&verify=false")
    assert (t.host, t.port, t.secure, t.username, t.password, t.database) == (
        "ch.example.com", 8443, True, "ana", "p@ss", "usage"
    )  # fmt: skip
    assert (t.timeout, t.verify, t.location) == (5.0, False, "clickhouses://ana@ch.example.com:8443/usage")
    assert "p@ss" not in repr(t)
    assert store_label("clickhouse://ana:secret@ch:8123/usage") == "clickhouse://ana@ch:8123/usage"  # banners, errors
    assert store_label("x.duckdb") == "x.duckdb"
    plain = parse_url("http://ch:9000")
    assert (plain.port, plain.secure, plain.database, plain.username) == (9000, False, "usagelens", "default")
    with pytest.raises(InvalidArgument, match="names a ClickHouse store; this command needs a DuckDB file"):
        store_path("clickhouse://host/usage")


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(["clickhouse://", "clickhouses://", "https://", "chdb://"]), st.text(max_size=80))
def test_any_clickhouse_url_is_a_target_or_one_sentence(scheme, rest):
    try:
        target = parse_url(scheme + rest)
    except InvalidArgument as e:
        assert str(e).startswith("--db: ") and "\n" not in str(e)
    else:
        assert target.database and "\n" not in target.location


def test_must_exist_refuses_to_create_a_store(tmp_path):
    missing = tmp_path / "missing.duckdb"
    with pytest.raises(Unavailable, match=f"the store {missing} does not exist"):
        open_ledger(str(missing), must_exist=True)
    assert not os.path.exists(missing)


@settings(max_examples=200, deadline=None)
@given(
    st.text(max_size=60) | st.builds(lambda s, r: s + r, st.sampled_from(["duckdb://", "chdb://", "x://"]), st.text())
)
def test_any_store_name_is_a_path_or_one_sentence(name):
    try:
        path = store_path(name)
    except InvalidArgument as e:
        assert str(e).startswith("--db: '") and "\n" not in str(e)  # one sentence, one line
    else:
        assert isinstance(path, str)
