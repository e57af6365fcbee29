"""``GET /v1/usage`` answers in the event loop when the answer needs no wait, and in a worker
thread when it does (``service.NotAtOnce``): an answer waiting for its turn, or for a group of
events being written, never holds the loop, so health checks and cached answers go on."""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator
from contextlib import ExitStack, asynccontextmanager
from decimal import Decimal
from typing import Any

import anyio
import httpx
import pytest

from conftest import CountingLedger
from usagelens import service
from usagelens.auth import Caller
from usagelens.ingest.group_commit import WritePriority
from usagelens.ledger.duckdb import DuckDBLedger
from usagelens.query import UsageArgs
from usagelens.surfaces.http import create_app


@pytest.fixture
def ledger(april: DuckDBLedger) -> DuckDBLedger:
    return april


def _params(start: str, **more: str) -> dict[str, str]:
    return {"team_id": "team_a", "start_date": start, "end_date": "2026-04-30", **more}


@asynccontextmanager
async def _client(app: Any) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1:8000", timeout=30) as c:
        yield c


class _Held:
    """``service._COMPUTING`` held by another thread (an answer being computed there) until
    ``release()``."""

    def __init__(self) -> None:
        self._taken, self._go = threading.Event(), threading.Event()
        self._thread = threading.Thread(target=self._hold)
        self._thread.start()
        assert self._taken.wait(10)

    def _hold(self) -> None:
        with service._COMPUTING:
            self._taken.set()
            self._go.wait(30)

    def release(self) -> None:
        self._go.set()
        self._thread.join(10)


def test_an_answer_that_needs_no_wait_is_computed_on_the_loop_and_one_that_waits_in_a_thread(ledger):
    counting = CountingLedger(ledger)
    app = create_app(counting)
    loop: list[int] = []

    async def scenario() -> None:
        loop.append(threading.get_ident())
        async with _client(app) as c:
            assert (await c.get("/v1/usage", params=_params("2026-04-05"))).status_code == 200
            held = _Held()
            try:
                async with anyio.create_task_group() as tg:
                    tg.start_soon(lambda: c.get("/v1/usage", params=_params("2026-04-06")))
                    await anyio.sleep(0.3)
                    held.release()
            finally:
                held.release()

    anyio.run(scenario)
    now, later = counting.threads  # one facts_many per answer
    assert now == loop[0]  # no hop to a thread and back
    assert later != loop[0]  # it waited for its turn, in a worker thread


def test_an_answer_waiting_its_turn_waits_in_a_thread_and_the_loop_answers_the_rest(ledger):
    app = create_app(ledger)
    got: dict[str, httpx.Response] = {}

    async def scenario() -> None:
        async with _client(app) as c:
            first = await c.get("/v1/usage", params=_params("2026-04-01"))  # computed in the loop
            assert first.status_code == 200
            held = _Held()
            try:
                async with anyio.create_task_group() as tg:

                    async def waiting() -> None:
                        got["waiting"] = await c.get("/v1/usage", params=_params("2026-04-02"))

                    tg.start_soon(waiting)
                    await anyio.sleep(0.3)
                    assert "waiting" not in got  # its turn has not come
                    health = await c.get("/healthz")
                    again = await c.get("/v1/usage", params=_params("2026-04-01"))  # cached
                    assert health.status_code == 200 and again.text == first.text
                    assert "waiting" not in got
                    held.release()
            finally:
                held.release()

    anyio.run(scenario)
    answer = got["waiting"]
    assert answer.status_code == 200
    service._CACHE.clear()
    args = UsageArgs(team_id="team_a", start_date="2026-04-02", end_date="2026-04-30")
    assert answer.text == service.usage(ledger, Caller.local(), args).text  # the same bytes
    assert Decimal(str(answer.json()["totals"]["totalCU"])) == sum(range(1, 31))


def test_a_question_asked_while_events_are_written_waits_in_a_thread(ledger, monkeypatch):
    app = create_app(ledger)
    priority: WritePriority = app.state.service.writer.priority
    monkeypatch.setattr(priority, "PATIENCE", 30.0)  # only the write's end lets the answer go
    got: dict[str, httpx.Response] = {}

    async def scenario() -> None:
        async with _client(app) as c:
            with ExitStack() as write:
                write.enter_context(priority.writing())  # a group of events being written
                async with anyio.create_task_group() as tg:

                    async def asking() -> None:
                        got["answer"] = await c.get("/v1/usage", params=_params("2026-04-03"))

                    tg.start_soon(asking)
                    await anyio.sleep(0.3)
                    assert "answer" not in got  # the write goes first
                    assert (await c.get("/healthz")).status_code == 200  # and the loop is free
                    write.close()  # the write ends

    anyio.run(scenario)
    assert got["answer"].status_code == 200
    assert Decimal(str(got["answer"].json()["totals"]["totalCU"])) == sum(range(1, 31))


def test_expansions_and_markdown_answer_the_same_through_either_path(ledger):
    async def ask(params: dict[str, str], headers: dict[str, str] | None = None) -> httpx.Response:
        async with _client(create_app(ledger)) as c:
            return await c.get("/v1/usage", params=params, headers=headers)

    expanded = anyio.run(ask, _params("2026-04-04", include="usages"))  # an expansion: a worker thread
    assert expanded.status_code == 200 and expanded.json()["usages"][0]["count"] == 30
    markdown = anyio.run(ask, _params("2026-04-04"), {"accept": "text/markdown"})
    assert markdown.status_code == 200 and markdown.headers["content-type"].startswith("text/markdown")
    bad = anyio.run(ask, _params("2026-04-31"))
    assert bad.status_code == 400 and "2026-04-31" in bad.json()["error"]["message"]
