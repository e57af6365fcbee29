"""The backends the ledger contract runs against, and its fixtures.

``BACKENDS`` is the one list a new backend joins: a name (the test id), how to name a new empty
store under a temporary directory (what ``open_ledger`` is given) and whether a closed store can
be opened again with its data. Every ``test_contract_*`` test then runs once per backend.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from chdb_support import chdb_url
from usagelens.ledger import open_ledger
from usagelens.ledger.base import Ledger


@dataclass(frozen=True)
class Backend:
    """A kind of store the contract runs against."""

    name: str
    #: The name (path or URL) of a new, empty store, given a fresh temporary directory.
    url: Callable[[Path], str]
    #: Whether a store outlives its ``Ledger``: closed, then opened again, it holds what was written.
    durable: bool


BACKENDS: tuple[Backend, ...] = (
    Backend("duckdb-memory", lambda tmp: ":memory:", durable=False),
    Backend("duckdb-file", lambda tmp: str(tmp / "x.duckdb"), durable=True),
    # ClickHouse 26.9 in-process, through clickhouse-connect's chDB interface (a database per store)
    Backend("chdb", lambda tmp: chdb_url(), durable=True),
)


class Stores:
    """Opens stores of one backend for a test, and closes whatever is still open at its end."""

    def __init__(self, backend: Backend, tmp_path: Path) -> None:
        self.backend = backend
        self._tmp = tmp_path
        self._opened: list[Ledger] = []
        self._urls: dict[int, str] = {}

    def new(self) -> Ledger:
        """A new, empty store."""
        folder = self._tmp / f"store{len(self._urls)}"
        folder.mkdir()
        return self._open(self.backend.url(folder))

    def reopen(self, led: Ledger, *, read_only: bool = False) -> Ledger:
        """Close ``led`` and open its store again (durable backends only)."""
        assert self.backend.durable, f"{self.backend.name} stores do not outlive their ledger"
        url = self._urls[id(led)]
        led.close()
        return self._open(url, read_only=read_only)

    def _open(self, url: str, *, read_only: bool = False) -> Ledger:
        led = open_ledger(url, read_only=read_only)
        self._opened.append(led)  # kept alive, so ids stay unique
        self._urls[id(led)] = url
        return led

    def close_all(self) -> None:
        for led in self._opened:
            led.close()  # closing a closed ledger does nothing (a contract test says so)


def _stores(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Stores]:
    stores = Stores(request.param, tmp_path)
    yield stores
    stores.close_all()


@pytest.fixture(params=BACKENDS, ids=lambda b: b.name)
def stores(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Stores]:
    """New stores of each backend in turn."""
    yield from _stores(request, tmp_path)


@pytest.fixture(params=[b for b in BACKENDS if b.durable], ids=lambda b: b.name)
def durable_stores(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Stores]:
    """New stores of each backend whose stores outlive their ledger, in turn."""
    yield from _stores(request, tmp_path)


@pytest.fixture
def ledger(stores: Stores) -> Ledger:
    """A new, empty store of each backend in turn (shadows ``tests/conftest.py``'s DuckDB one)."""
    return stores.new()
