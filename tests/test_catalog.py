"""The catalog itself: every quote is real spec text, every normative sentence is checked by at
least one scenario, and docs/coverage.md is what the generator makes of the catalog now."""

from __future__ import annotations

from pathlib import Path

from matrix_resolver_conformance.catalog import load_catalog
from matrix_resolver_conformance.catalog.sentences import coverage, load_sentences, unmatched_quotes
from matrix_resolver_conformance.tools.coverage import render_markdown

ROOT = Path(__file__).resolve().parents[1]


def test_every_quote_is_a_sentence_of_the_spec() -> None:
    bad = unmatched_quotes(load_sentences(), load_catalog())
    assert not bad, f"scenarios quoting text not in fixtures/spec/current.toml: {bad}"


def test_every_normative_sentence_has_a_scenario() -> None:
    sentences = load_sentences()
    cov = coverage(sentences, load_catalog())
    missing = [s.id for s in sentences if s.kind == "normative" and not cov[s.id]]
    assert not missing, f"normative sentences no scenario checks: {missing}"


def test_coverage_page_is_up_to_date() -> None:
    page = ROOT / "docs" / "coverage.md"
    expected = render_markdown(load_sentences(), load_catalog())
    assert page.read_text(encoding="utf-8") == expected, (
        "run: matrix-resolver-conformance coverage --output docs/coverage.md"
    )


def test_scenario_ids_read_like_the_spec() -> None:
    for s in load_catalog():
        prefix = f"step{s.step}-" if s.step[0].isdigit() else f"{s.step}-"
        assert s.id.startswith(prefix), f"{s.id} should start with {prefix}"
