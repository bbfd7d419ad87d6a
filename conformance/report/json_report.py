"""The JSON report (`--conformance-report=PATH`): one entry per scenario and rule set."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from matrix_resolver_conformance.run.runtime import Result


def entry(result: Result) -> dict[str, Any]:
    s, v = result.scenario, result.verdict
    if v is None:
        outcome, expected, observed, problems = "skipped", "", result.skipped, []
    else:
        outcome = "passed" if v.passed else "failed"
        expected, observed, problems = v.expected, v.observed, v.problems
    return {
        "id": s.id,
        "spec": result.spec,
        "step": s.step,
        "level": s.level,
        "outcome": outcome,
        "unavailable": result.unavailable,  # skipped because this machine cannot host it
        "expected": expected,
        "observed": observed,
        "problems": problems,
        "sentence": s.sentence,
        "seconds": round(result.elapsed, 4),
    }


def write(
    path: str, results: list[dict[str, Any]], resolver: str, spec: str, version: str | None = None
) -> None:
    ordered = sorted(results, key=lambda r: (r["id"], r["spec"]))
    doc = {"resolver": resolver, "resolver_version": version, "spec": spec, "results": ordered}
    Path(path).write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")
