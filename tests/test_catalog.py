"""The catalog itself: every quote is real spec text, every normative sentence is checked by at
least one scenario, and docs/coverage.md is what the generator makes of the catalog now."""

from __future__ import annotations

from pathlib import Path

from matrix_resolver_conformance.catalog import fixtures_dir, load_catalog
from matrix_resolver_conformance.catalog.files import read_toml
from matrix_resolver_conformance.catalog.rulesets import registry
from matrix_resolver_conformance.catalog.sentences import (
    Sentence,
    coverage,
    load_sentences,
    part_of,
    quotes,
    text_of,
    unmatched_quotes,
)
from matrix_resolver_conformance.tools.coverage import render_markdown

ROOT = Path(__file__).resolve().parents[1]


def test_every_quote_is_a_sentence_of_the_spec() -> None:
    catalog = load_catalog()
    bad = unmatched_quotes(
        load_sentences(), [s for s in catalog if not s.since.startswith("proposal")]
    )
    for name in registry().proposals:  # a proposal's own scenarios quote its text
        own = [s for s in catalog if s.since == name]
        bad += unmatched_quotes(text_of(name) or [], own)
    assert not bad, f"scenarios quoting text not in their text (fixtures/spec/): {bad}"


def test_every_normative_sentence_has_a_scenario() -> None:
    sentences = load_sentences()
    current = [s for s in load_catalog() if not (s.since and registry().get(s.since).proposal)]
    cov = coverage(sentences, current)
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


def _text(name: str) -> dict[str, Sentence]:
    sentences = text_of(name)
    assert sentences is not None, name
    return {s.id: s for s in sentences}


def test_sentence_ids_are_unambiguous_and_unique_per_text() -> None:
    for name in [*registry().history, *registry().proposals]:
        sentences = text_of(name)
        if sentences is None:
            continue
        ids = [s.id for s in sentences]
        assert len(ids) == len(set(ids)), name
        for s in sentences:
            assert part_of(s.id) == s.step, s.id


def test_every_scenario_cites_sentences_of_its_text_by_id() -> None:
    """The quote stays for display; the id is what counts, and the two must agree."""
    for s in load_catalog():
        text = _text(s.since if s.since and registry().get(s.since).proposal else "latest")
        assert s.sentence_ids, f"{s.id}: no sentence_id"
        for sid in s.sentence_ids:
            assert sid in text, f"{s.id}: cites {sid}, not in its text"
            assert quotes(s.sentence, text[sid], s.step), f"{s.id}: quote is not {sid}"


def test_overrides_quote_the_text_they_are_judged_by() -> None:
    """Where the suite has a rule set's text, an override's quote is a sentence of it."""
    bad = []
    for name in [*registry().history, *registry().proposals]:
        sentences = text_of(name)
        if sentences is None:
            continue
        by_id = {s.id: s for s in sentences}
        for s in load_catalog():
            applied = s.under(name)
            if isinstance(applied, str) or applied.sentence == s.sentence:
                continue
            if applied.sentence_ids:
                ok = all(
                    i in by_id and quotes(applied.sentence, by_id[i], by_id[i].step)
                    for i in applied.sentence_ids
                )
            else:
                ok = any(quotes(applied.sentence, t, t.step) for t in sentences)
            if not ok:
                bad.append(f"{name}: {s.id}: {applied.sentence[:80]}")
    assert not bad, "\n".join(bad)


def test_every_scenario_says_what_its_expectation_rests_on() -> None:
    """`rests_on` (what `impact` reads): real sentences, the cited ones among them, and for an
    expected request the destination, Host and certificate sentences of some step."""
    rules = read_toml(fixtures_dir() / "spec" / "rules.toml")["sentences"]
    for s in load_catalog():
        own = s.since if s.since and registry().get(s.since).proposal else "latest"
        text = _text(own)
        assert s.rests_on, f"{s.id}: no rests_on"
        assert set(s.sentence_ids) <= set(s.rests_on), f"{s.id}: rests_on lacks its own sentence"
        for sid in s.rests_on:
            assert sid in text, f"{s.id}: rests on {sid}, not in its text"
        if s.expect.sites:
            for rule in ("destination", "host", "certificate"):
                assert set(rules[rule].values()) & set(s.rests_on), f"{s.id}: no {rule} sentence"
        if isinstance(s.expect.sni, str):
            assert "tls/3" in s.rests_on, f"{s.id}: asserts an SNI, rests on no SNI sentence"
