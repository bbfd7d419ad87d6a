"""Proposals as data (issue 13): a proposal is one file, branches from its parent without seeing
another proposal's changes, `diff` lists exactly what it changes, and a run under it fails the
reference exactly there. One test follows fixtures/README.md's steps on a throwaway proposal."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from matrix_resolver_conformance.catalog import Scenario, load_catalog
from matrix_resolver_conformance.catalog.files import FIXTURES_ENV
from matrix_resolver_conformance.catalog.rulesets import RuleSetError, in_range, registry
from matrix_resolver_conformance.env import Env
from matrix_resolver_conformance.reference import factory as reference
from matrix_resolver_conformance.reference.older_texts import reading
from matrix_resolver_conformance.reference.resolver import SRV_SERVICES, ReferenceResolver
from matrix_resolver_conformance.tools.cli import main as cli
from matrix_resolver_conformance.tools.specdiff import diff

ROOT = Path(__file__).resolve().parents[1]
NO_LEGACY = "proposal-no-legacy-srv"
REDIRECTS = "proposal-well-known-redirects-limited"

# Worlds with a `_matrix._tcp` record or fault in which the proposal changes nothing, and why:
# a v1.19 resolver never reaches the legacy step there.
UNCHANGED_LEGACY_WORLDS = {
    "step2-explicit-port-ignores-legacy-srv": "step 2 uses no SRV at all",
    "step2-explicit-port-srv-servfail-irrelevant": "step 2 uses no SRV at all",
    "step2-explicit-port-nodata-no-srv-fallback": "step 2 uses no SRV at all",
    "step3.2-delegated-port-srv-servfail-irrelevant": "step 3.2 uses no SRV at all",
    "step3.3-srv-servfail-no-request": "a failing `_matrix-fed._tcp` lookup stops discovery",
    "step3.4-matrix-fed-wins-over-legacy": "`_matrix-fed._tcp` answers",
    "step3.4-matrix-fed-wins-over-legacy-mirrored": "`_matrix-fed._tcp` answers",
    "step3.4-legacy-not-queried-when-matrix-fed-found": "`_matrix-fed._tcp` answers",
    "step3.4-legacy-not-queried-when-matrix-fed-found-mirrored": "`_matrix-fed._tcp` answers",
    "step3.4-matrix-fed-dot-target-stops-legacy": "`_matrix-fed._tcp` says: no service",
    "step3.4-matrix-fed-unreachable-no-legacy": "`_matrix-fed._tcp` answers",
    "step3.5-srv-nodata-falls-back-to-8448": "no legacy record either: :8448 both ways",
    "step4-srv-timeout-no-request": "a failing `_matrix-fed._tcp` lookup stops discovery",
    "step4-srv-notimp-falls-through-or-no-request": "either outcome both ways",
    "step4-srv-refused-no-request": "a failing `_matrix-fed._tcp` lookup stops discovery",
    "step4-srv-formerr-no-request": "a failing `_matrix-fed._tcp` lookup stops discovery",
    "step4-srv-truncated-no-request": "a failing `_matrix-fed._tcp` lookup stops discovery",
    "step4-srv-wrong-question-no-request": "a failing `_matrix-fed._tcp` lookup stops discovery",
    "step5-matrix-fed-wins-over-legacy": "`_matrix-fed._tcp` answers",
    "step5-matrix-fed-wins-over-legacy-mirrored": "`_matrix-fed._tcp` answers",
    "step5-legacy-not-queried-when-matrix-fed-found": "`_matrix-fed._tcp` answers",
    "step5-legacy-not-queried-when-matrix-fed-found-mirrored": "`_matrix-fed._tcp` answers",
    "step5-matrix-fed-servfail-no-legacy": "a failing `_matrix-fed._tcp` lookup stops discovery",
    "step5-matrix-fed-dot-target-no-legacy": "`_matrix-fed._tcp` says: no service",
    "step5-matrix-fed-unreachable-no-legacy": "`_matrix-fed._tcp` answers",
    "step6-srv-nodata-falls-back-to-8448": "no legacy record either: :8448 both ways",
}


def _legacy_world(s: Scenario) -> bool:
    names = [*s.dns, *s.dns_servfail, *s.dns_silent, *(entry for entry, _ in s.dns_faults)]
    return any(n.startswith("_matrix._tcp.") for n in names)


def changed(old: str, new: str) -> set[str]:
    return {row["id"] for row in diff(load_catalog(), old, new)}


def test_no_legacy_srv_changes_exactly_the_worlds_that_reach_the_legacy_step() -> None:
    catalog = load_catalog()
    legacy = {s.id for s in catalog if _legacy_world(s)}
    got = changed("v1.19", NO_LEGACY)
    assert got <= legacy, f"changed without a legacy record: {got - legacy}"
    assert got == legacy - set(UNCHANGED_LEGACY_WORLDS), legacy - set(UNCHANGED_LEGACY_WORLDS) ^ got
    assert set(UNCHANGED_LEGACY_WORLDS) <= legacy  # the list names real legacy worlds
    assert len(got) == 40


def test_proposals_never_leak_into_each_other() -> None:
    catalog = load_catalog()
    ours = {NO_LEGACY: changed("v1.19", NO_LEGACY), REDIRECTS: changed("v1.19", REDIRECTS)}
    assert ours[REDIRECTS] == {
        "step3-redirect-chain-of-five-followed",
        "step3-redirect-loop-ends-and-skips-to-step4",
        "step3-redirect-chain-of-four-not-followed",  # the proposal's own scenario
    }
    assert not ours[NO_LEGACY] & ours[REDIRECTS]
    for s in catalog:
        for name, touched in ours.items():
            if s.id not in touched:  # everything else exactly as the parent has it
                assert s.under(name) == s.under("v1.19"), (name, s.id)
    assert not in_range(NO_LEGACY, "v1.8..") and not in_range(NO_LEGACY, REDIRECTS)
    with pytest.raises(RuleSetError, match="cannot end a range"):
        in_range("v1.8", f"v1.8..{NO_LEGACY}")


def test_the_reference_knows_no_proposal() -> None:
    for name in registry().proposals:
        assert reading(name) == reading(registry().get(name).parent)


class _NoLegacy(ReferenceResolver):
    """Implements proposal-no-legacy-srv: `_matrix-fed._tcp` only (test code, not the reference)."""

    def _srv_services(self, steps: tuple[str, str, str]) -> list[tuple[str, str]]:
        return [(steps[0], SRV_SERVICES[0])]


def _no_legacy(env: Env) -> ReferenceResolver:
    return _NoLegacy(env)


def test_reference_fails_exactly_what_no_legacy_srv_changes(catalog, run) -> None:
    """Every changed scenario fails the reference (a v1.19 implementation) under the proposal
    and passes one that implements it. The others have v1.19's expectation (the test above) and
    the reference reads the proposal as v1.19, so they pass as under v1.19."""
    ids = sorted(changed("v1.19", NO_LEGACY))
    verdicts = {sid: run(catalog[sid], reference, spec=NO_LEGACY).verdict for sid in ids}
    passed = [sid for sid, v in verdicts.items() if v is None or v.passed]
    assert not passed, f"the reference passes changed scenarios: {passed}"
    implementing = {sid: run(catalog[sid], _no_legacy, spec=NO_LEGACY).verdict for sid in ids}
    failed = [sid for sid, v in implementing.items() if v is None or not v.passed]
    assert not failed, f"a resolver implementing the proposal fails: {failed}"
    for sid in UNCHANGED_LEGACY_WORLDS:  # and both pass where nothing changed
        for factory in (reference, _no_legacy):
            v = run(catalog[sid], factory, spec=NO_LEGACY).verdict
            assert v is not None and v.passed, (sid, factory)


def test_redirect_limit_fails_the_reference_only_where_it_follows_too_far(catalog, run) -> None:
    chain = run(catalog["step3-redirect-chain-of-five-followed"], reference, spec=REDIRECTS)
    assert chain.verdict is not None and not chain.verdict.passed
    # The reference already ends a loop within four requests: a changed expectation it meets.
    loop = run(catalog["step3-redirect-loop-ends-and-skips-to-step4"], reference, spec=REDIRECTS)
    assert loop.verdict is not None and loop.verdict.passed
    # The proposal's own scenario: the reference follows the fourth redirect, so it fails;
    # under v1.19 the scenario does not apply.
    four = catalog["step3-redirect-chain-of-four-not-followed"]
    assert isinstance(four.under("v1.19"), str) and isinstance(four.under(NO_LEGACY), str)
    verdict = run(four, reference, spec=REDIRECTS).verdict
    assert verdict is not None and not verdict.passed


def _readme_block(after: str) -> str:
    """The first ```toml block of fixtures/README.md after the line containing `after`."""
    text = (ROOT / "fixtures" / "README.md").read_text(encoding="utf-8")
    rest = text[text.index(after) :]
    block = re.search(r"```toml\n(.*?)```", rest, re.S)
    assert block, after
    return "\n".join(line.strip() for line in block.group(1).splitlines()) + "\n"


def test_a_throwaway_proposal_by_the_readme(tmp_path: Path, monkeypatch) -> None:
    """fixtures/README.md "Proposals", step by step, in a copy of fixtures/."""
    copy = tmp_path / "fixtures"
    shutil.copytree(ROOT / "fixtures", copy)
    name = "proposal-throwaway"
    # steps 1-2: the file, named after the rule set, with the README's [ruleset]
    ruleset = _readme_block("2. Create").replace(NO_LEGACY, name)
    # step 4: the README's [[override]]
    override = _readme_block("4. For each scenario")
    (copy / "spec" / f"{name}.toml").write_text(ruleset + "\n" + override, encoding="utf-8")
    env = {**os.environ, FIXTURES_ENV: str(copy)}
    # step 5: diff lists exactly the overridden scenario
    out = subprocess.run(
        [sys.executable, "-m", "matrix_resolver_conformance.tools.cli", "diff", "v1.19", name,
         "--format", "json"],
        env=env, capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    assert [r["id"] for r in json.loads(out)] == ["step5-legacy-srv-on-hostname"]
    # ... and a run under it fails the reference exactly there
    report = tmp_path / "report.json"
    subprocess.run(
        [sys.executable, "-m", "pytest", "--pyargs", "conformance", "-q", "-p",
         "no:cacheprovider", f"--conformance-spec={name}", f"--conformance-report={report}",
         "-k", "step5-legacy-srv-on-hostname or step5-legacy-target-aaaa-only"],
        env=env, capture_output=True, text=True, cwd=tmp_path,
    )  # fmt: skip
    results = {r["id"]: r["outcome"] for r in json.loads(report.read_text())["results"]}
    assert results["step5-legacy-srv-on-hostname"] == "failed", results
    others = {k: v for k, v in results.items() if k != "step5-legacy-srv-on-hostname"}
    assert others and set(others.values()) == {"passed"}, results
    # the checkout's own catalog never saw it
    monkeypatch.delenv(FIXTURES_ENV, raising=False)
    assert name not in registry().rule_sets


def test_new_proposal_scaffold_loads_and_changes_nothing(tmp_path: Path, monkeypatch) -> None:
    copy = tmp_path / "fixtures"
    shutil.copytree(ROOT / "fixtures", copy)
    monkeypatch.setenv(FIXTURES_ENV, str(copy))
    assert cli(["new-proposal", "proposal-scaffolded", "--from", "v1.19"]) == 0
    path = copy / "spec" / "proposal-scaffolded.toml"
    assert path.exists() and registry().get("proposal-scaffolded").parent == "v1.19"
    assert changed("v1.19", "proposal-scaffolded") == set()
    assert cli(["new-proposal", "proposal-scaffolded"]) == 2  # exists
    assert cli(["new-proposal", "no-prefix"]) == 2
    # An override may change a scenario's level in that text (and only there).
    sid = "step3-redirect-chain-of-five-followed"
    path.write_text(
        path.read_text(encoding="utf-8")
        + f'\n[[override]]\nscenario = "{sid}"\nchange = "a limit of five is required"\n'
        'level = "required"\nexpect = { well_known_max = 6 }\n',
        encoding="utf-8",
    )
    scenario = {s.id: s for s in load_catalog()}[sid]
    applied = scenario.under("proposal-scaffolded")
    assert not isinstance(applied, str) and applied.level == "required"
    other = scenario.under(REDIRECTS)
    assert scenario.level == "robustness" and not isinstance(other, str)
    assert other.level == "robustness"


def test_list_filters_and_columns(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli(["list", "--step", "3.3", "--sentence", "step3.3/3", "--format", "json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert rows and all(r["step"] == "3.3" and "step3.3/3" in r["rests_on"] for r in rows)
    assert all(r["applies_to"] for r in rows)
    assert (
        cli(["list", "--spec", REDIRECTS, "--world-contains", "wk4.test", "--format", "json"]) == 0
    )
    ids = {r["id"] for r in json.loads(capsys.readouterr().out)}
    assert ids == {
        "step3-redirect-chain-of-five-followed",
        "step3-redirect-chain-of-four-not-followed",
    }
    assert cli(["list", "--spec", "v1.19", "--world-contains", "wk4.test"]) == 0
    out = capsys.readouterr().out
    assert "chain-of-four" not in out and "applies to: draft-b971bcee..v1.19" in out


def test_junit_shows_the_rule_set_s_own_sentence(tmp_path: Path) -> None:
    """Under a proposal, a scenario's JUnit properties carry the proposal's sentence and level
    (its override's), not the current text's."""
    import xml.etree.ElementTree as ET

    scenario = "step3.4-legacy-srv-on-delegated-name"
    base = next(s for s in load_catalog() if s.id == scenario)
    applied = base.under(NO_LEGACY)
    assert isinstance(applied, Scenario) and applied.sentence != base.sentence
    junit = tmp_path / "junit.xml"
    subprocess.run(
        [sys.executable, "-m", "pytest", "--pyargs", "conformance", "-q", "-p",
         "no:cacheprovider", f"--conformance-spec={NO_LEGACY}", f"--junitxml={junit}",
         "-k", scenario],
        capture_output=True, text=True, cwd=tmp_path, check=False,
    )  # fmt: skip
    cases = [c for c in ET.parse(junit).iter("testcase") if scenario in c.get("name", "")]
    assert len(cases) == 1, ET.tostring(ET.parse(junit).getroot())[:2000]
    props = {p.get("name"): p.get("value") for p in cases[0].iter("property")}
    assert props["spec"] == NO_LEGACY
    assert props["sentence"] == applied.sentence
    assert props["level"] == applied.level
