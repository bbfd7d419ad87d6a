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
The pages themselves are drawn by implementation_pages.py.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

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


def label(name: str) -> str:
    known = IMPLEMENTATIONS.get(name)
    return known.label if known else name


def run_reports(names: list[str], reports: Path) -> None:
    """One pytest per implementation (names checked by main()), its report into `reports`."""
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
    from matrix_resolver_conformance.tools.implementation_pages import render, render_html

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
