"""Ledger contract, control documents and claims (what budgets and alerts are stored in): upserts
and deletes of documents, claims won exactly once (also by concurrent threads), both outliving
the ledger, and documents changing ``cache_token`` (budgets show in answers)."""

from __future__ import annotations

import threading


def test_documents_are_upserted_deleted_and_listed_by_kind(ledger):
    assert ledger.docs("budgets") == {}
    before = ledger.cache_token()
    ledger.put_doc("budgets", "b1", '{"cu": "10"}')
    ledger.put_doc("budgets", "b2", '{"cu": "20"}')
    ledger.put_doc("grants", "b1", "{}")
    assert ledger.cache_token() != before
    ledger.put_doc("budgets", "b1", '{"cu": "11"}')
    assert ledger.docs("budgets") == {"b1": '{"cu": "11"}', "b2": '{"cu": "20"}'}
    ledger.put_doc("budgets", "b2", None)
    ledger.put_doc("budgets", "nope", None)  # deleting what is not there is fine
    assert ledger.docs("budgets") == {"b1": '{"cu": "11"}'}
    assert ledger.docs("grants") == {"b1": "{}"}


def test_a_claim_is_won_once_and_then_holds(ledger):
    assert ledger.claim("alerts", "a1", "first") == "first"
    assert ledger.claim("alerts", "a1", "second") == "first"
    assert ledger.claim("other", "a1", "third") == "third"
    assert ledger.claims("alerts") == {"a1": "first"}


def test_concurrent_claims_of_one_id_have_one_winner(ledger):
    got: list[str] = []
    lock = threading.Lock()

    def claim(n: int) -> None:
        held = ledger.claim("alerts", "race", f"w{n}")
        with lock:
            got.append(held)

    threads = [threading.Thread(target=claim, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(set(got)) == 1 and ledger.claims("alerts") == {"race": got[0]}


def test_documents_and_claims_outlive_the_ledger(durable_stores):
    led = durable_stores.new()
    led.put_doc("budgets", "b1", "x")
    led.claim("alerts", "a1", "y")
    led = durable_stores.reopen(led)
    assert (led.docs("budgets"), led.claims("alerts")) == ({"b1": "x"}, {"a1": "y"})
    assert led.claim("alerts", "a1", "z") == "y"
