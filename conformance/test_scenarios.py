"""The scenarios: one test per catalog entry (parametrized by the plugin), judged on what the
fake world observed. Run with `pytest --pyargs conformance --resolver=MODULE:ATTR`."""

from collections.abc import Callable

from conformance.scenarios import Scenario


def test_scenario(
    scenario: Scenario, ruleset: str, run_scenario: Callable[[Scenario, str], None]
) -> None:
    run_scenario(scenario, ruleset)
