"""Alert delivery to webhooks (issue 15), the core: a real receiver on 127.0.0.1, real stores, and
``Deliverer.run_once`` at chosen instants (no sleeping): signed once with the idempotency key,
retried with growing delays, failed after the give-up time, two deliverers never posting twice."""

from __future__ import annotations

import json
import re
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from chdb_support import chdb_url
from usagelens.auth import Caller
from usagelens.budgets.delivery import Deliverer, alerts_view, sign, webhook_secret
from usagelens.errors import Forbidden, InvalidArgument
from usagelens.ledger import open_ledger
from webhook_receiver import Receiver, receiving, verified

T0 = datetime(2026, 12, 14, 9, 30, tzinfo=UTC)


def alert(budget: str, threshold: int, webhook: str | None, *, team: str = "team_a", at: datetime = T0) -> dict:
    """An alert as ``budgets/watch.py`` records it (the README's body fields)."""
    scope, target = ("team", None) if "/" not in budget else (budget.split("/")[1], budget.split("/")[2])
    return {
        "id": f"{budget}|2026-12-01|{threshold}", "budgetId": budget, "teamId": team, "scope": scope,
        "target": target, "threshold": threshold, "periodStart": "2026-12-01", "periodEnd": "2026-12-31",
        "timezone": "Europe/Paris", "usedCU": "8000.5", "allowanceCU": "10000", "crossedAt": at.isoformat()[:19] + "Z",
        "webhook": webhook,
    }  # fmt: skip


def raise_alert(store: Any, doc: dict) -> None:
    assert store.claim("alerts", doc["id"], json.dumps(doc)) == json.dumps(doc)


def state(store: Any, alert_id: str) -> dict:
    return json.loads(store.docs("deliveries")[alert_id])


def test_an_alert_is_posted_once_signed_with_its_idempotency_key(ledger):
    with receiving() as rec:
        doc = alert("team_a", 80, rec.url)
        raise_alert(ledger, doc)
        d = Deliverer(ledger, backoff=1, give_up_after=60)
        assert d.run_once(T0) == 1
        assert d.run_once(T0 + timedelta(hours=2)) == 0  # delivered: never again
        (got,) = rec.wait_for(1)
    assert got.headers["content-type"] == "application/json"
    assert got.headers["idempotency-key"] == "team_a|2026-12-01|80"
    assert got.headers["user-agent"] == "usagelens"
    assert got.json() == doc | {"type": "budget.threshold_crossed"}
    secret = ledger.get_meta("webhook_secret")
    assert secret and len(secret) == 64 and webhook_secret(ledger) == secret
    assert got.headers["x-usagelens-signature"].startswith(f"t={int(T0.timestamp())},v1=")
    assert verified(secret, got)
    tampered = type(got)(got.headers, got.body.replace(b"8000.5", b"9000.5"))
    assert not verified(secret, tampered)
    assert state(ledger, doc["id"]) == {
        "state": "delivered", "attempts": 1, "nextAt": None, "lastError": None, "lastStatus": 200,
        "deliveredAt": "2026-12-14T09:30:00.000Z",
    }  # fmt: skip


def test_the_signature_is_the_documented_hmac():
    # a fixed vector: HMAC-SHA256 keyed with the secret's text, over "<t>." + body, in hex
    assert sign("whsec", 1700000000, b'{"a":1}') == (
        "t=1700000000,v1=8ad37ba156048ae0e0a5533c75cdf26fee88b07f93cb57ee4c80adb053012032"
    )


def test_the_readme_verification_snippet_accepts_a_delivery_and_refuses_a_changed_body(ledger):
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    snippet = next(b for b in re.findall(r"```python\n(.*?)```", readme, re.S) if "def verify(" in b)
    scope: dict[str, Any] = {}
    exec(snippet, scope)
    now = datetime.now(UTC)
    with receiving() as rec:
        raise_alert(ledger, alert("team_a", 80, rec.url, at=now))
        assert Deliverer(ledger).run_once(now) == 1
        (got,) = rec.wait_for(1)
    secret, header = webhook_secret(ledger), got.headers["x-usagelens-signature"]
    assert scope["verify"](secret, header, got.body)
    assert not scope["verify"](secret, header, got.body + b" ")
    assert not scope["verify"]("0" * 64, header, got.body)


def test_a_failing_receiver_is_retried_with_growing_delays_until_it_answers(ledger):
    with receiving(Receiver(statuses=[500, 500])) as rec:
        doc = alert("team_a", 50, rec.url)
        raise_alert(ledger, doc)
        d = Deliverer(ledger, backoff=10, give_up_after=3600)
        assert d.run_once(T0) == 1
        assert state(ledger, doc["id"]) | {"lastError": None} == {
            "state": "pending", "attempts": 1, "nextAt": "2026-12-14T09:30:10.000Z", "lastError": None,
            "lastStatus": 500, "deliveredAt": None,
        }  # fmt: skip
        assert state(ledger, doc["id"])["lastError"] == "HTTP 500"
        assert d.run_once(T0 + timedelta(seconds=9.9)) == 0  # not due yet
        assert d.run_once(T0 + timedelta(seconds=10)) == 1
        assert state(ledger, doc["id"])["nextAt"] == "2026-12-14T09:30:30.000Z"  # 20 s later: doubled
        assert d.run_once(T0 + timedelta(seconds=29)) == 0
        assert d.run_once(T0 + timedelta(seconds=30)) == 1
        got = rec.wait_for(3)
    assert [r.key for r in got] == [doc["id"]] * 3
    assert state(ledger, doc["id"]) == {
        "state": "delivered", "attempts": 3, "nextAt": None, "lastError": None, "lastStatus": 200,
        "deliveredAt": "2026-12-14T09:30:30.000Z",
    }  # fmt: skip


def _until_settled(d: Deliverer, store: Any, alert_id: str) -> int:
    """Run passes at each retry's due time until the alert is no longer pending; the passes that sent."""
    sent, now = 0, T0
    for _ in range(50):
        sent += d.run_once(now)
        s = state(store, alert_id)
        if s["state"] != "pending":
            return sent
        now = datetime.fromisoformat(s["nextAt"])
    raise AssertionError("still pending after 50 passes")


def test_a_receiver_that_never_succeeds_ends_failed_after_the_give_up_time(ledger):
    with receiving(Receiver(default=503)) as rec:
        doc = alert("team_a", 100, rec.url)
        raise_alert(ledger, doc)
        # attempts at +0, +1, +3, +7 s; the next (+15) would fall after the 10 s give-up
        assert _until_settled(Deliverer(ledger, backoff=1, give_up_after=10), ledger, doc["id"]) == 4
        assert len(rec.wait_for(4)) == 4
    s = state(ledger, doc["id"])
    assert (s["state"], s["attempts"], s["lastStatus"], s["lastError"], s["nextAt"]) == (
        "failed", 4, 503, "HTTP 503", None
    )  # fmt: skip


def test_an_unreachable_webhook_records_the_connection_error(ledger):
    with receiving() as rec:
        url = rec.url  # the port is closed once the receiver is gone
    doc = alert("team_a", 100, url)
    raise_alert(ledger, doc)
    assert _until_settled(Deliverer(ledger, backoff=1, give_up_after=2, timeout=2), ledger, doc["id"]) == 2
    s = state(ledger, doc["id"])
    assert (s["state"], s["attempts"], s["lastStatus"]) == ("failed", 2, None)
    assert s["lastError"].startswith("ConnectError") and "\n" not in s["lastError"]


def test_an_attempt_whose_server_went_silent_is_taken_over_after_stale_after(ledger):
    with receiving() as rec:
        doc = alert("team_a", 80, rec.url)
        raise_alert(ledger, doc)
        dead = json.dumps({"by": "gone:1:x", "at": "2026-12-14T09:30:00.000Z"})  # claimed, never recorded
        ledger.claim("attempts", f"{doc['id']}#1", dead)
        d = Deliverer(ledger, backoff=1, give_up_after=600, stale_after=30)
        assert d.run_once(T0 + timedelta(seconds=29)) == 0  # its server may still be sending
        assert d.run_once(T0 + timedelta(seconds=30)) == 1
        assert [r.key for r in rec.wait_for(1)] == [doc["id"]]
    assert ledger.claims("attempts")[f"{doc['id']}#1"] == dead
    assert (state(ledger, doc["id"])["state"], state(ledger, doc["id"])["attempts"]) == ("delivered", 2)


def test_an_alert_without_webhook_is_no_webhook_and_never_posted(ledger):
    doc = alert("team_a", 50, None)
    raise_alert(ledger, doc)
    assert Deliverer(ledger).run_once(T0) == 0
    assert state(ledger, doc["id"])["state"] == "no_webhook"
    assert alerts_view(ledger, Caller.local())[0]["delivery"]["state"] == "no_webhook"


@pytest.mark.parametrize("backend", ["duckdb", "chdb"])
def test_two_deliverers_on_one_store_post_each_alert_once(backend):
    if backend == "duckdb":
        stores = [open_ledger(":memory:")] * 2
    else:
        url = chdb_url("deliveries")
        stores = [open_ledger(url), open_ledger(url)]  # two servers on one ClickHouse database
    try:
        with receiving(Receiver(statuses=[500, 500])) as rec:
            docs = [alert(f"team_{i}", t, rec.url, team=f"team_{i}") for i in range(3) for t in (50, 80)]
            for doc in docs:
                raise_alert(stores[0], doc)
            deliverers = [Deliverer(s, backoff=1, give_up_after=600) for s in stores]
            start = threading.Barrier(2)
            sent = [0, 0]

            def run(n: int) -> None:
                start.wait()
                for k in range(4):  # the two failed attempts are retried, once each, by one of the two
                    sent[n] += deliverers[n].run_once(T0 + timedelta(seconds=2 * k))

            threads = [threading.Thread(target=run, args=(n,)) for n in range(2)]
            for t in threads:
                t.start()
            for t in threads:
                t.join(60)
            got = rec.wait_for(len(docs) + 2)
        assert sum(sent) == len(got) == len(docs) + 2
        assert sorted(r.key for r in got if r.key) == sorted([d["id"] for d in docs] + [got[0].key, got[1].key])
        assert {json.loads(v)["state"] for v in stores[1].docs("deliveries").values()} == {"delivered"}
        assert sum(json.loads(v)["attempts"] for v in stores[1].docs("deliveries").values()) == len(docs) + 2
    finally:
        for s in set(stores):
            s.close()


def test_alerts_are_read_by_who_may_see_them_newest_first(ledger):
    docs = [
        alert("team_a", 50, None),
        alert("team_a/project/p1", 80, None, at=T0 + timedelta(hours=1)),
        alert("team_a/project/p2", 80, None, at=T0 + timedelta(hours=2)),
        alert("team_b", 100, "https://example.com/h", team="team_b", at=T0 + timedelta(hours=3)),
    ]
    for doc in docs:
        raise_alert(ledger, doc)
    ids = lambda caller, team=None: [a["id"] for a in alerts_view(ledger, caller, team)]  # noqa: E731
    assert ids(Caller.local()) == [d["id"] for d in reversed(docs)]
    assert ids(Caller.local(), "team_b") == [docs[3]["id"]]
    assert ids(Caller("analytics", "team_a")) == [docs[2]["id"], docs[1]["id"], docs[0]["id"]]
    assert ids(Caller("analytics", "team_a"), "team_b") == []
    assert ids(Caller("project", "team_a", "p1")) == [docs[1]["id"]]
    with pytest.raises(Forbidden):
        alerts_view(ledger, Caller("ingest", "team_a"))
    pending = alerts_view(ledger, Caller.local(), "team_b")[0]["delivery"]
    assert pending == {
        "state": "pending", "attempts": 0, "nextAt": docs[3]["crossedAt"], "lastError": None, "lastStatus": None,
        "deliveredAt": None,
    }  # fmt: skip


def test_two_stores_sharing_a_database_agree_on_the_webhook_secret():
    url = chdb_url("secret")
    a, b = open_ledger(url), open_ledger(url)
    try:
        got: list[str] = []
        threads = [threading.Thread(target=lambda s=s: got.append(webhook_secret(s))) for s in (a, b, a, b)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        assert len(got) == 4 and len(set(got)) == 1 and b.get_meta("webhook_secret") == got[0]
    finally:
        a.close()
        b.close()


def test_the_thread_is_woken_by_notify_and_survives_a_failing_store(ledger, caplog):
    looked = threading.Event()

    class Flaky:
        """The ledger, whose first look at the alerts fails."""

        calls = 0

        def __getattr__(self, name: str) -> Any:
            return getattr(ledger, name)

        def claims(self, kind: str) -> dict[str, str]:
            Flaky.calls += 1
            if Flaky.calls == 1:
                raise OSError("store unreachable\nsecond line")
            looked.set()
            return ledger.claims(kind)

    with receiving() as rec:
        d = Deliverer(Flaky(), backoff=0.05, give_up_after=60)  # type: ignore[arg-type]
        d.start()
        try:
            assert looked.wait(5)  # a pass after the failed one found nothing; the next is 10 s away
            raise_alert(ledger, alert("team_a", 80, rec.url, at=datetime.now(UTC)))
            d.notify()
            assert rec.wait_for(1, timeout=5)[0].key == "team_a|2026-12-01|80"  # so notify() woke it
        finally:
            d.stop()
    lines = [r.getMessage() for r in caplog.records if r.name == "usagelens.webhooks"]
    assert lines == ["webhook delivery pass failed (OSError: store unreachable); trying again"]


@pytest.mark.parametrize("value", ["abc", "-1", "nan", "inf"])
def test_an_invalid_retry_setting_is_one_sentence(monkeypatch, ledger, value):
    monkeypatch.setenv("USAGELENS_WEBHOOK_BACKOFF", value)
    with pytest.raises(InvalidArgument, match=r"^USAGELENS_WEBHOOK_BACKOFF: '.*' is not a number of seconds"):
        Deliverer(ledger)
