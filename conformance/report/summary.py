"""The lines a run ends with: per level, per step and per rule set; what fell below the gate;
what could not run here. The same tables go to $GITHUB_STEP_SUMMARY as Markdown.

A scenario is counted once: at its own level when it passed, at the level of the worst rule it
broke when it failed (an SNI scenario that sent a wrong Host counts as a required failure).
"""

from __future__ import annotations

from collections import Counter
from typing import Any

LEVELS = ("required", "recommended", "robustness")
STEP_ORDER = ("1", "2", "3", "3.1", "3.2", "3.3", "3.4", "3.5", "4", "5", "6", "tls", "grammar")


def _level_order(level: str) -> int:
    return LEVELS.index(level) if level in LEVELS else len(LEVELS)


def counted_level(r: dict[str, Any]) -> str:
    """The level a result counts at (see the module docstring)."""
    failures = r.get("failures") or []
    if r["outcome"] == "failed" and failures:
        return min((f["level"] for f in failures), key=_level_order)
    return str(r["level"])


def broken_rules(results: list[dict[str, Any]]) -> Counter[tuple[str, str]]:
    """(level, rule) -> how many scenarios broke it."""
    out: Counter[tuple[str, str]] = Counter()
    for r in results:
        for level, rule in {(f["level"], f["rule"]) for f in r.get("failures") or []}:
            out[(level, rule)] += 1
    return out


def summary_line(results: list[dict[str, Any]], resolver: str, spec: str) -> str:
    by_level: dict[str, Counter[str]] = {}
    for r in results:
        by_level.setdefault(counted_level(r), Counter())[r["outcome"]] += 1
    parts = []
    for level in sorted(by_level, key=_level_order):
        counts = by_level[level]
        ran = counts["passed"] + counts["failed"]
        skipped = f" ({counts['skipped']} skipped)" if counts["skipped"] else ""
        parts.append(f"{level} {counts['passed']}/{ran} passed{skipped}")
    line = f"conformance of {resolver} to rule set {spec}: " + ", ".join(parts)
    broken = broken_rules(results)
    if broken:
        shown = ", ".join(
            f"{rule} ({level}) x{n}"
            for (level, rule), n in sorted(
                broken.items(), key=lambda kv: (_level_order(kv[0][0]), kv[0][1])
            )
        )
        line += f"; rules broken: {shown}"
    return line


def _table(results: list[dict[str, Any]], key: str, order: tuple[str, ...] = ()) -> list[list[str]]:
    """Rows [key, passed, failed, of which required, skipped] grouped by r[key]."""
    groups: dict[str, list[dict[str, Any]]] = {}
    for r in results:
        groups.setdefault(str(r[key]), []).append(r)

    def rank(name: str) -> tuple[int, str]:
        return (order.index(name) if name in order else len(order), name)

    rows = []
    for name in sorted(groups, key=rank):
        rs = groups[name]
        failed = [r for r in rs if r["outcome"] == "failed"]
        rows.append([name, str(sum(r["outcome"] == "passed" for r in rs)), str(len(failed)),
                     str(sum(counted_level(r) == "required" for r in failed)),
                     str(sum(r["outcome"] == "skipped" for r in rs))])  # fmt: skip
    return rows


HEADINGS = ["passed", "failed", "of them required", "skipped"]


def tables(results: list[dict[str, Any]]) -> dict[str, list[list[str]]]:
    """The per-step table, and the per-rule-set one when several rule sets ran."""
    out = {"step": _table(results, "step", STEP_ORDER)}
    specs = [r["spec"] for r in results]
    if len(set(specs)) > 1:
        out["rule set"] = _table(results, "spec", tuple(dict.fromkeys(specs)))
    return out


def regression(results: list[dict[str, Any]]) -> dict[str, Any] | None:
    """With exactly two rule sets (`--conformance-spec=OLD,NEW`): each failure sorted by whether
    the scenario's expectation differs between OLD and NEW (`diff OLD NEW`, from the catalog's
    overrides) or not (a regression on an unchanged expectation). OLD is the one the other
    descends from; two rule sets neither of which descends from the other get no verdict."""
    specs = list(dict.fromkeys(r["spec"] for r in results))
    if len(specs) != 2:
        return None
    from matrix_resolver_conformance.catalog import load_catalog
    from matrix_resolver_conformance.catalog.rulesets import RuleSetError, descends_from
    from matrix_resolver_conformance.tools.specdiff import diff

    old, new = specs
    try:
        if descends_from(old, new):
            old, new = new, old
        elif not descends_from(new, old):
            return None  # two texts side by side (two proposals), not one edited into the other
        changed = {row["id"] for row in diff(load_catalog(), old, new)}
    except (RuleSetError, ValueError):
        return None
    failed = [r for r in results if r["outcome"] == "failed"]
    return {
        "old": old,
        "new": new,
        "changed": sorted({(r["spec"], r["id"]) for r in failed if r["id"] in changed}),
        "regressed": sorted({(r["spec"], r["id"]) for r in failed if r["id"] not in changed}),
    }


def regression_lines(results: list[dict[str, Any]]) -> list[str]:
    """The regression check's verdict, in lines (nothing unless two rule sets ran)."""
    verdict = regression(results)
    if verdict is None:
        return []
    old, new = verdict["old"], verdict["new"]
    lines = [f"regression check {old} -> {new}:"]
    for key, title in (("changed", f"expectation changed between {old} and {new}"),
                       ("regressed", "regressed on an unchanged expectation")):  # fmt: skip
        rows = verdict[key]
        lines.append(f"  {title}: {len(rows)} failure(s)")
        lines += [f"    {sid} (under {spec})" for spec, sid in rows]
    return lines


def text_tables(results: list[dict[str, Any]]) -> list[str]:
    lines = []
    for name, rows in tables(results).items():
        head = [name, *HEADINGS]
        widths = [max(len(c) for c in col) for col in zip(head, *rows, strict=True)]
        lines.append("  ".join(h.ljust(w) for h, w in zip(head, widths, strict=True)))
        lines += ["  ".join(c.rjust(w) if i else c.ljust(w)
                            for i, (c, w) in enumerate(zip(row, widths, strict=True)))
                  for row in rows]  # fmt: skip
        lines.append("")
    return lines[:-1] + (["", *regression_lines(results)] if regression(results) else [])


def markdown(results: list[dict[str, Any]], resolver: str, spec: str) -> str:
    """The summary for $GITHUB_STEP_SUMMARY."""
    out = ["### Matrix server-name resolution conformance", "",
           summary_line(results, resolver, spec), ""]  # fmt: skip
    for name, rows in tables(results).items():
        out += [f"| {name} | " + " | ".join(HEADINGS) + " |",
                "|---|" + "---:|" * len(HEADINGS)]  # fmt: skip
        out += ["| " + " | ".join(row) + " |" for row in rows]
        out.append("")
    verdict = regression(results)
    if verdict is not None:
        old, new = verdict["old"], verdict["new"]
        out += [f"#### Regression check {old} -> {new}", ""]
        for key, title in (("changed", f"Expectation changed between {old} and {new}"),
                           ("regressed", "Regressed on an unchanged expectation")):  # fmt: skip
            out.append(f"- {title}: {len(verdict[key])}")
            out += [f"  - `{sid}` (under {spec})" for spec, sid in verdict[key]]
        out.append("")
    return "\n".join(out) + "\n"


def unavailable_lines(results: list[dict[str, Any]], allowed: bool) -> list[str]:
    """The loud part: scenarios skipped because this machine could not host their world."""
    missing = [r for r in results if r.get("unavailable")]
    if not missing:
        return []
    by_level = Counter(r["level"] for r in missing)
    levels = ", ".join(f"{by_level[lv]} {lv}" for lv in LEVELS if by_level[lv])
    reasons = Counter(r["observed"] for r in missing)
    lines = [f"{len(missing)} scenario(s) NOT RUN on this machine ({levels}):"]
    lines += [f"  {n} x {reason}" for reason, n in reasons.most_common()]
    if allowed:
        lines.append("allowed by --conformance-allow-unavailable: the run does not fail for them")
    else:
        lines.append(
            "the run fails for them; fix the environment (see the reasons), or pass "
            "--conformance-allow-unavailable to accept a partial run"
        )
    return lines


def first_line(result: dict[str, Any]) -> str:
    """A failure in one line (JUnit's message): its worst broken rule, with that rule's level."""
    failures = result.get("failures") or []
    if not failures:
        return f"[{result['level']}] {result['problems'][0]}"
    worst = min(failures, key=lambda f: LEVELS.index(f["level"]))
    return f"[{worst['level']}] {worst['rule']}: {worst['message']}"
