"""The scenarios: one test per catalog entry (parametrized by the plugin), judged on what the
fake world observed. Run with `pytest --pyargs conformance --resolver=MODULE:ATTR`.

Deliberately free of imports: in a checkout this file may be collected under the folder's name
(`conformance.test_scenarios`) as well as the installed one, and must not load the suite twice.
The fixtures are the plugin's, all prefixed `conformance_` (they are visible to every project
where the suite is installed); `scenario` is a parameter of this test only.
"""


def test_scenario(scenario, conformance_ruleset, conformance_run_scenario):  # the plugin's
    conformance_run_scenario(scenario, conformance_ruleset)
