"""Spec versions as rule sets: the seed diffs replay to exactly their behaviour changes, a
resolver that follows an old text passes that text and fails the current one, and the diff
output has the documented shape."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from matrix_resolver_conformance.catalog import load_catalog
from matrix_resolver_conformance.catalog.rulesets import (
    LATEST,
    RuleSetError,
    in_range,
    registry,
    resolve,
    selection,
)
from matrix_resolver_conformance.env import Env
from matrix_resolver_conformance.reference import factory as reference_factory
from matrix_resolver_conformance.reference.older_texts import (
    OlderTextResolver,
    drafts_read,
    reading,
)
from matrix_resolver_conformance.reference.resolver import ReferenceResolver
from matrix_resolver_conformance.report.json_report import entry
from matrix_resolver_conformance.tools.cli import main as cli
from matrix_resolver_conformance.tools.specdiff import diff, spec_changes_page

ROOT = Path(__file__).resolve().parents[1]
REDIRECTS_PROPOSAL = "proposal-well-known-redirects-limited"


def reasons(old: str, new: str) -> set[str]:
    return {row["why"] for row in diff(load_catalog(), old, new)}


def test_seed_a_replays_to_its_changes_and_nothing_else() -> None:
    """Seed diff A (docs/spec-history.md#seed-diff-a): d2f012f4 -> b971bcee (PR #1830)."""
    got = reasons("draft-d2f012f4", "draft-b971bcee")
    expected_markers = {
        "no explicit-port step",  # step 2 appears
        "SNI rule arrived",  # SNI sentence added
        "delegated-with-port Host",  # <delegated_server_name>:<delegated_port>
        "does not say what an invalid well-known",  # invalid -> aborted
        "30x redirects arrived",  # plain HTTPS request which follows 30x redirects
        "only an 'error response' went on to SRV",  # -> "did not result in a 200 response"
    }
    assert len(got) == len(expected_markers), got
    for marker in expected_markers:
        assert sum(marker in why for why in got) == 1, (marker, got)


def test_seed_b_replays_to_its_changes_and_nothing_else() -> None:
    """Seed diff B (docs/spec-history.md#seed-diff-b): 39b71413 -> 6421582b (caching only as
    context)."""
    got = reasons("draft-39b71413", "draft-6421582b")
    assert any("step 1's Host" in w for w in got)
    assert any("step 3.1's Host" in w for w in got)
    assert any("invalid well-known aborted" in w for w in got)
    unexplained = [
        w for w in got if not any(m in w for m in ("step 1's Host", "step 3.1's Host", "aborted"))
    ]
    assert not unexplained, unexplained


def test_releases_without_behaviour_changes_show_none() -> None:
    assert not reasons("draft-6421582b", "r0.1.0")  # a typo fix
    assert not reasons("v1.8", "v1.19")
    assert not reasons("v1.8", "v1.19")
    assert all("port = *DIGIT" in why for why in reasons("r0.1.1", "r0.1.2"))  # grammar only


def test_v1_8_changes_are_all_msc4040() -> None:
    got = reasons("v1.7", "v1.8")
    assert got and all("v1.8" in why for why in got), got


def test_diff_json_shape(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli(["diff", "v1.7", "v1.8", "--format", "json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert rows and all({"id", "step", "old", "new"} <= set(r) for r in rows)
    assert any(r["old"] is None and r["new"]["expect"] for r in rows)  # applies to v1.8 only


def test_unknown_rule_set_is_one_line() -> None:
    with pytest.raises(RuleSetError, match="unknown rule set 'v9'"):
        resolve("v9")
    assert cli(["diff", "v9", "v1.8"]) == 2


def test_ranges() -> None:
    history = registry().history
    assert history[0] == "draft-d2f012f4" and history[-1] == "v1.19"
    assert in_range("v1.7", "..v1.7") and not in_range("v1.8", "..v1.7")
    assert in_range("r0.1.3", "r0.1.0..v1.5") and in_range("v1.19", "v1.8..")
    assert resolve("latest") == "v1.19" == LATEST == registry().latest


def test_rule_sets_are_data_with_parents() -> None:
    reg = registry()
    assert len(reg.history) == 4 + 5 + 19  # the seed drafts, r0.1.0-r0.1.4, v1.1-v1.19
    for older, newer in zip(reg.history, reg.history[1:], strict=False):
        assert reg.rule_sets[newer].parent == older
    assert all(reg.rule_sets[n].date and reg.rule_sets[n].source for n in reg.history)
    drafts = {n for n in reg.history if reg.rule_sets[n].kind == "draft"}
    assert drafts == drafts_read(), "the reference needs a reading of every draft"


def test_selection() -> None:
    reg = registry()
    assert selection("all") == list(reg.history)  # drafts and releases, not proposals
    assert not set(selection("all")) & set(reg.proposals)
    assert selection("proposals") == list(reg.proposals) and reg.proposals
    assert selection("v1.7,v1.8") == ["v1.7", "v1.8"]
    assert selection("latest") == ["v1.19"]
    with pytest.raises(RuleSetError):
        selection("v1.19,nope")


def test_spec_changes_page_is_up_to_date() -> None:
    page = (ROOT / "docs" / "spec-changes.md").read_text(encoding="utf-8")
    assert page == spec_changes_page(load_catalog()), (
        "run: matrix-resolver-conformance spec-changes --output docs/spec-changes.md"
    )


class _LegacyOnly(OlderTextResolver):
    """Follows r0.1.1-v1.7 whatever --spec says: `_matrix._tcp` only."""

    def __init__(self, env: Env) -> None:
        super().__init__(env, reading("r0.1.1"))


def test_legacy_only_resolver_passes_r0_1_1_and_fails_v1_8(catalog, run) -> None:
    failed_old = [
        s.id
        for s in catalog.values()
        if (v := run(s, _LegacyOnly, spec="r0.1.1").verdict) and not v.passed
    ]
    assert not failed_old
    v18 = run(catalog["step4-srv-matrix-fed-on-hostname"], _LegacyOnly, spec="v1.8").verdict
    assert v18 is not None and not v18.passed


def test_regression_check_sorts_failures_by_whether_the_expectation_changed() -> None:
    """--conformance-spec=OLD,NEW: failures under either, split by `diff OLD NEW`."""
    from matrix_resolver_conformance.report import summary

    def result(sid: str, spec: str, outcome: str) -> dict[str, object]:
        return {"id": sid, "spec": spec, "outcome": outcome, "step": "5", "level": "required",
                "failures": []}  # fmt: skip

    changed, unchanged = "step5-legacy-srv-on-hostname", "step4-srv-matrix-fed-on-hostname"
    new = "proposal-no-legacy-srv"
    results = [
        result(changed, new, "failed"),  # given NEW first: OLD is still the parent
        result(changed, "v1.19", "passed"),
        result(unchanged, new, "failed"),
        result(unchanged, "v1.19", "failed"),
    ]
    verdict = summary.regression(results)
    assert verdict is not None and (verdict["old"], verdict["new"]) == ("v1.19", new)
    assert verdict["changed"] == [(new, changed)]
    assert verdict["regressed"] == [(new, unchanged), ("v1.19", unchanged)]
    lines = summary.text_tables(results)
    assert f"regression check v1.19 -> {new}:" in lines
    assert "  regressed on an unchanged expectation: 2 failure(s)" in lines
    assert "#### Regression check v1.19 -> proposal-no-legacy-srv" in summary.markdown(
        results, "x", "v1.19,proposal-no-legacy-srv"
    )
    assert summary.regression(results[:1]) is None  # one rule set: no regression check
    siblings = [result(changed, new, "failed"), result(changed, REDIRECTS_PROPOSAL, "passed")]
    assert summary.regression(siblings) is None  # two proposals side by side


def test_r0_1_1_fixed_the_schema_contradiction_of_r0_1_0() -> None:
    """Replay miss: r0.1.0's schema said a JSON or data failure fails discovery, its section
    said skip to step 4; r0.1.0 accepts either outcome, r0.1.1 (schema fixed) only step 4."""
    rows = diff(load_catalog(), "r0.1.0", "r0.1.1")
    assert rows and all("contradict themselves" in r["why"] for r in rows)
    assert all(r["old"]["expect"].endswith("or_none=True") or "or no request at all" in
               r["old"]["expect"] for r in rows)  # fmt: skip
    ids = {r["id"] for r in rows}
    assert "step3-invalid-json-skips-to-step4" in ids and "step3-500-skips-to-step4" not in ids


class _SchemaOfR010(OlderTextResolver):
    """Follows r0.1.0's schema: an invalid well-known aborts discovery."""

    def __init__(self, env: Env) -> None:
        super().__init__(env, replace(reading("r0.1.0"), invalid_well_known="abort"))


def test_either_outcome_of_r0_1_0(catalog, run) -> None:
    scenario = catalog["step3-invalid-json-skips-to-step4"]
    for factory in (_SchemaOfR010, reference_factory):  # the schema's reading and the section's
        verdict = run(scenario, factory, spec="r0.1.0").verdict
        assert verdict is not None and verdict.passed, factory
    verdict = run(scenario, _SchemaOfR010, spec="r0.1.1").verdict
    assert verdict is not None and not verdict.passed


def _current_text_only(env: Env) -> ReferenceResolver:
    """Follows the current text whatever --spec says: `_matrix-fed._tcp` first."""
    return ReferenceResolver(env)


def test_a_v1_7_resolver_that_queries_matrix_fed_is_caught(catalog, run) -> None:
    """Replay miss: worlds with both SRV services were not applicable before v1.8, though v1.7
    defines their outcome (only `_matrix._tcp` exists)."""
    for sid in ("step5-matrix-fed-wins-over-legacy", "step3.4-matrix-fed-wins-over-legacy",
                "step4-srv-refused-no-request"):  # fmt: skip
        scenario = catalog[sid]
        for spec in ("draft-d2f012f4", "r0.1.0", "v1.7"):
            assert not isinstance(scenario.under(spec), str), (sid, spec)
        caught = run(scenario, _current_text_only, spec="v1.7").verdict
        assert caught is not None and not caught.passed, sid
        ok = run(scenario, reference_factory, spec="v1.7").verdict
        assert ok is not None and ok.passed, sid


def test_d2f012f4_step_4_gate_is_an_error_response(catalog, run) -> None:
    """Replay miss: at d2f012f4 SRV followed only an 'error response', so a 201 carrying a
    delegation is used; from b971bcee any non-200 goes on. The reference reads it so."""
    s201 = catalog["step3-201-skips-to-step4"]
    applied = s201.under("draft-d2f012f4")
    assert not isinstance(applied, str) and applied.expect.sites == ("delegated:8449",)
    assert isinstance(catalog["step3-204-skips-to-step4"].under("draft-d2f012f4"), str)
    for spec in ("draft-d2f012f4", "draft-b971bcee", "v1.19"):
        verdict = run(s201, reference_factory, spec=spec).verdict
        assert verdict is not None and verdict.passed, spec
    wrong = run(s201, _current_text_only, spec="draft-d2f012f4").verdict
    assert wrong is not None and not wrong.passed


def test_b971bcee_fetched_the_well_known_on_port_443_exclusively(catalog, run) -> None:
    """Replay miss: b971bcee still said 'port 443 exclusively' (dropped by 1c30f5eb, first in
    39b71413), which diff draft-b971bcee draft-39b71413 now shows: a redirect to another port."""
    assert any("port 443 exclusively" in w for w in reasons("draft-b971bcee", "draft-39b71413"))
    scenario = catalog["step3-redirect-to-other-port-followed"]
    for spec in ("draft-b971bcee", "draft-39b71413", "v1.19"):
        verdict = run(scenario, reference_factory, spec=spec).verdict
        assert verdict is not None and verdict.passed, spec
    wrong = run(scenario, _current_text_only, spec="draft-b971bcee").verdict
    assert wrong is not None and not wrong.passed


def test_a_shared_run_is_reported_with_each_rule_set_s_own_text(catalog, run) -> None:
    """Rule sets the reference reads alike share one run (README, "several rule sets"); each
    result still carries its own rule set's sentence and level, as its report entry shows."""
    scenario = catalog["step3-invalid-json-skips-to-step4"]
    old, new = scenario.under("r0.1.1"), scenario.under("v1.6")
    assert not isinstance(old, str) and not isinstance(new, str)
    assert old.expect == new.expect and old.sentence != new.sentence
    first, shared = (
        run(scenario, reference_factory, "r0.1.1"),
        run(scenario, reference_factory, "v1.6"),
    )
    assert shared.elapsed == 0.0, "not shared: the test no longer covers a shared run"
    assert entry(first)["sentence"] == old.sentence
    assert entry(shared)["sentence"] == new.sentence and entry(shared)["level"] == new.level
