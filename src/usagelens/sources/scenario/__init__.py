"""A live Scenario account as a usage source, and its sync into a store."""

from usagelens.sources.scenario.ledger import LiveAccountControl, ScenarioLedger, open_scenario

__all__ = ["LiveAccountControl", "ScenarioLedger", "open_scenario"]
