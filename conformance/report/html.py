"""The HTML report: one self-contained page from one or more JSON reports (docs/report-format.md).

    from matrix_resolver_conformance.report.html import render
    page = render([json.load(open("synapse.json")), json.load(open("dendrite.json"))])

The page has no external asset (inline CSS and script, no fonts, no network). What can be counted
is static HTML, written here: the step x level grid of each report, the implementation x scenario
matrix (one column per report) with links. What is long is embedded once as JSON and drawn by the
page's script only when a scenario is opened: its verdict, the rules it broke and the sequence
diagram of its trace (planned by report/sequence.py). Reports of the first format (no trace, no
per-rule failures) render too: their scenarios say "no trace recorded". The data (reports
loaded, rows, results as the script reads them) is report/html_data.py's.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from html import escape
from typing import Any

from matrix_resolver_conformance import __version__
from matrix_resolver_conformance.catalog.model import LEVELS, STEPS
from matrix_resolver_conformance.report import html_assets
from matrix_resolver_conformance.report.html_data import (
    LETTER,
    ReportError,
    column_entry,
    column_labels,
    embed_json,
    letter,
    load,
    ordered,
    result_entry,
    row_key,
    scenario_rows,
    tally,
)

__all__ = ["ReportError", "embed_json", "letter", "load", "render", "tally"]

SUPPORTED_FORMAT = 2  # the newest report format this renderer knows (report/json_report.py)
OUTCOMES = ("passed", "failed", "skipped")
SYMBOL = {"p": "✓", "f": "✗", "s": "–", "u": "⊘", "-": "·"}
WORD = {"p": "passed", "f": "failed", "s": "skipped", "u": "not run here", "-": "not in report"}


def render(
    reports: Sequence[Mapping[str, Any]],
    *,
    title: str | None = None,
    labels: Sequence[str] | None = None,
    notes: Mapping[tuple[str, str], str] | None = None,
    sections: Sequence[str] = (),
) -> str:
    """One self-contained HTML page for these reports (one matrix column each).

    `labels`: the column names (default: each report's resolver, made unique).
    `notes`: (label, scenario id) -> a remark shown with that result (e.g. the verdict of an
    investigation); when given, a failure without one is marked "not investigated".
    `sections`: ready HTML `<section>`s placed between the summary and the scenarios (the
    caller escapes their text).
    """
    if not reports:
        raise ReportError("no report to render")
    names = list(labels) if labels is not None else column_labels(reports)
    if len(names) != len(reports):
        raise ReportError(f"{len(reports)} reports but {len(names)} labels")
    # a row per scenario; per scenario and rule set when a report judged one by several
    per_spec = any(len({r["id"] for r in rep["results"]}) < len(rep["results"]) for rep in reports)
    keys, rows = scenario_rows(reports, per_spec)
    by_key = [{row_key(r, per_spec): r for r in rep["results"]} for rep in reports]
    results = [[result_entry(by_key[i].get(k), names[i], k, notes) for i in range(len(reports))]
               for k in keys]  # fmt: skip
    letters = ["".join(letter(by_key[i].get(k)) for i in range(len(reports))) for k in keys]
    data = {
        "impls": [column_entry(rep, name) for rep, name in zip(reports, names, strict=True)],
        "rows": rows,
        "res": results,
        "investigated": notes is not None,
    }
    title = title or "Server-name resolution conformance: " + ", ".join(names)
    steps = ordered({r["step"] for r in rows}, STEPS)
    levels = ordered({r["level"] for r in rows}, LEVELS)
    tallies = [tally(rep) for rep in reports]
    body = [
        f"<header><h1>{escape(title)}</h1>",
        _intro(reports, names, tallies, levels),
        "</header>",
        '<section id="summary"><h2>Summary: step × level</h2>',
        '<p class="hint">Each cell: passed, failed, skipped. Click a cell or a number to list '
        "those scenarios.</p>",
        '<div class="grids">',
        *(_grid(i, names[i], tallies[i], steps, levels) for i in range(len(reports))),
        "</div></section>",
        *sections,
        '<section id="scenarios"><h2>Scenarios</h2>',
        _filters(names, steps, levels),
        _matrix(names, rows, letters, steps, per_spec),
        "</section>",
        html_assets.DIALOG,
        '<script type="application/json" id="report-data">',
        embed_json(data),
        "</script>",
        f"<script>{html_assets.SCRIPT}</script>",
    ]
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f'<meta name="generator" content="matrix-resolver-conformance {escape(__version__)}">'
        '<link rel="icon" href="data:,">'  # no favicon request
        f"<title>{escape(title)}</title><style>{html_assets.STYLE}</style></head>\n<body>\n"
        + "\n".join(body)
        + "\n</body></html>\n"
    )


# -- the static part -----------------------------------------------------------------------------


def _counts(c: Counter[str]) -> str:
    """The three numbers of a grid cell, each a link to those scenarios."""
    return "".join(
        f'<b class="n {LETTER[o]}{"" if c[o] else " zero"}" data-outcome="{o}" '
        f'title="{c[o]} {o}">{c[o]}</b>'
        for o in OUTCOMES
    )


def _tone(c: Counter[str]) -> str:
    if c["failed"]:
        return "f"
    if c["passed"]:
        return "p"
    return "s" if c["skipped"] else "empty"


def _intro(
    reports: Sequence[Mapping[str, Any]],
    names: list[str],
    tallies: list[dict[tuple[str, str], Counter[str]]],
    levels: list[str],
) -> str:
    head = "".join(f"<th>{escape(lv)}</th>" for lv in levels)
    out = [
        '<table class="impls"><thead><tr><th>implementation</th><th>version</th>'
        f"<th>rule set</th>{head}<th>failed</th><th>skipped</th><th>report</th></tr></thead><tbody>"
    ]
    for i, (rep, name) in enumerate(zip(reports, names, strict=True)):
        cells = []
        for lv in levels:
            c = tallies[i].get(("", lv), Counter())
            ran = c["passed"] + c["failed"]
            cells.append(f'<td class="lv {_tone(c)}" data-level="{escape(lv)}" '
                         f'data-passed="{c["passed"]}" data-ran="{ran}">'
                         f'{c["passed"]}/{ran}</td>')  # fmt: skip
        total = tallies[i].get(("", ""), Counter())
        fmt = rep.get("format", 1)
        about = f"format {fmt}"
        if rep.get("suite_version"):
            about += f", suite {rep['suite_version']}"
        if rep.get("catalog_hash"):
            about += f", catalog {rep['catalog_hash']}"
        out.append(
            f'<tr data-impl="{i}"><th>{escape(name)}</th>'
            f"<td>{escape(str(rep.get('resolver_version') or '?'))}</td>"
            f"<td>{escape(str(rep.get('spec') or '?'))}</td>{''.join(cells)}"
            f'<td class="total-failed">{total["failed"]}</td>'
            f'<td class="total-skipped">{total["skipped"]}</td>'
            f'<td class="about">{escape(about)}</td></tr>'
        )
    out.append("</tbody></table>")
    out.append('<p class="hint">Levels: passed/ran (skipped scenarios did not run).</p>')
    notices = []
    newer = [
        n
        for rep, n in zip(reports, names, strict=True)
        if int(rep.get("format", 1)) > SUPPORTED_FORMAT
    ]
    if newer:
        notices.append(f"{', '.join(newer)}: report format newer than this renderer "
                       f"({SUPPORTED_FORMAT}); unknown fields are not shown.")  # fmt: skip
    hashes = {rep.get("catalog_hash") for rep in reports if rep.get("catalog_hash")}
    if len(hashes) > 1:
        notices.append("The reports come from different catalogs (catalog hashes "
                       f"{', '.join(sorted(str(h) for h in hashes))}): a scenario may not "
                       "mean the same in every column.")  # fmt: skip
    old = [n for rep, n in zip(reports, names, strict=True) if int(rep.get("format", 1)) < 2]
    if old:
        notices.append(f"{', '.join(old)}: format 1 report (no trace, no per-rule failures).")
    out += [f'<p class="notice">{escape(n)}</p>' for n in notices]
    return "\n".join(out)


def _grid(
    i: int,
    name: str,
    t: dict[tuple[str, str], Counter[str]],
    steps: list[str],
    levels: list[str],
) -> str:
    head = "".join(f"<th>{escape(lv)}</th>" for lv in levels)
    out = [
        f'<table class="grid" data-impl="{i}"><caption>{escape(name)}</caption>'
        f"<thead><tr><th>step</th>{head}<th>all</th></tr></thead><tbody>"
    ]
    for step in [*steps, ""]:
        cells = []
        for lv in [*levels, ""]:
            c = t.get((step, lv))
            if c is None:
                cells.append('<td class="cell empty"></td>')
                continue
            cells.append(
                f'<td class="cell {_tone(c)}" data-impl="{i}" data-step="{escape(step)}" '
                f'data-level="{escape(lv)}">{_counts(c)}</td>'
            )
        label = escape(step_label(step)) if step else "all steps"
        tr = ' class="all"' if not step else ""
        out.append(f"<tr{tr}><th>{label}</th>{''.join(cells)}</tr>")
    out.append("</tbody></table>")
    return "".join(out)


def step_label(step: str) -> str:
    return f"step {step}" if step[:1].isdigit() else step


def _filters(names: list[str], steps: list[str], levels: list[str]) -> str:
    def options(values: list[tuple[str, str]]) -> str:
        return "".join(f'<option value="{escape(v)}">{escape(t)}</option>' for v, t in values)

    outcomes = [("", "any outcome"), ("f", "failed"), ("p", "passed"), ("s", "skipped"),
                ("u", "not run here")]  # fmt: skip
    if len(names) > 1:
        outcomes.append(("d", "differs between implementations"))
    impl = ""
    if len(names) > 1:
        impl = (
            '<label>in <select id="f-impl">'
            + options([("", "any implementation")] + [(str(i), n) for i, n in enumerate(names)])
            + "</select></label>"
        )
    return (
        '<form class="filters" id="filters" onsubmit="return false">'
        '<label>step <select id="f-step">'
        + options([("", "every step")] + [(s, step_label(s)) for s in steps])
        + '</select></label><label>level <select id="f-level">'
        + options([("", "every level")] + [(lv, lv) for lv in levels])
        + '</select></label><label>outcome <select id="f-outcome">'
        + options(outcomes)
        + "</select></label>"
        + impl
        + '<label>text <input id="f-text" type="search" placeholder="id or sentence"></label>'
        '<button type="button" id="f-reset">reset</button>'
        '<span id="f-count" aria-live="polite"></span></form>'
    )


def _matrix(
    names: list[str],
    rows: list[dict[str, Any]],
    letters: list[str],
    steps: list[str],
    several_specs: bool,
) -> str:
    ncols = len(names) + 3
    head = "".join(f'<th class="impl" title="{escape(n)}"><span>{escape(n)}</span></th>'
                   for n in names)  # fmt: skip
    # a fixed layout: the browser sizes the columns once, not from 400 rows
    widest = max((len(r["id"]) + (len(r["spec"]) + 1 if several_specs else 0) for r in rows),
                 default=10)  # fmt: skip
    cols = (f'<colgroup><col style="width: {widest + 3}ch"><col style="width: 7.5em">'
            + '<col style="width: 2.4em">' * len(names) + "<col></colgroup>")  # fmt: skip
    out = [
        f'<table id="matrix">{cols}<thead><tr><th>scenario</th><th>level</th>'
        f"{head}<th>sentence</th></tr></thead>"
    ]
    by_step: dict[str, list[int]] = {}
    for k, r in enumerate(rows):
        by_step.setdefault(r["step"], []).append(k)
    for step in steps:
        ks = by_step.get(step, [])
        out.append(
            f'<tbody data-step="{escape(step)}"><tr class="grp"><th colspan="{ncols}">'
            f"{escape(step_label(step))} <small>{len(ks)} scenario(s)</small></th></tr>"
        )
        for k in ks:
            r, o = rows[k], letters[k]
            first = next((i for i, ch in enumerate(o) if ch == "f"), 0)
            spec = f' <small class="spec">{escape(r["spec"])}</small>' if several_specs else ""
            cells = "".join(
                f'<td class="o {ch}"><a href="#d={k}.{i}" title="{escape(names[i])}: '
                f'{WORD[ch]}">{SYMBOL[ch]}</a></td>'
                if ch != "-" else f'<td class="o none" title="{escape(names[i])}: {WORD[ch]}">'
                f"{SYMBOL[ch]}</td>"
                for i, ch in enumerate(o)
            )  # fmt: skip
            out.append(
                f'<tr class="r" data-k="{k}" data-level="{escape(r["level"])}" data-o="{o}">'
                f'<td class="id"><a href="#d={k}.{first}">{escape(r["id"])}</a>{spec}</td>'
                f'<td class="lvl {escape(r["level"])}">{escape(r["level"])}</td>{cells}'
                f'<td class="sn">{escape(r["sentence"])}</td></tr>'
            )
        out.append("</tbody>")
    out.append("</table>")
    return "\n".join(out)
