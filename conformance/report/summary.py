"""The lines a run ends with: per level, what fell below the gate, what could not run here."""

from __future__ import annotations

from collections import Counter
from typing import Any

LEVELS = ("required", "recommended", "robustness")


def summary_line(results: list[dict[str, Any]], resolver: str, spec: str) -> str:
    by_level: dict[str, Counter[str]] = {}
    for r in results:
        by_level.setdefault(r["level"], Counter())[r["outcome"]] += 1
    parts = []
    for level in sorted(by_level, key=_level_order):
        counts = by_level[level]
        ran = counts["passed"] + counts["failed"]
        skipped = f" ({counts['skipped']} skipped)" if counts["skipped"] else ""
        parts.append(f"{level} {counts['passed']}/{ran} passed{skipped}")
    return f"conformance of {resolver} to rule set {spec}: " + ", ".join(parts)


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


def _level_order(level: str) -> int:
    return LEVELS.index(level) if level in LEVELS else len(LEVELS)
