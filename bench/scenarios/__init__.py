"""The benchmark scenarios, by name (`python -m bench <name>`)."""

from __future__ import annotations

from bench.harness import Scenario
from bench.scenarios import accounts, catalog, checkout

SCENARIOS: dict[str, Scenario] = {
    s.name: s for s in (accounts.SCENARIO, catalog.SCENARIO, checkout.SCENARIO)
}
