"""Other systems usagelens reads usage from: a live Scenario account (``scenario``)."""

from __future__ import annotations

from usagelens.sources.scenario import ScenarioLedger, open_scenario
from usagelens.sources.scenario.client import ClientSettings, ScenarioClient

__all__ = ["ClientSettings", "ScenarioClient", "ScenarioLedger", "open_scenario"]
