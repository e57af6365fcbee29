"""Schemathesis over the write endpoints with an ingest key, JSON and NDJSON bodies alike: no
body makes the server fail, and what the server acknowledges is exactly what the store holds."""

from __future__ import annotations

import os

import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import negative_data_rejection, positive_data_acceptance

from usagelens.auth import KeyStore
from usagelens.ledger.duckdb import DuckDBLedger
from usagelens.surfaces.http import create_app

LEDGER = DuckDBLedger(":memory:")
CREDENTIAL = KeyStore(LEDGER).create("team_a", "ingest").credential()
APP = create_app(LEDGER, require_keys=True)
schema = schemathesis.openapi.from_asgi("/openapi.json", APP).include(method=["POST", "PUT"])


def _events() -> int:
    return LEDGER.stats().events


@schema.parametrize()
@settings(
    max_examples=int(os.environ.get("USAGELENS_FUZZ_EXAMPLES", "25")),
    deadline=None,
    suppress_health_check=list(HealthCheck),
)
def test_no_write_body_makes_a_500_or_a_partial_write(case):
    before = _events()
    # Schema-valid bodies are still refused by business rules (required fields, the key's team):
    # the acceptance/rejection heuristics do not apply; no 5xx, documented codes and schemas do.
    response = case.call_and_validate(
        headers={"x-api-key": CREDENTIAL}, excluded_checks=[positive_data_acceptance, negative_data_rejection]
    )
    after = _events()
    if response.status_code == 200 and "written" in response.json() and case.path == "/v1/usage-events":
        assert after - before == response.json()["written"]
    else:
        assert after == before
