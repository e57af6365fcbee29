"""Answers of a reader that computes them in this process (DuckDB) are computed one at a time
(``service._COMPUTING``: side by side they fight over the GIL), while an answer already cached
is never held back, identical questions waiting together are computed once, and a reader whose
work is done elsewhere keeps its answers concurrent."""

from __future__ import annotations

import threading
from decimal import Decimal
from typing import Any

import pytest

from conftest import CountingLedger
from usagelens import service
from usagelens.auth import Caller
from usagelens.errors import InvalidArgument
from usagelens.ledger.duckdb import DuckDBLedger
from usagelens.query import UsageArgs


@pytest.fixture
def ledger(april: DuckDBLedger) -> DuckDBLedger:
    return april


def _ask(ledger: Any, start: str, out: list[Decimal]) -> threading.Thread:
    def run() -> None:
        args = UsageArgs(team_id="team_a", start_date=start, end_date="2026-04-30")
        out.append(service.usage(ledger, Caller.local(), args).data["totals"]["totalCU"])

    thread = threading.Thread(target=run)
    thread.start()
    return thread


def test_an_answer_to_compute_waits_for_the_one_being_computed_a_cached_one_does_not(ledger):
    got: list[Decimal] = []
    _ask(ledger, "2026-04-01", got).join(10)  # now cached
    assert got == [Decimal(465)]
    with service._COMPUTING:  # an answer being computed, as far as every other thread can tell
        cached = _ask(ledger, "2026-04-01", got)
        cached.join(10)
        assert not cached.is_alive() and got == [Decimal(465)] * 2
        computed = _ask(ledger, "2026-04-02", got)
        computed.join(0.3)
        assert computed.is_alive()  # waits its turn
    computed.join(10)
    assert not computed.is_alive() and got == [Decimal(465)] * 3


class Elsewhere:
    """The same ledger as a reader whose answers are computed elsewhere (as ClickHouse's are)."""

    answers_in_process = False

    def __init__(self, inner: DuckDBLedger) -> None:
        self.inner = inner

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def test_a_reader_computing_elsewhere_is_not_held_back(ledger):
    assert ledger.answers_in_process
    got: list[Decimal] = []
    with service._COMPUTING:
        thread = _ask(Elsewhere(ledger), "2026-04-03", got)
        thread.join(10)
        assert not thread.is_alive() and got == [Decimal(465)]


def test_identical_questions_waiting_together_are_computed_once(ledger):
    counting = CountingLedger(ledger)
    assert counting.answers_in_process
    got: list[Decimal] = []
    with service._COMPUTING:  # the first of them is "being computed": the others queue behind it
        threads = [_ask(counting, "2026-04-04", got) for _ in range(4)]
        for t in threads:
            t.join(0.2)
        assert all(t.is_alive() for t in threads)
    for t in threads:
        t.join(10)
    assert got == [Decimal(465)] * 4
    asked = counting.facts_calls
    assert asked > 0
    _ask(counting, "2026-04-05", got).join(10)  # one more, different question: its own queries
    assert counting.facts_calls == 2 * asked  # the four identical questions cost one answer


def _at_once(ledger: Any, start: str, include: list[str] | None = None) -> service.Answer:
    args = UsageArgs(team_id="team_a", start_date=start, end_date="2026-04-30", include=include or [])
    return service.usage(ledger, Caller.local(), args, at_once=True)


def _in_thread(fn: Any) -> Any:
    """What ``fn()`` returned or raised, run in another thread (not the owner of a lock the test
    holds)."""
    out: list[Any] = []

    def run() -> None:
        try:
            out.append(fn())
        except Exception as e:  # handed back to the test
            out.append(e)

    thread = threading.Thread(target=run)
    thread.start()
    thread.join(10)
    assert not thread.is_alive(), "an at-once answer never waits"
    return out[0]


def test_at_once_answers_now_when_nothing_is_being_computed_the_same_bytes(ledger):
    now = _at_once(ledger, "2026-04-06")
    service._CACHE.clear()
    args = UsageArgs(team_id="team_a", start_date="2026-04-06", end_date="2026-04-30")
    assert now.text == service.usage(ledger, Caller.local(), args).text
    assert now.data["totals"]["totalCU"] == Decimal(465)


def test_at_once_gives_a_cached_answer_and_refuses_one_that_would_wait(ledger):
    _at_once(ledger, "2026-04-07")  # computed now, and cached
    with service._COMPUTING:  # another thread's answer is being computed
        cached = _in_thread(lambda: _at_once(ledger, "2026-04-07"))
        assert cached.data["totals"]["totalCU"] == Decimal(465)
        assert isinstance(_in_thread(lambda: _at_once(ledger, "2026-04-08")), service.NotAtOnce)
    assert _in_thread(lambda: _at_once(ledger, "2026-04-08")).data["totals"]["totalCU"] == Decimal(465)


def test_at_once_leaves_expansions_and_readers_computing_elsewhere_to_a_thread(ledger):
    assert isinstance(_in_thread(lambda: _at_once(ledger, "2026-04-09", ["usages"])), service.NotAtOnce)
    assert isinstance(_in_thread(lambda: _at_once(Elsewhere(ledger), "2026-04-09")), service.NotAtOnce)
    args = UsageArgs(team_id="team_a", start_date="2026-04-09", end_date="2026-04-30", include=["usages"])
    service.usage(ledger, Caller.local(), args)  # computed by a caller that may wait: now cached
    assert _at_once(ledger, "2026-04-09", ["usages"]).data["usages"][0]["count"] == 30


def test_at_once_still_raises_argument_errors(ledger):
    with pytest.raises(InvalidArgument, match="2026-13-01"):
        _at_once(ledger, "2026-13-01")
