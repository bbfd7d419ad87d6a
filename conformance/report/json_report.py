"""The JSON report (`--conformance-report=PATH`): one entry per scenario and rule set.

The format is documented in docs/report-format.md (version REPORT_FORMAT): each entry has the
verdict, the rules that failed (with their own level and sentence) and the world's whole log
(report/trace.py), so a report can be re-rendered (HTML) and compared later.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

from matrix_resolver_conformance import __version__
from matrix_resolver_conformance.catalog.digest import catalog_hash
from matrix_resolver_conformance.catalog.rules import own_rule
from matrix_resolver_conformance.report.trace import TRACE_VERSION
from matrix_resolver_conformance.run.runtime import Result

REPORT_FORMAT = 2


def entry(result: Result) -> dict[str, Any]:
    s, v = result.scenario, result.verdict
    if v is None:
        outcome, expected, observed, problems = "skipped", "", result.skipped, []
        failures, held = [], []
    else:
        outcome = "passed" if v.passed else "failed"
        expected, observed, problems = v.expected, v.observed, v.problems
        failures, held = [dataclasses.asdict(f) for f in v.failures], v.held()
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
        "rule": own_rule(s),
        "failures": failures,
        "held": held,
        "sentence": s.sentence,
        "seconds": round(result.elapsed, 4),
        "trace": result.trace,
    }


def document(
    results: list[dict[str, Any]], resolver: str, spec: str, version: str | None = None
) -> dict[str, Any]:
    ordered = sorted(results, key=lambda r: (r["id"], r["spec"]))
    return {
        "format": REPORT_FORMAT,
        "trace_format": TRACE_VERSION,
        "suite_version": __version__,
        "catalog_hash": catalog_hash(),
        "resolver": resolver,
        "resolver_version": version,
        "spec": spec,
        "results": ordered,
    }


def write(path: str, doc: dict[str, Any]) -> None:
    Path(path).write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")
