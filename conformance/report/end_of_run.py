"""What a run shows and writes at its end: failures below the failing level, the step x level
tables, scenarios this machine could not run, the summary line, and the JSON, HTML and
$GITHUB_STEP_SUMMARY reports the options ask for."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from matrix_resolver_conformance.options import LEVELS, RunOptions
from matrix_resolver_conformance.report import json_report, summary


def write_end_of_run(
    tr: Any, results: list[dict[str, Any]], o: RunOptions, version: str | None
) -> None:
    """`tr`: pytest's terminal reporter; `results`: the report entries, one per test."""
    gate = LEVELS.index(o.level)
    below = [
        r
        for r in results
        if r["outcome"] == "failed" and LEVELS.index(summary.counted_level(r)) > gate
    ]
    if below:
        tr.section(f"conformance: {len(below)} failure(s) below --conformance-level={o.level}")
        for r in below:
            tr.write_line(f"{summary.first_line(r)} ({r['id']})")
    tr.section("conformance: summary")
    for line in summary.text_tables(results):
        tr.write_line(line)
    missing = summary.unavailable_lines(results, o.allow_unavailable)
    if missing:
        tr.section("conformance: scenarios this machine could not run", red=True, bold=True)
        for line in missing:
            tr.write_line(line, red=not o.allow_unavailable, bold=True)
    label = o.homeserver or o.resolver
    tr.write_line(summary.summary_line(results, label, o.ruleset_label))
    document = json_report.document(results, label, o.ruleset_label, version)
    if o.report:
        json_report.write(o.report, document)
        tr.write_line(f"conformance report written to {o.report}")
    if o.html:
        from matrix_resolver_conformance.report.html import render

        Path(o.html).write_text(render([document]), encoding="utf-8")
        tr.write_line(f"conformance HTML report written to {o.html}")
    step_summary = os.environ.get("GITHUB_STEP_SUMMARY")
    if step_summary:
        with open(step_summary, "a", encoding="utf-8") as f:
            f.write(summary.markdown(results, label, o.ruleset_label))
