"""The ClickHouse backend (a server over HTTP(S), a cluster, or chDB in-process)."""

from usagelens.ledger.clickhouse.connect import SCHEMES, parse_url
from usagelens.ledger.clickhouse.store import ClickHouseLedger

__all__ = ["SCHEMES", "ClickHouseLedger", "parse_url"]
