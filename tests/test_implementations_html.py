"""docs/implementations.html and docs/implementations.md come from the same reports and findings:
the page must show the same numbers as the Markdown (per implementation and level passed/ran, the
failures, every scenario's mark), and the committed page must be the one the command writes."""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from matrix_resolver_conformance.catalog import LEVELS
from matrix_resolver_conformance.tools import implementation_pages as pages
from matrix_resolver_conformance.tools import implementations as impl
from tests.html_dom import Node, parse

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
MARK = {"pass": "✓", "FAIL": "✗", "skip": "–", "-": "·"}  # .md mark -> the page's symbol


@pytest.fixture(scope="module")
def sources() -> tuple[
    dict[str, dict[str, Any]], dict[tuple[str, str], dict[str, str]], list[dict[str, Any]]
]:
    reports = {}
    for name in impl.IMPLEMENTATIONS:
        path = DOCS / "reports" / f"{name}.json"
        if path.exists():
            reports[name] = json.loads(path.read_text(encoding="utf-8"))
    if not reports:
        pytest.skip("no report in docs/reports/")
    findings = impl.load_findings(DOCS / "findings.toml")
    return reports, findings, impl.load_differences(DOCS / "differences.toml")


def markdown_numbers(md: str) -> tuple[dict[str, dict[str, str]], dict[str, int], list[list[str]]]:
    """(display name -> level -> "passed/ran"), (display name -> failures), scenario rows."""
    lines = md.splitlines()
    head = next(i for i, line in enumerate(lines) if line.startswith("| implementation |"))
    levels: dict[str, dict[str, str]] = {}
    for line in lines[head + 2 :]:
        if not line.startswith("|"):
            break
        cells = [c.strip() for c in line.strip("|").split("|")]
        levels[cells[0]] = dict(zip(LEVELS, cells[2:], strict=True))
    failures = {m[1]: int(m[2]) for m in re.finditer(r"^## (.+): (\d+) failures$", md, re.M)}
    every = lines.index("## Every scenario")
    rows = []
    for line in lines[every + 4 :]:
        if not line.startswith("|"):
            break
        rows.append([c.strip().strip("`") for c in line.strip("|").split("|")])
    return levels, failures, rows


def page_numbers(
    page: Node,
) -> tuple[dict[str, dict[str, str]], dict[str, int], list[list[str]], dict[str, Counter[str]]]:
    """The same numbers as the page shows them, plus each grid's 'all steps' row."""
    levels: dict[str, dict[str, str]] = {}
    failures: dict[str, int] = {}
    for tr in page.find("table", "impls").find("tbody").find_all("tr"):
        name = tr.find("th").text()
        levels[name] = {td.attrs["data-level"]: td.text() for td in tr.find_all("td", "lv")}
        failures[name] = int(tr.find("td", "total-failed").text())
    rows = []
    matrix = next(t for t in page.find_all("table") if t.attrs.get("id") == "matrix")
    for tbody in matrix.find_all("tbody"):
        for tr in tbody.find_all("tr", "r"):
            marks = [td.text() for td in tr.find_all("td", "o")]
            rows.append([tbody.attrs["data-step"], tr.find("td", "id").text(),
                         tr.find("td", "lvl").text(), *marks])  # fmt: skip
    grids = {}
    for grid in page.find_all("table", "grid"):
        name = grid.find("caption").text()
        last = grid.find_all("tr", "all")[0]
        total = last.find_all("td", "cell")[-1]
        grids[name] = Counter({b.attrs["data-outcome"]: int(b.text()) for b in total.find_all("b")})
    return levels, failures, rows, grids


def test_page_and_markdown_agree_on_every_count(sources: Any) -> None:
    reports, findings, comparisons = sources
    md, _ = pages.render(reports, findings, comparisons)
    page = parse(pages.render_html(reports, findings, comparisons))
    md_levels, md_failures, md_rows = markdown_numbers(md)
    levels, failures, rows, grids = page_numbers(page)
    assert len(md_levels) == len(reports) and len(md_rows) == len(
        {r["id"] for rep in reports.values() for r in rep["results"]}
    )
    assert levels == md_levels
    assert failures == md_failures
    for name, counts in grids.items():  # the grid's totals say the same
        assert counts["failed"] == md_failures[name]
        passed = sum(int(v.split("/")[0]) for v in md_levels[name].values())
        assert counts["passed"] == passed
    assert [[r[0], r[1], r[2], *(MARK[m] for m in r[3:])] for r in md_rows] == rows


def test_committed_page_is_current(sources: Any) -> None:
    reports, findings, comparisons = sources
    committed = DOCS / "implementations.html"
    assert committed.exists(), "run: matrix-resolver-conformance implementations"
    assert committed.read_text(encoding="utf-8") == pages.render_html(
        reports, findings, comparisons
    ), "docs/implementations.html is out of date: run matrix-resolver-conformance implementations"
