"""`matrix-resolver-conformance`: read the catalog without running it.

matrix-resolver-conformance list [--step S] [--sentence ID] [--spec RULESET] [--world-contains TEXT]
                                 [--format text|json]
matrix-resolver-conformance new-proposal NAME [--from v1.19]
matrix-resolver-conformance coverage [--output PATH] [--check]
matrix-resolver-conformance diff OLD NEW [--format json|markdown]
matrix-resolver-conformance spec-changes [--output PATH] [--check]
matrix-resolver-conformance impact NEW_TEXT [--base v1.19] [--ruleset NAME] [--format json|markdown]
matrix-resolver-conformance implementations [--run] [--only NAMES]
matrix-resolver-conformance render REPORT.json [REPORT.json ...] [--output PATH]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from pathlib import Path

from matrix_resolver_conformance import __version__
from matrix_resolver_conformance.catalog import CatalogError, Scenario, load_catalog
from matrix_resolver_conformance.catalog.rulesets import RuleSetError, registry, resolve
from matrix_resolver_conformance.catalog.sentences import load_sentences
from matrix_resolver_conformance.tools import specdiff
from matrix_resolver_conformance.tools.coverage import render_markdown


def _applies_to(scenario: Scenario) -> list[str]:
    """The rule sets `scenario` applies to, runs of the history as ranges ("A..B")."""
    reg = registry()
    out: list[str] = []
    run: list[str] = []
    for name in reg.history:
        if isinstance(scenario.under(name), str):
            if run:
                out.append(run[0] if len(run) == 1 else f"{run[0]}..{run[-1]}")
            run = []
        else:
            run.append(name)
    if run:
        out.append(run[0] if len(run) == 1 else f"{run[0]}..{run[-1]}")
    out += [n for n in reg.proposals if not isinstance(scenario.under(n), str)]
    return out


def _world_text(scenario: Scenario) -> str:
    parts = [scenario.server_name, *scenario.dns, *scenario.dns_servfail, *scenario.dns_silent,
             *(f"{n} {f}" for n, f in scenario.dns_faults)]  # fmt: skip
    if scenario.well_known is not None:
        parts += [scenario.well_known.body, *(f"{k}: {v}" for k, v in scenario.well_known.headers)]
    for server in scenario.servers:
        parts.append(server.label)
        if server.well_known is not None:
            parts += [server.well_known.body, *(v for _, v in server.well_known.headers)]
    return "\n".join(parts)


def _list(args: argparse.Namespace) -> int:
    catalog = load_catalog()
    spec = resolve(args.spec) if args.spec else None
    rows = []
    for s in catalog:
        shown: Scenario | str = s.under(spec) if spec else s
        if isinstance(shown, str):
            continue  # not in that rule set
        if args.step and s.step != args.step:
            continue
        if args.sentence and args.sentence not in (*shown.sentence_ids, *s.rests_on):
            continue
        if args.world_contains and args.world_contains.lower() not in _world_text(s).lower():
            continue
        rows.append(shown)
    if args.format == "json":
        out = [{"id": s.id, "step": s.step, "level": s.level, "sentence": s.sentence,
                "sentence_ids": list(s.sentence_ids), "rests_on": list(s.rests_on),
                "applies_to": _applies_to(s)} for s in rows]  # fmt: skip
        print(json.dumps(out, indent=2))
        return 0
    for s in rows:
        ids = ", ".join(s.sentence_ids) or "-"
        print(f'{s.id}\n    step {s.step} [{s.level}] {ids} "{s.sentence}"')
        print(f"    applies to: {', '.join(_applies_to(s)) or 'none'}")
    print(f"{len(rows)} scenarios" + (f" (of {len(catalog)})" if len(rows) != len(catalog) else ""))
    return 0


def _coverage(args: argparse.Namespace) -> int:
    return _write_page(render_markdown(load_sentences(), load_catalog()), args, "coverage")


def _spec_changes(args: argparse.Namespace) -> int:
    return _write_page(specdiff.spec_changes_page(load_catalog()), args, "spec-changes")


def _diff(args: argparse.Namespace) -> int:
    rows = specdiff.diff(load_catalog(), args.old, args.new)
    if args.format == "json":
        print(json.dumps(rows, indent=2))
    else:
        print(specdiff.markdown(rows, args.old, args.new), end="")
    return 0


def _impact(args: argparse.Namespace) -> int:
    """Exit 1 while a changed normative sentence has dependents without an override."""
    from matrix_resolver_conformance.tools.impact import ImpactError, impact, markdown_report

    path = Path(args.new_text)
    try:
        text = sys.stdin.read() if args.new_text == "-" else path.read_text(encoding="utf-8")
    except OSError as e:
        print(f"matrix-resolver-conformance impact: {e}", file=sys.stderr)
        return 2
    try:
        report = impact(text, load_catalog(), base=args.base, ruleset=args.ruleset)
    except ImpactError as e:
        print(f"matrix-resolver-conformance impact: {e}", file=sys.stderr)
        return 2
    if args.format == "json":
        print(json.dumps(report, indent=2))
    else:
        print(markdown_report(report), end="")
    return 1 if report["unreviewed"] else 0


PROPOSAL_TEMPLATE = """\
# {name}: a proposed change to "Resolving server names", branching from {parent}.
# How to fill this in: fixtures/README.md, "Proposals". Check it with
#   matrix-resolver-conformance diff {parent} {name}
#   matrix-resolver-conformance impact NEW_TEXT --base {parent} --ruleset {name}
#   pytest --pyargs conformance --conformance-spec={parent},{name}

[ruleset]
name = "{name}"
parent = "{parent}"
date = {date}
source = "TODO: the MSC or pull request"
text = "TODO: what the text says, in a few words"
summary = "TODO: one line for docs/spec-changes.md"

# The text: {parent}'s sentences with these changes (ids: spec/current.toml).
# [[sentence]]
# id = "step3/2"
# text = "the sentence as the proposal words it"
#
# [[sentence]]
# id = "step5/1"
# remove = true

# Each scenario whose expectation changes (expect is merged over {parent}'s):
# [[override]]
# scenario = "SCENARIO-ID"
# change = "what the proposal says differently"
# sentence = "the proposal's sentence, quoted"
# sentence_id = "step3/2"
# expect = {{ request = "origin:8448", host = "origin.test" }}
#
# A scenario only this proposal has: [[scenario]], as in the step files.
"""


def _new_proposal(args: argparse.Namespace) -> int:
    """Write fixtures/spec/NAME.toml: the [ruleset] and commented examples of the rest."""
    import datetime

    from matrix_resolver_conformance.catalog import fixtures_dir

    name = args.name
    if not re.fullmatch(r"proposal-[a-z0-9][a-z0-9.-]*", name):
        print("matrix-resolver-conformance new-proposal: the name is proposal-<lower-case words "
              "joined by '-'>", file=sys.stderr)  # fmt: skip
        return 2
    reg = registry()
    parent = reg.resolve(args.parent)
    if name in reg.rule_sets:
        print(f"matrix-resolver-conformance new-proposal: {name} exists", file=sys.stderr)
        return 2
    folder = Path(args.output) if args.output else fixtures_dir() / "spec"
    path = folder / f"{name}.toml"
    if path.exists():
        print(f"matrix-resolver-conformance new-proposal: {path} exists", file=sys.stderr)
        return 2
    text = PROPOSAL_TEMPLATE.format(name=name, parent=parent, date=datetime.date.today())
    path.write_text(text, encoding="utf-8")
    registry(folder.parent, refresh=True)
    print(f"wrote {path}; next: fixtures/README.md, 'Proposals', steps 3 to 5")
    return 0


def _write_page(text: str, args: argparse.Namespace, command: str) -> int:
    if args.check:
        out = Path(args.output)
        current = out.read_text(encoding="utf-8") if out.exists() else ""
        if current != text:
            print(
                f"{args.output} is out of date: run matrix-resolver-conformance {command} "
                f"--output {args.output}",
                file=sys.stderr,
            )
            return 1
        return 0
    _emit(text, args.output, "")
    return 0


def _emit(text: str, output: str, detail: str) -> None:
    """`text` to standard output (`-`) or to the file `output`, saying so."""
    if output == "-":
        sys.stdout.write(text)
    else:
        Path(output).write_text(text, encoding="utf-8")
        print(f"wrote {output}{detail}")


def _render(args: argparse.Namespace) -> int:
    """JSON reports -> one self-contained HTML page (one matrix column per report)."""
    from matrix_resolver_conformance.report.html import ReportError, load, render

    try:
        reports = [load(path) for path in args.reports]
        page = render(reports, title=args.title, labels=args.label or None)
    except ReportError as e:
        print(f"matrix-resolver-conformance render: {e}", file=sys.stderr)
        return 2
    _emit(page, args.output, f" ({len(page.encode()) // 1024} KiB, {len(reports)} report(s))")
    return 0


def main(argv: list[str] | None = None) -> int:
    try:
        return _main(sys.argv[1:] if argv is None else argv)
    except BrokenPipeError:  # `... | head`: the reader has what it wanted
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())  # no second error when Python flushes at exit
        return 0


def _main(argv: list[str]) -> int:
    if argv[:1] == ["implementations"]:  # its own options (it runs the suite)
        from matrix_resolver_conformance.tools.implementations import main as implementations

        return implementations(argv[1:])
    parser = argparse.ArgumentParser(
        prog="matrix-resolver-conformance",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--version", action="version", version=f"matrix-resolver-conformance {__version__}"
    )
    sub = parser.add_subparsers(dest="command", required=True)
    p_list = sub.add_parser("list", help="every scenario with its step, level and spec sentence")
    p_list.add_argument("--format", choices=("text", "json"), default="text")
    p_list.add_argument("--step", help="only this step (1 ... 6, 3.1 ... 3.5, tls, grammar)")
    p_list.add_argument(
        "--sentence", metavar="ID", help="only scenarios citing or resting on this sentence id"
    )
    p_list.add_argument(
        "--spec", metavar="RULESET", help="only scenarios of this rule set, as it has them"
    )
    p_list.add_argument(
        "--world-contains", metavar="TEXT", help="only worlds (DNS, bodies, sites) with TEXT"
    )
    p_list.set_defaults(run=_list)
    p_cov = sub.add_parser("coverage", help="spec sentence -> scenarios (docs/coverage.md)")
    p_cov.add_argument("--output", default="docs/coverage.md", help="file, or - for stdout")
    p_cov.add_argument("--check", action="store_true", help="fail if --output is out of date")
    p_cov.set_defaults(run=_coverage)
    p_diff = sub.add_parser("diff", help="scenarios whose expectation differs between rule sets")
    p_diff.add_argument("old")
    p_diff.add_argument("new")
    p_diff.add_argument("--format", choices=("json", "markdown"), default="markdown")
    p_diff.set_defaults(run=_diff)
    p_sc = sub.add_parser("spec-changes", help="every consecutive rule-set pair (docs page)")
    p_sc.add_argument("--output", default="docs/spec-changes.md", help="file, or - for stdout")
    p_sc.add_argument("--check", action="store_true", help="fail if --output is out of date")
    p_sc.set_defaults(run=_spec_changes)
    p_imp = sub.add_parser(
        "impact", help="sentences a new text of the section changes, and the scenarios on them"
    )
    p_imp.add_argument(
        "new_text", metavar="NEW_TEXT", help="content/server-server-api.md or the section, or -"
    )
    p_imp.add_argument(
        "--base", default="latest", help="the text to compare with (default: latest)"
    )
    p_imp.add_argument(
        "--ruleset",
        help="the rule set (proposal) that stands for NEW_TEXT (default: the one whose recorded "
        "text it is, if any)",
    )
    p_imp.add_argument("--format", choices=("json", "markdown"), default="markdown")
    p_imp.set_defaults(run=_impact)
    p_new = sub.add_parser("new-proposal", help="scaffold fixtures/spec/NAME.toml for a proposal")
    p_new.add_argument("name", metavar="NAME", help="proposal-<what-it-does>")
    p_new.add_argument("--from", dest="parent", default="latest", help="its parent (v1.19)")
    p_new.add_argument("--output", help="the folder (default: the fixtures' spec/)")
    p_new.set_defaults(run=_new_proposal)
    sub.add_parser("implementations", help="run real implementations, write the results page")
    p_render = sub.add_parser(
        "render", help="JSON report(s) -> one self-contained HTML page (docs/report-format.md)"
    )
    p_render.add_argument("reports", nargs="+", metavar="REPORT.json")
    p_render.add_argument("--output", default="report.html", help="file, or - for stdout")
    p_render.add_argument("--title", help="the page's title (default: the implementations)")
    p_render.add_argument(
        "--label",
        action="append",
        help="a column's name, once per report in order (default: each report's resolver)",
    )
    p_render.set_defaults(run=_render)
    args = parser.parse_args(argv)
    try:
        return args.run(args)
    except (CatalogError, RuleSetError) as e:
        print(f"matrix-resolver-conformance: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
