"""`impact NEW_TEXT` on the real history: the verbatim current text changes nothing; the v1.8
section against v1.7 is MSC4040 and reaches every scenario `diff v1.7 v1.8` lists; one edited
step-3.3 Host sentence reaches every scenario asserting a step-3.3 Host.

tests/data/spec/v1.19-section.md is the section verbatim (v1.16 ... v1.19); v1.8-section.md is
it with the later edits undone (docs/spec-history.md: v1.9's step 6, v1.11's "resolved", v1.15's
RFC 8615 reference; the shortcodes as v1.8 wrote them)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from matrix_resolver_conformance.catalog import Scenario, load_catalog
from matrix_resolver_conformance.tools.cli import main as cli
from matrix_resolver_conformance.tools.impact import impact, markdown_report, split_parts
from matrix_resolver_conformance.tools.specdiff import diff

DATA = Path(__file__).resolve().parent / "data" / "spec"
V119 = (DATA / "v1.19-section.md").read_text(encoding="utf-8")
V18 = (DATA / "v1.8-section.md").read_text(encoding="utf-8")
HOST_33 = "a `Host` header containing the `<delegated_hostname>`."
TLS = """Server-server communication must take place over HTTPS.

The destination server must provide a TLS certificate signed by a known
[Certificate Authority](https://en.wikipedia.org/wiki/Certificate_authority).

Servers should respect SNI when making requests where possible: a SNI should be sent for the
certificate which is expected, unless that certificate is expected to be an IP address in which
case SNI is not supported and should not be sent.

Servers are encouraged to make use of the [Certificate
Transparency](https://www.certificate-transparency.org/) project.
"""


def page(section: str, tls: str = TLS) -> str:
    """The section inside a server-server-api.md-like page."""
    return (
        "---\ntitle: Server-Server API\n---\n\n## API standards\n\n### TLS\n\n" + tls
        + "\n## Server discovery\n\n### Resolving server names\n\n" + section
        + "\n### Server implementation\n\nNot part of it.\n"
    )  # fmt: skip


def test_verbatim_current_text_reports_nothing(capsys: pytest.CaptureFixture[str]) -> None:
    for text in (V119, page(V119)):
        report = impact(text, load_catalog())
        assert report["changes"] == [] and report["unreviewed"] == []
        assert report["ruleset"] == "v1.19"
    assert cli(["impact", str(DATA / "v1.19-section.md")]) == 0
    assert "No sentence changes." in capsys.readouterr().out


def test_the_page_and_the_bare_section_split_alike() -> None:
    bare, whole = split_parts(V119), split_parts(page(V119))
    assert whole.pop("tls").startswith("Server-server communication must take place over HTTPS.")
    assert bare == whole
    assert set(bare) == {"intro", "1", "2", "3", "3.1", "3.2", "3.3", "3.4", "3.5", "4", "5",
                         "6", "srv"}  # fmt: skip


MSC4040 = {
    **{f"step3.3/{i}": "added" for i in range(1, 5)},
    "step3.4/1": "changed",  # "... and a _matrix-fed._tcp record was not found"
    **{f"step4/{i}": "added" for i in range(1, 5)},
    "step5/1": "changed",
    "step5/3": "changed",  # PR #1615: "using 8448 as a default port" deleted
    "srv/3": "added",  # the deprecation note
    "srv/7": "added",  # its IANA pointer (informative)
}


def test_v1_8_against_v1_7_is_msc4040_and_reaches_what_diff_lists() -> None:
    catalog = load_catalog()
    report = impact(V18, catalog, base="v1.7")
    assert {c["id"]: c["change"] for c in report["changes"]} == MSC4040
    assert report["ruleset"] == "v1.8"  # its recorded text (spec/texts.toml)
    listed = {row["id"] for row in diff(catalog, "v1.7", "v1.8")}
    assert set(report["overridden"]) == listed
    reached = {d["id"] for c in report["changes"] for d in c["dependents"]}
    assert listed <= reached, (
        f"diff lists scenarios no changed sentence reaches: {listed - reached}"
    )
    overridden = {d["id"] for c in report["changes"] for d in c["dependents"] if d["override"]}
    assert overridden == listed
    # The rest keep their expectation though a sentence they rest on changed (the reworded
    # legacy steps; both SRV services failing alike): texts.toml's [text.reviewed] says why.
    assert report["unreviewed"] == []
    reviewed = {
        d["id"] for c in report["changes"] for d in c["dependents"]
        if d["reviewed"] and not d["override"]
    }  # fmt: skip
    assert reviewed and not reviewed & listed


def _asserts_a_step_3_3_host(s: Scenario) -> bool:
    """Stated without rests_on: a request is expected, with the delegated hostname (no port) as
    Host, after a well-known delegation, in a world with a `_matrix-fed._tcp` record of it."""
    e = s.expect
    if not e.sites or e.host is None or ":" in e.host:
        return False
    bodies = [s.well_known, *(server.well_known for server in s.servers)]
    delegated = False
    for body in bodies:
        try:
            delegated |= body is not None and json.loads(body.body).get("m.server") == e.host
        except (ValueError, AttributeError):
            continue
    return delegated and any(line.startswith(f"_matrix-fed._tcp.{e.host} SRV") for line in s.dns)


def test_an_edited_step_3_3_host_sentence_reaches_every_step_3_3_host(tmp_path: Path) -> None:
    edited = V119.replace(
        "a `Host` header containing the `<delegated_hostname>`. The\n        target server must "
        "present a valid certificate for\n        `<delegated_hostname>`.\n    4.",
        "a `Host` header containing the `<delegated_hostname>` and the SRV port. The\n"
        "        target server must present a valid certificate for\n"
        "        `<delegated_hostname>`.\n    4.",
    )
    assert edited != V119
    catalog = load_catalog()
    report = impact(edited, catalog)
    assert [(c["id"], c["change"]) for c in report["changes"]] == [("step3.3/3", "changed")]
    (change,) = report["changes"]
    assert change["old"].endswith(HOST_33) and "SRV port" in change["new"]
    expected = {s.id for s in catalog if _asserts_a_step_3_3_host(s)}
    got = {d["id"] for d in change["dependents"]}
    assert got == expected, got ^ expected
    assert len(got) >= 18  # the count the issue found by hand
    assert report["ruleset"] is None and set(report["unreviewed"]) == got  # nothing overrides it
    path = tmp_path / "edited.md"
    path.write_text(edited, encoding="utf-8")
    assert cli(["impact", str(path), "--format", "json"]) == 1


def test_an_edited_tls_sentence_reaches_the_sni_scenarios() -> None:
    catalog = load_catalog()
    tls = TLS.replace("should not be sent.", "must not be sent.")
    report = impact(page(V119, tls), catalog)
    assert [(c["id"], c["change"]) for c in report["changes"]] == [("tls/3", "changed")]
    sni = {s.id for s in catalog if isinstance(s.expect.sni, str) or s.expect.sni is not None}
    assert {d["id"] for d in report["changes"][0]["dependents"]} >= sni


def test_markdown_is_postable(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    report = impact(V18, load_catalog(), base="v1.7")
    text = markdown_report(report)
    assert text.startswith("### Resolving server names: impact against `v1.7`")
    assert "**step3.3/1** added (normative)" in text and "(reviewed)" in text
    assert "Every scenario resting on a changed normative sentence" in text
    path = tmp_path / "v1.8.md"
    path.write_text(V18, encoding="utf-8")
    assert cli(["impact", str(path), "--base", "v1.7", "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["base"] == "v1.7"
    assert cli(["impact", str(tmp_path / "missing.md")]) == 2


def test_a_proposal_text_renumbers_and_its_file_answers_every_question() -> None:
    """proposal-no-legacy-srv as a spec editor would write it (3.5 renumbered 3.4, 6 renumbered
    5): impact finds the proposal by its text, the removed and changed sentences, the overridden
    scenarios diff lists, and the rest reviewed in the proposal's [reviewed] table (exit 0)."""
    catalog = load_catalog()
    text = (DATA / "proposal-no-legacy-srv-section.md").read_text(encoding="utf-8")
    report = impact(text, catalog)
    got = {c["id"]: c["change"] for c in report["changes"]}
    removed = [f"step3.4/{i}" for i in range(1, 5)] + [f"step5/{i}" for i in range(1, 5)]
    assert got == {**dict.fromkeys(removed, "removed"), "srv/3": "removed", "srv/7": "removed",
                   "step3.5/1": "changed", "step6/1": "changed"}  # fmt: skip
    assert report["ruleset"] == "proposal-no-legacy-srv"
    assert set(report["overridden"]) == {r["id"] for r in diff(catalog, "v1.19", report["ruleset"])}
    assert report["unreviewed"] == []
    # Without its [reviewed] answers, the same text against the other proposal leaves questions.
    other = impact(text, catalog, ruleset="proposal-well-known-redirects-limited")
    assert other["unreviewed"] and other["overridden"] != report["overridden"]
