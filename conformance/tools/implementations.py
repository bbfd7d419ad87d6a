"""docs/implementations.md (and .html): the catalog against real implementations, with every failure
explained.

    matrix-resolver-conformance implementations [--run] [--only synapse,rocketchat]

`--run` runs the suite against each implementation named by `--only` (default: all; one pytest
per implementation, all levels, JSON report into docs/reports/NAME.json); the page is then built
from every report in docs/reports/ (an implementation without one is left out). Each failure is
joined with its investigation in docs/findings.toml (hand-written: is it the implementation's
deviation from the spec, the suite's fault, or the adapter's limit?). A failure without one is
shown as NOT INVESTIGATED and makes the command exit 1. docs/differences.toml compares pairs of
runs of one implementation (Synapse in-process against the whole Synapse process): every
scenario whose outcome differs between the two must be explained there, and every explanation
must still match a difference, or the command exits 1 too. docs/implementations.html is the same
data as one self-contained page (report/html.py): the implementation x scenario matrix, each
result with its investigation and, for reports that have one, the sequence diagram of its trace.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from matrix_resolver_conformance.catalog import LEVELS, STEPS
from matrix_resolver_conformance.catalog.load import read_toml


@dataclass(frozen=True)
class Implementation:
    label: str  # its name on the page
    options: tuple[str, ...]  # the pytest options that select it


IMPLEMENTATIONS = {  # report name (docs/reports/NAME.json) -> what it is, how it is run
    "synapse": Implementation(
        "Synapse (MatrixFederationAgent)", ("--conformance-resolver=synapse",)
    ),
    "synapse-process": Implementation(
        "Synapse (whole process)", ("--conformance-homeserver=synapse",)
    ),
    "rocketchat": Implementation(
        "@rocket.chat/federation-sdk", ("--conformance-resolver=rocketchat",)
    ),
    "appservice-bridge": Implementation(
        "matrix-appservice-bridge (MatrixHostResolver, plan-only)",
        ("--conformance-resolver=appservice-bridge",),
    ),
}
VERDICTS = ("deviation", "suite-fault", "adapter-limitation")
OUTCOME = {"passed": "pass", "failed": "FAIL", "skipped": "skip"}


def label(name: str) -> str:
    known = IMPLEMENTATIONS.get(name)
    return known.label if known else name


def run_reports(names: list[str], reports: Path) -> None:
    unknown = [n for n in names if n not in IMPLEMENTATIONS]
    if unknown:
        raise SystemExit(f"unknown implementation(s) {unknown}: known are {list(IMPLEMENTATIONS)}")
    reports.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as scratch:
        for name in names:
            out = (reports / f"{name}.json").resolve()  # pytest runs in a scratch dir
            cmd = [
                sys.executable,
                "-m",
                "pytest",
                "--pyargs",
                "matrix_resolver_conformance",
                "-q",
                "-n",
                "2",
                "-p",
                "no:cacheprovider",
                *IMPLEMENTATIONS[name].options,
                f"--conformance-report={out}",
            ]
            print(f"running {name} ...", file=sys.stderr, flush=True)
            res = subprocess.run(cmd, cwd=scratch, capture_output=True, text=True, check=False)
            if res.returncode not in (0, 1) or not out.exists():
                tail = "\n".join((res.stdout + res.stderr).strip().splitlines()[-5:])
                raise SystemExit(f"{name}: the suite did not run ({res.returncode}):\n{tail}")


def load_findings(path: Path) -> dict[tuple[str, str], dict[str, str]]:
    if not path.exists():
        return {}
    raw = read_toml(path)
    out = {}
    for item in raw.get("finding", []):
        if item.get("verdict") not in VERDICTS:
            raise SystemExit(f"{path}: {item.get('scenario')}: verdict must be one of {VERDICTS}")
        if item.get("implementation") not in IMPLEMENTATIONS:
            raise SystemExit(
                f"{path}: {item.get('scenario')}: implementation must be one of "
                f"{list(IMPLEMENTATIONS)}"
            )
        key = (item["implementation"], item["scenario"])
        if key in out:
            raise SystemExit(f"{path}: {key[1]}: investigated twice for {key[0]}")
        out[key] = item
    return out


def load_differences(path: Path) -> list[dict[str, Any]]:
    """docs/differences.toml: [[comparison]] tables (left, right: implementation names; title,
    intro), each with its [[comparison.difference]] tables (scenarios; cause, a few words; why;
    real: the one whose outcome is the implementation's real behaviour, or "both")."""
    if not path.exists():
        return []
    comparisons = read_toml(path).get("comparison", [])
    for c in comparisons:
        for side in ("left", "right"):
            if c.get(side) not in IMPLEMENTATIONS:
                raise SystemExit(
                    f"{path}: comparison {side} must be one of {list(IMPLEMENTATIONS)}"
                )
        seen: set[str] = set()
        for d in c.get("difference", []):
            if not d.get("cause") or not d.get("why") or not d.get("scenarios"):
                raise SystemExit(f"{path}: every difference needs scenarios, cause and why")
            if d.get("real") not in (c["left"], c["right"], "both"):
                raise SystemExit(f"{path}: {d.get('scenarios')}: real must be left, right or both")
            twice = seen & set(d["scenarios"])
            if twice:
                raise SystemExit(f"{path}: explained twice: {sorted(twice)}")
            seen |= set(d["scenarios"])
    return comparisons


def compare(
    comparison: dict[str, Any], results: dict[str, dict[str, dict[str, Any]]]
) -> tuple[list[tuple[str, dict[str, Any] | None]], list[str]]:
    """(every scenario whose outcome differs, with its explanation or None), and the scenarios
    explained that do not differ (any more)."""
    left, right = results[comparison["left"]], results[comparison["right"]]
    why = {i: d for d in comparison.get("difference", []) for i in d["scenarios"]}
    differ = sorted(
        i
        for i in set(left) | set(right)
        if left.get(i, {}).get("outcome") != right.get(i, {}).get("outcome")
    )
    stale = sorted(set(why) - set(differ))
    return [(i, why.get(i)) for i in differ], stale


def render(
    reports: dict[str, dict[str, Any]],
    findings: dict[tuple[str, str], dict[str, str]],
    comparisons: list[dict[str, Any]] | None = None,
) -> tuple[str, int]:
    """The page, and the number of failures nobody has investigated (plus differences nobody
    has explained, and explanations of differences that are gone)."""
    names = list(reports)
    results = {n: {r["id"]: r for r in reports[n]["results"]} for n in names}
    lines = [
        "# Real implementations against the catalog",
        "",
        "Generated by `matrix-resolver-conformance implementations --run`; do not edit. Verdicts "
        "on failures come from docs/findings.toml (investigated by hand), the explanations of "
        "differences from docs/differences.toml; raw reports in docs/reports/. Rule set: "
        + ", ".join(sorted({reports[n]["spec"] for n in names}))
        + ".",
        "",
        "| implementation | version | " + " | ".join(LEVELS) + " |",
        "|---|---|" + "---|" * len(LEVELS),
    ]
    for n in names:
        cells = []
        for level in LEVELS:
            rs = [r for r in results[n].values() if r["level"] == level]
            ran = [r for r in rs if r["outcome"] != "skipped"]
            cells.append(f"{sum(r['outcome'] == 'passed' for r in ran)}/{len(ran)}")
        version = reports[n].get("resolver_version") or "?"
        lines.append(f"| {label(n)} | {version} | " + " | ".join(cells) + " |")
    lines += ["", "How each was run (`pytest --pyargs conformance -n 2` and):", ""]
    lines += [f"- {label(n)}: `{' '.join(IMPLEMENTATIONS[n].options)}`" for n in names
              if n in IMPLEMENTATIONS]  # fmt: skip
    missing = 0
    for n in names:
        failed = [r for r in results[n].values() if r["outcome"] == "failed"]
        lines += ["", f"## {label(n)}: {len(failed)} failures", ""]
        if not failed:
            continue
        lines += ["| scenario | level | what it did | verdict |", "|---|---|---|---|"]
        for r in sorted(failed, key=lambda r: (LEVELS.index(r["level"]), r["id"])):
            f = findings.get((n, r["id"]))
            did = (r["problems"][0] if r["problems"] else r["observed"]).replace("|", "\\|")
            if f is None:
                missing += 1
                verdict = "**NOT INVESTIGATED**"
            else:
                verdict = f"**{f['verdict']}**: {f['summary']}".replace("|", "\\|")
            lines.append(f"| `{r['id']}` | {r['level']} | {did} | {verdict} |")
    for c in comparisons or []:
        if c["left"] not in results or c["right"] not in results:
            continue
        section, unexplained = render_comparison(c, results)
        lines += section
        missing += unexplained
    lines += [
        "",
        "## Every scenario",
        "",
        "| step | scenario | level | " + " | ".join(names) + " |",
        "|---|---|---|" + "---|" * len(names),
    ]
    ids = sorted(
        {i for n in names for i in results[n]},
        key=lambda i: (STEPS.index(results[names[0]].get(i, {"step": "1"})["step"]), i),
    )
    for i in ids:
        first = next(results[n][i] for n in names if i in results[n])
        marks = [OUTCOME.get(results[n].get(i, {}).get("outcome", ""), "-") for n in names]
        lines.append(f"| {first['step']} | `{i}` | {first['level']} | " + " | ".join(marks) + " |")
    return "\n".join(lines) + "\n", missing


def render_comparison(
    c: dict[str, Any], results: dict[str, dict[str, dict[str, Any]]]
) -> tuple[list[str], int]:
    """One comparison's section, and how many differences are unexplained or explanations stale."""
    left, right = c["left"], c["right"]
    rows, stale = compare(c, results)
    causes = _causes(rows)
    lines = ["", f"## {c['title']}: {len(rows)} differences", ""]
    if c.get("intro"):
        lines += [" ".join(c["intro"].split()), ""]
    unexplained = 0
    if rows:
        lines += [
            f"| scenario | level | {label(left)} | {label(right)} | cause | real behaviour |",
            "|---|---|---|---|---|---|",
        ]
    for i, d in rows:
        first = results[left].get(i) or results[right][i]
        marks = [OUTCOME.get(results[s].get(i, {}).get("outcome", ""), "-") for s in (left, right)]
        if d is None:
            unexplained += 1
            cause, real = "**NOT EXPLAINED**", "?"
        else:
            cause = f"[{_number(causes, d)}] {d['cause']}".replace("|", "\\|")
            real = _real(d)
        lines.append(f"| `{i}` | {first['level']} | {marks[0]} | {marks[1]} | {cause} | {real} |")
    if causes:
        lines.append("")
    for n, d in enumerate(causes, 1):
        lines.append(
            f"{n}. **{d['cause']}** (real behaviour: {_real(d)}): " + " ".join(d["why"].split())
        )
    if stale:
        unexplained += len(stale)
        lines += ["", "Explained in docs/differences.toml but not different (any more): "
                  + ", ".join(f"`{i}`" for i in stale) + "."]  # fmt: skip
    return lines, unexplained


def _causes(rows: list[tuple[str, dict[str, Any] | None]]) -> list[dict[str, Any]]:
    """The explanations the rows use, in the order of their first use."""
    out: list[dict[str, Any]] = []
    for _, d in rows:
        if d is not None and not any(d is x for x in out):
            out.append(d)
    return out


def _number(causes: list[dict[str, Any]], d: dict[str, Any]) -> int:
    return next(n for n, x in enumerate(causes, 1) if x is d)


def _real(d: dict[str, Any]) -> str:
    return "both" if d["real"] == "both" else label(d["real"])


def render_html(
    reports: dict[str, dict[str, Any]],
    findings: dict[tuple[str, str], dict[str, str]],
    comparisons: list[dict[str, Any]] | None = None,
) -> str:
    """docs/implementations.html: the same reports, findings and comparisons as the Markdown."""
    from matrix_resolver_conformance.report.html import render as render_page

    labels = [label(n) for n in reports]
    notes = {
        (label(impl), scenario): f"{f['verdict']}: {f['summary']}"
        for (impl, scenario), f in findings.items()
        if impl in reports
    }
    results = {n: {r["id"]: r for r in reports[n]["results"]} for n in reports}
    sections = [
        comparison_html(c, results)
        for c in comparisons or []
        if c["left"] in results and c["right"] in results
    ]
    return render_page(
        list(reports.values()),
        title="Real implementations against the catalog",
        labels=labels,
        notes=notes,
        sections=sections,
    )


def comparison_html(c: dict[str, Any], results: dict[str, dict[str, dict[str, Any]]]) -> str:
    from html import escape

    left, right = c["left"], c["right"]
    rows, stale = compare(c, results)
    causes = _causes(rows)
    slug = f"{left}-vs-{right}"
    out = [
        f'<section class="comparison" id="{escape(slug)}">',
        "<style>table.differences th, table.differences td { border-bottom: 1px solid "
        "var(--line); padding: 3px 8px; text-align: left; vertical-align: top; }</style>",
        f"<h2>{escape(c['title'])}: {len(rows)} differences</h2>",
    ]
    if c.get("intro"):
        out.append(f'<p class="hint">{escape(" ".join(c["intro"].split()))}</p>')
    if rows:
        out += [
            '<table class="differences"><thead><tr><th>scenario</th><th>level</th>'
            f"<th>{escape(label(left))}</th><th>{escape(label(right))}</th><th>cause</th>"
            "<th>real behaviour</th></tr></thead><tbody>"
        ]
        for i, d in rows:
            first = results[left].get(i) or results[right][i]
            marks = [
                OUTCOME.get(results[s].get(i, {}).get("outcome", ""), "-") for s in (left, right)
            ]
            if d is None:
                cause, real = "NOT EXPLAINED", "?"
            else:
                n = _number(causes, d)
                cause = f'<a href="#{escape(slug)}-{n}">[{n}]</a> {escape(d["cause"])}'
                real = escape(_real(d))
            out.append(
                f"<tr><td><code>{escape(i)}</code></td><td>{escape(first['level'])}</td>"
                f"<td>{marks[0]}</td><td>{marks[1]}</td><td>{cause if d else escape(cause)}</td>"
                f"<td>{real}</td></tr>"
            )
        out.append("</tbody></table>")
    if causes:
        out.append("<ol>")
        for n, d in enumerate(causes, 1):
            out.append(
                f'<li id="{escape(slug)}-{n}"><b>{escape(d["cause"])}</b> (real behaviour: '
                f"{escape(_real(d))}): {escape(' '.join(d['why'].split()))}</li>"
            )
        out.append("</ol>")
    if stale:
        out.append(
            "<p>Explained in docs/differences.toml but not different (any more): "
            + ", ".join(f"<code>{escape(i)}</code>" for i in stale)
            + ".</p>"
        )
    out.append("</section>")
    return "\n".join(out)


def main(argv: list[str]) -> int:
    import argparse

    parser = argparse.ArgumentParser(prog="matrix-resolver-conformance implementations")
    parser.add_argument("--run", action="store_true", help="run the suite first (minutes)")
    parser.add_argument(
        "--only",
        default=",".join(IMPLEMENTATIONS),
        help=f"the implementations to run (default: all of {','.join(IMPLEMENTATIONS)})",
    )
    parser.add_argument("--docs", default="docs")
    args = parser.parse_args(argv)
    docs = Path(args.docs)
    names = [n for n in args.only.split(",") if n]
    unknown = [n for n in names if n not in IMPLEMENTATIONS]
    if unknown:
        raise SystemExit(f"unknown implementation(s) {unknown}: known are {list(IMPLEMENTATIONS)}")
    if args.run:
        run_reports(names, docs / "reports")
    for n in names:
        if not (docs / "reports" / f"{n}.json").exists():
            raise SystemExit(f"no report {docs / 'reports' / f'{n}.json'}: run with --run")
    reports = {}
    for n in IMPLEMENTATIONS:  # the page: every implementation that has a report
        path = docs / "reports" / f"{n}.json"
        if path.exists():
            reports[n] = json.loads(path.read_text(encoding="utf-8"))
    findings = load_findings(docs / "findings.toml")
    comparisons = load_differences(docs / "differences.toml")
    page, missing = render(reports, findings, comparisons)
    (docs / "implementations.md").write_text(page, encoding="utf-8")
    (docs / "implementations.html").write_text(
        render_html(reports, findings, comparisons), encoding="utf-8"
    )
    implementations = {
        n: {
            "label": label(n),
            "options": list(IMPLEMENTATIONS[n].options),
            "version": reports[n].get("resolver_version"),
            "report": f"reports/{n}.json",  # with each result's trace (left out here)
            "results": [
                {k: v for k, v in r.items() if k != "trace"} for r in reports[n]["results"]
            ],
            "findings": [f for (impl, _), f in findings.items() if impl == n],
        }
        for n in reports
    }
    results = {n: {r["id"]: r for r in reports[n]["results"]} for n in reports}
    differences = [
        {
            "left": c["left"],
            "right": c["right"],
            "scenarios": [
                {
                    "id": i,
                    "cause": d["cause"] if d else None,
                    "why": " ".join(d["why"].split()) if d else None,
                    "real": d["real"] if d else None,
                }
                for i, d in compare(c, results)[0]
            ],
        }
        for c in comparisons
        if c["left"] in results and c["right"] in results
    ]
    summary = {"implementations": implementations, "differences": differences}
    (docs / "implementations.json").write_text(
        json.dumps(summary, indent=1) + "\n", encoding="utf-8"
    )
    print(
        f"wrote {docs / 'implementations.md'}, .html and .json; {missing} failure(s) not "
        "investigated or difference(s) not explained"
    )
    return 1 if missing else 0
