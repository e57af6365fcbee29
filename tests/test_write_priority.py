"""Readers step aside while ingest writes a group (``ingest.group_commit.WritePriority``): an
answer about to be computed waits for the write in progress, never longer than its patience."""

from __future__ import annotations

import threading
import time

import pytest

from usagelens.ingest.group_commit import WritePriority


def test_a_reader_waits_for_the_write_in_progress_then_goes_on():
    priority = WritePriority()
    order: list[str] = []
    started = threading.Event()

    def read() -> None:
        started.set()
        priority.wait()
        order.append("read")

    priority.PATIENCE = 30.0  # far longer than the test: only the write's end lets it go
    with priority.writing():
        reader = threading.Thread(target=read)
        reader.start()
        started.wait()
        reader.join(0.2)
        assert reader.is_alive()  # still waiting while the group is written
        order.append("written")
    reader.join(5)
    assert not reader.is_alive()
    assert order == ["written", "read"]


def test_without_a_write_a_reader_does_not_wait_and_never_past_its_patience(monkeypatch: pytest.MonkeyPatch):
    priority = WritePriority()
    priority.wait()  # no write: returns at once (a hang would fail the suite)
    monkeypatch.setattr(WritePriority, "PATIENCE", 0.01)
    with priority.writing(), priority.writing():  # nested writes count
        done = threading.Event()
        reader = threading.Thread(target=lambda: (priority.wait(), done.set()))
        reader.start()
        reader.join(5)
        assert done.is_set()  # gave up waiting after its patience, while the write goes on
    assert priority._writing == 0


def test_ingest_counts_as_under_way_while_a_group_is_written_and_for_a_quiet_while_after():
    priority = WritePriority()
    priority.QUIET = 0.2
    assert not priority.busy  # nothing written yet: an answer may be computed in the event loop
    with priority.writing():
        assert priority.busy
    assert priority.busy  # just written: the next group's requests are probably on their way
    time.sleep(0.3)
    assert not priority.busy
