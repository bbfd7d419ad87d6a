"""The comparison section of docs/implementations.md: every scenario whose outcome differs between
two runs of one implementation is listed and must be explained in docs/differences.toml, and an
explanation of a difference that is gone counts as a fault too (the command exits 1)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from matrix_resolver_conformance.tools import implementation_pages as pages
from matrix_resolver_conformance.tools import implementations as impl


def report(outcomes: dict[str, str]) -> dict[str, Any]:
    return {
        "spec": "v1.19",
        "resolver_version": "x 1",
        "results": [
            {
                "id": i,
                "step": "1",
                "level": "required",
                "outcome": o,
                "problems": ["p"],
                "observed": "o",
            }
            for i, o in outcomes.items()
        ],
    }


REPORTS = {
    "synapse": report({"a": "failed", "b": "passed", "c": "failed"}),
    "synapse-process": report({"a": "passed", "b": "failed", "c": "failed"}),
}
FINDINGS = {
    (n, i): {"verdict": "deviation", "summary": "s"}
    for n, i in [
        ("synapse", "a"),
        ("synapse", "c"),
        ("synapse-process", "b"),
        ("synapse-process", "c"),
    ]
}


def comparison(*differences: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        {
            "left": "synapse",
            "right": "synapse-process",
            "title": "T",
            "difference": list(differences),
        }
    ]


def test_every_difference_explained_counts_nothing() -> None:
    comps = comparison(
        {"scenarios": ["a"], "cause": "validator", "why": "w1", "real": "synapse-process"},
        {"scenarios": ["b"], "cause": "glibc", "why": "w2", "real": "synapse-process"},
    )
    page, missing = pages.render(REPORTS, FINDINGS, comps)
    assert missing == 0
    assert "## T: 2 differences" in page
    assert "| `a` | required | FAIL | pass | [1] validator | Synapse (whole process) |" in page
    assert "2. **glibc** (real behaviour: Synapse (whole process)): w2" in page
    assert "`c`" not in page.split("## T:")[1].split("## Every")[0]  # same outcome: no row
    html = pages.render_html(REPORTS, FINDINGS, comps)
    assert 'id="synapse-vs-synapse-process-2"' in html and "T: 2 differences" in html


def test_unexplained_and_stale_differences_count() -> None:
    comps = comparison(
        {"scenarios": ["a", "c"], "cause": "validator", "why": "w", "real": "synapse-process"}
    )
    page, missing = pages.render(REPORTS, FINDINGS, comps)
    assert missing == 2  # b is not explained, c does not differ
    assert "| `b` | required | pass | FAIL | **NOT EXPLAINED** | ? |" in page
    assert "not different (any more): `c`." in page


def test_differences_file_is_checked(tmp_path: Path) -> None:
    path = tmp_path / "differences.toml"
    path.write_text(
        '[[comparison]]\nleft = "synapse"\nright = "synapse-process"\ntitle = "T"\n'
        '[[comparison.difference]]\nscenarios = ["a"]\ncause = "c"\nwhy = "w"\n'
        'real = "rocketchat"\n'
    )
    with pytest.raises(SystemExit, match="real must be"):
        impl.load_differences(path)
    path.write_text('[[comparison]]\nleft = "synapse"\nright = "nobody"\ntitle = "T"\n')
    with pytest.raises(SystemExit, match="right must be one of"):
        impl.load_differences(path)


def test_the_committed_differences_file_loads() -> None:
    comps = impl.load_differences(Path(__file__).resolve().parents[1] / "docs" / "differences.toml")
    assert comps and all(c["left"] in impl.IMPLEMENTATIONS for c in comps)


def test_every_implementation_says_how_it_is_run() -> None:
    for name, what in impl.IMPLEMENTATIONS.items():
        assert what.label and what.options, name
        assert all(o.startswith("--conformance-") for o in what.options), name
    assert impl.IMPLEMENTATIONS["synapse-process"].options == ("--conformance-homeserver=synapse",)
