"""Two usagelens servers on one ClickHouse database: nothing either needs lives only in its process.

Two ledgers on the same database stand for two ``usagelens serve`` processes behind a load
balancer (the answer cache is shared by the process, so it is keyed by each ledger's change
token, which every insert by anyone raises).
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

import pyarrow as pa
import pytest

from chdb_support import chdb_url
from conftest import event, table
from usagelens.auth import Caller, KeyStore
from usagelens.errors import Unauthorized
from usagelens.ledger import open_ledger
from usagelens.model import ENTITY_SCHEMAS
from usagelens.query import UsageArgs
from usagelens.service import usage

NOW = datetime(2026, 5, 1)
ARGS = UsageArgs(team_id="team_a", start_date="2026-04-01", end_date="2026-04-30", include=["entities"])


def test_each_server_sees_the_others_writes_keys_and_names_at_once():
    url = chdb_url("servers")
    with open_ledger(url) as one, open_ledger(url) as two:
        one.write_events(table([event(1, datetime(2026, 4, 2), cu=Decimal("1.5"), user_id="u1")]))
        first = usage(two, Caller.local(), ARGS, now=NOW).data  # cached by server two
        assert first["totals"]["totalCU"] == Decimal("1.5")
        one.write_events(table([event(2, datetime(2026, 4, 3), cu=Decimal("2"), user_id="u1")]))
        assert usage(two, Caller.local(), ARGS, now=NOW).data["totals"]["totalCU"] == Decimal("3.5")
        names = pa.Table.from_pylist([{"id": "u1", "full_name": "Ada"}], schema=ENTITY_SCHEMAS["users"])
        one.upsert_entities("users", names)
        assert two.entities("users", ["u1"], "team_a")[0]["full_name"] == "Ada"
        assert "Ada" in usage(two, Caller.local(), ARGS, now=NOW).text
        keys_one, keys_two = KeyStore(one), KeyStore(two)
        new = keys_one.create("team_a", "analytics")
        assert keys_two.verify(new.key, new.secret).team_id == "team_a"
        keys_one.revoke(new.key)
        with pytest.raises(Unauthorized):  # revoked on server one: refused by server two at once
            keys_two.verify(new.key, new.secret)
