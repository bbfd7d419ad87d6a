"""Reading the suite's JSON reports in the project's tests."""

from __future__ import annotations

from typing import Any

NOT_IN_RULE_SET = "not in rule set "  # how a skip for a scenario of another text begins


def applicable(results: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The results of scenarios the run's rule set has: a proposal's own scenarios are skipped
    under a release, by design, and say so."""
    return [
        r
        for r in results
        if not (r["outcome"] == "skipped" and r["observed"].startswith(NOT_IN_RULE_SET))
    ]
