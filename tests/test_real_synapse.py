"""Regression guard for the Synapse adapter: a few scenarios Synapse passes, run in-process
against its real `MatrixFederationAgent`, and one it is known to fail (so the guard notices if
the adapter stops exercising Synapse's own code). Skipped when Synapse is not installed
(`pip install 'matrix-resolver-conformance[synapse]'`)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

pytest.importorskip(
    "synapse", reason="Synapse is not installed: pip install 'matrix-resolver-conformance[synapse]'"
)

from matrix_resolver_conformance.adapters.synapse import factory
from matrix_resolver_conformance.catalog import Scenario
from matrix_resolver_conformance.run.runtime import Result

PASSES = [
    "step1-ipv4-literal-default-port",
    "step2-explicit-port-a-record",
    "step2-wrong-name-certificate-refused",  # Synapse's TLS policy refuses it
    "step3.2-delegated-hostname-explicit-port",
    "step3.3-srv-matrix-fed-on-delegated-name",
    "step3.3-sni-is-delegated-hostname-not-target",
    "step4-srv-matrix-fed-on-hostname",
    "step6-a-record-8448",
]

# Synapse caches every well-known for at least WELL_KNOWN_MIN_CACHE_PERIOD (5 min), whatever
# Cache-Control says; only its own WellKnownResolver behaves like that.
DEVIATION = "step3-well-known-no-store-refetched"


def _judged(result: Result) -> Any:
    if result.verdict is None:
        pytest.skip(result.skipped)
    return result.verdict


@pytest.mark.parametrize("scenario_id", PASSES)
def test_synapse_passes(
    scenario_id: str,
    catalog: dict[str, Scenario],
    run: Callable[[Scenario, Any], Result],
) -> None:
    verdict = _judged(run(catalog[scenario_id], factory))
    assert verdict.passed, verdict.message


def test_synapse_known_deviation_still_observed(
    catalog: dict[str, Scenario], run: Callable[[Scenario, Any], Result]
) -> None:
    verdict = _judged(run(catalog[DEVIATION], factory))
    assert not verdict.passed, "Synapse now refetches a no-store well-known: update the findings"
    assert any("well-known was requested 1 times over 2" in p for p in verdict.problems), (
        verdict.message
    )
