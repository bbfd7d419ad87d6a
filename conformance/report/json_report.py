"""The JSON report (`--conformance-report=PATH`) and the one-line run summary."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

from conformance.runner import Result


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
        "expected": expected,
        "observed": observed,
        "problems": problems,
        "sentence": s.sentence,
        "seconds": round(result.elapsed, 4),
    }


def summary_line(results: list[dict[str, Any]], resolver: str, spec: str) -> str:
    by_level: dict[str, Counter[str]] = {}
    for r in results:
        by_level.setdefault(r["level"], Counter())[r["outcome"]] += 1
    parts = []
    for level, counts in sorted(by_level.items()):
        ran = counts["passed"] + counts["failed"]
        skipped = f" ({counts['skipped']} skipped)" if counts["skipped"] else ""
        parts.append(f"{level} {counts['passed']}/{ran} passed{skipped}")
    return f"conformance of {resolver} to rule set {spec}: " + ", ".join(parts)


def write(
    path: str, results: list[dict[str, Any]], resolver: str, spec: str, version: str | None = None
) -> None:
    ordered = sorted(results, key=lambda r: (r["id"], r["spec"]))
    doc = {"resolver": resolver, "resolver_version": version, "spec": spec, "results": ordered}
    Path(path).write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")
