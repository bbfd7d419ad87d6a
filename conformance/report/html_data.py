"""The HTML report's data: reports loaded and checked, one row per scenario, each result as the
page's script reads it (its diagram planned by report/sequence.py and packed), and the JSON that
carries it, safe inside a <script> element. The markup is report/html.py's."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from matrix_resolver_conformance.catalog.model import STEPS
from matrix_resolver_conformance.report import sequence

# one letter per outcome in the matrix's data-o (u: skipped because this machine cannot host it)
LETTER = {"passed": "p", "failed": "f", "skipped": "s"}


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


def embed_json(data: Any) -> str:
    """JSON that cannot end its <script> element (nor open a comment or a CDATA section)."""
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    for ch, code in (("&", "\\u0026"), ("<", "\\u003c"), (">", "\\u003e"),
                     ("\u2028", "\\u2028"), ("\u2029", "\\u2029")):  # fmt: skip
        text = text.replace(ch, code)
    return text


def column_labels(reports: Sequence[Mapping[str, Any]]) -> list[str]:
    out: list[str] = []
    for n, rep in enumerate(reports, 1):
        base = str(rep.get("resolver") or f"report {n}")
        name, k = base, 2
        while name in out:
            name, k = f"{base} ({k})", k + 1
        out.append(name)
    return out


def ordered(values: set[str], known: Sequence[str]) -> list[str]:
    return [v for v in known if v in values] + sorted(values - set(known))


def row_key(r: Mapping[str, Any], per_spec: bool) -> tuple[str, str]:
    return (r["id"], str(r.get("spec", "")) if per_spec else "")


def scenario_rows(
    reports: Sequence[Mapping[str, Any]], per_spec: bool
) -> tuple[list[tuple[str, str]], list[dict[str, Any]]]:
    """Every scenario (and rule set) of any report, grouped by step (catalog order), then id."""
    first: dict[tuple[str, str], Mapping[str, Any]] = {}
    for rep in reports:
        for r in rep["results"]:
            first.setdefault(row_key(r, per_spec), r)
    order = {s: n for n, s in enumerate(STEPS)}
    keys = sorted(first, key=lambda k: (order.get(first[k]["step"], len(order)),
                                        first[k]["step"], k))  # fmt: skip
    rows = [{"id": k[0], "spec": k[1], "step": first[k]["step"], "level": first[k]["level"],
             "sentence": first[k].get("sentence", "")} for k in keys]  # fmt: skip
    return keys, rows


def result_entry(
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


def column_entry(rep: Mapping[str, Any], name: str) -> dict[str, Any]:
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
