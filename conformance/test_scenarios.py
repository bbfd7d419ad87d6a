"""The scenarios: one test per catalog entry (parametrized by the plugin), judged on what the
fake world observed. Run with `pytest --pyargs conformance --resolver=MODULE:ATTR`.

Deliberately free of imports: in a checkout this file may be collected under the folder's name
(`conformance.test_scenarios`) as well as the installed one, and must not load the suite twice.
"""


def test_scenario(scenario, ruleset, run_scenario):  # fixtures
    run_scenario(scenario, ruleset)
