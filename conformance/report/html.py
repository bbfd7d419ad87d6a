"""The HTML report: one self-contained page from one or more JSON reports (docs/report-format.md).

    from matrix_resolver_conformance.report.html import render
    page = render([json.load(open("synapse.json")), json.load(open("dendrite.json"))])

The page has no external asset (inline CSS and script, no fonts, no network). What can be counted
is static HTML, written here: the step x level grid of each report, the implementation x scenario
matrix (one column per report) with links. What is long is embedded once as JSON and drawn by the
page's script only when a scenario is opened: its verdict, the rules it broke and the sequence
diagram of its trace (planned by report/sequence.py). Reports of the first format (no trace, no
per-rule failures) render too: their scenarios say "no trace recorded".
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Mapping, Sequence
from html import escape
from pathlib import Path
from typing import Any

from matrix_resolver_conformance import __version__
from matrix_resolver_conformance.catalog.model import LEVELS, STEPS
from matrix_resolver_conformance.report import html_assets, sequence

SUPPORTED_FORMAT = 2  # the newest report format this renderer knows (report/json_report.py)
OUTCOMES = ("passed", "failed", "skipped")
# one letter per outcome in the matrix's data-o (u: skipped because this machine cannot host it)
LETTER = {"passed": "p", "failed": "f", "skipped": "s"}
SYMBOL = {"p": "✓", "f": "✗", "s": "–", "u": "⊘", "-": "·"}
WORD = {"p": "passed", "f": "failed", "s": "skipped", "u": "not run here", "-": "not in report"}


class ReportError(ValueError):
    """A file that is not a conformance report."""


def load(path: str | Path) -> dict[str, Any]:
    """A JSON report from disk, checked for the little the page needs."""
    try:
        doc = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ReportError(f"{path}: {e}") from e
    if not isinstance(doc, dict) or not isinstance(doc.get("results"), list):
        raise ReportError(f"{path}: not a conformance report (no 'results' list)")
    for n, r in enumerate(doc["results"]):
        if not isinstance(r, dict) or not {"id", "step", "level", "outcome"} <= r.keys():
            raise ReportError(f"{path}: result {n} lacks id, step, level or outcome")
    return doc


def letter(entry: Mapping[str, Any] | None) -> str:
    """The matrix letter of a result: p, f, s, u (skipped: not runnable here) or - (absent)."""
    if entry is None:
        return "-"
    if entry.get("outcome") == "skipped" and entry.get("unavailable"):
        return "u"
    return LETTER.get(str(entry.get("outcome")), "-")


def tally(report: Mapping[str, Any]) -> dict[tuple[str, str], Counter[str]]:
    """(step, level) -> outcome -> count, with "" for "every step" / "every level"."""
    out: dict[tuple[str, str], Counter[str]] = {}
    for r in report["results"]:
        for key in ((r["step"], r["level"]), (r["step"], ""), ("", r["level"]), ("", "")):
            out.setdefault(key, Counter())[r["outcome"]] += 1
    return out


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
    names = list(labels) if labels is not None else _labels(reports)
    if len(names) != len(reports):
        raise ReportError(f"{len(reports)} reports but {len(names)} labels")
    # a row per scenario; per scenario and rule set when a report judged one by several
    per_spec = any(len({r["id"] for r in rep["results"]}) < len(rep["results"]) for rep in reports)
    keys, rows = _rows(reports, per_spec)
    by_key = [{_key(r, per_spec): r for r in rep["results"]} for rep in reports]
    results = [[_result(by_key[i].get(k), names[i], k, notes) for i in range(len(reports))]
               for k in keys]  # fmt: skip
    letters = ["".join(letter(by_key[i].get(k)) for i in range(len(reports))) for k in keys]
    data = {
        "impls": [_impl(rep, name) for rep, name in zip(reports, names, strict=True)],
        "rows": rows,
        "res": results,
        "investigated": notes is not None,
    }
    title = title or "Server-name resolution conformance: " + ", ".join(names)
    steps = _ordered({r["step"] for r in rows}, STEPS)
    levels = _ordered({r["level"] for r in rows}, LEVELS)
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


def embed_json(data: Any) -> str:
    """JSON that cannot end its <script> element (nor open a comment or a CDATA section)."""
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    for ch, code in (("&", "\\u0026"), ("<", "\\u003c"), (">", "\\u003e"),
                     ("\u2028", "\\u2028"), ("\u2029", "\\u2029")):  # fmt: skip
        text = text.replace(ch, code)
    return text


# -- the data ------------------------------------------------------------------------------------


def _labels(reports: Sequence[Mapping[str, Any]]) -> list[str]:
    out: list[str] = []
    for n, rep in enumerate(reports, 1):
        base = str(rep.get("resolver") or f"report {n}")
        name, k = base, 2
        while name in out:
            name, k = f"{base} ({k})", k + 1
        out.append(name)
    return out


def _ordered(values: set[str], known: Sequence[str]) -> list[str]:
    return [v for v in known if v in values] + sorted(values - set(known))


def _key(r: Mapping[str, Any], per_spec: bool) -> tuple[str, str]:
    return (r["id"], str(r.get("spec", "")) if per_spec else "")


def _rows(
    reports: Sequence[Mapping[str, Any]], per_spec: bool
) -> tuple[list[tuple[str, str]], list[dict[str, Any]]]:
    """Every scenario (and rule set) of any report, grouped by step (catalog order), then id."""
    first: dict[tuple[str, str], Mapping[str, Any]] = {}
    for rep in reports:
        for r in rep["results"]:
            first.setdefault(_key(r, per_spec), r)
    order = {s: n for n, s in enumerate(STEPS)}
    keys = sorted(first, key=lambda k: (order.get(first[k]["step"], len(order)),
                                        first[k]["step"], k))  # fmt: skip
    rows = [{"id": k[0], "spec": k[1], "step": first[k]["step"], "level": first[k]["level"],
             "sentence": first[k].get("sentence", "")} for k in keys]  # fmt: skip
    return keys, rows


def _result(
    r: Mapping[str, Any] | None,
    name: str,
    key: tuple[str, str],
    notes: Mapping[tuple[str, str], str] | None,
) -> dict[str, Any] | None:
    if r is None:
        return None
    problems = [str(p) for p in r.get("problems") or []]
    failures = r.get("failures")
    sentence = r.get("sentence", "")
    out: dict[str, Any] = {
        "outcome": r["outcome"],
        "spec": r.get("spec"),
        "unavailable": bool(r.get("unavailable")),
        "expected": r.get("expected", ""),
        "observed": r.get("observed", ""),
        "seconds": r.get("seconds"),
        "rule": r.get("rule"),
        "held": r.get("held"),
        # per-rule failures (format 2); the failure's sentence only where it is not the scenario's
        "failures": None if failures is None else [
            {"rule": f.get("rule"), "level": f.get("level"), "message": f.get("message"),
             **({"sentence": f["sentence"]} if f.get("sentence") != sentence else {})}
            for f in failures
        ],
        "problems": problems if failures is None else None,  # format 1: messages only
        "diagram": _pack(sequence.plan(r.get("trace"), problems)),
    }  # fmt: skip
    if notes is not None and (name, key[0]) in notes:
        out["note"] = notes[(name, key[0])]
    return out


def _pack(plan: dict[str, Any] | None) -> dict[str, Any] | None:
    """The plan with lanes and rows as arrays (the page's script unpacks them): half the size."""
    if plan is None:
        return None
    lanes = [[ln["label"], ln["role"], ln["endpoints"], ln["state"]] for ln in plan["lanes"]]
    rows = [[r["t"], r["a"], r["b"], r["kind"], r["text"], r["note"], r["tone"],
             (1 if r["fail"] else 0) | (2 if r["warn"] else 0)] for r in plan["rows"]]  # fmt: skip
    return {"lanes": lanes, "rows": rows, "quiet": plan["quiet"]}


def _impl(rep: Mapping[str, Any], name: str) -> dict[str, Any]:
    return {
        "label": name,
        "resolver": rep.get("resolver"),
        "version": rep.get("resolver_version"),
        "spec": rep.get("spec"),
        "format": rep.get("format", 1),
        "trace_format": rep.get("trace_format"),
        "suite_version": rep.get("suite_version"),
        "catalog_hash": rep.get("catalog_hash"),
    }


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
