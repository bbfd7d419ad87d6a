"""The texts a run can judge by: every release of the section and the drafts of the seed diffs.

A rule set is a name, a place in the order and a one-line summary of its text. How each text
differs is stated by the scenarios themselves (per-rule-set overrides in fixtures/), never
computed from here; the reference resolver's reading of each text is in
`reference/older_texts.py`. The history is docs/spec-history.md#rule-sets.
"""

from __future__ import annotations

from dataclasses import dataclass

LATEST = "v1.19"


class RuleSetError(ValueError):
    """A rule-set name or range names no rule set the suite knows."""


@dataclass(frozen=True)
class RuleSet:
    name: str
    summary: str


_R3 = "v1.8+: _matrix-fed._tcp first, legacy _matrix._tcp deprecated"
_R2 = "v1.6-v1.7: CNAME allowed for host lookups; legacy SRV only"
_R1 = "r0.1.1-v1.5: the modern algorithm, legacy SRV only"

DRAFTS: dict[str, RuleSet] = {
    "draft-d2f012f4": RuleSet(
        "draft-d2f012f4",
        "PR #1830 at d2f012f4 (= diff A before): well-known then SRV then A/AAAA; no "
        "explicit-port step, no redirects, no SNI rule, delegated Host without port",
    ),
    "draft-b971bcee": RuleSet(
        "draft-b971bcee",
        "PR #1830 at b971bcee (= diff A after): explicit-port step with Host without port, "
        "redirects, SNI; no caching text yet",
    ),
    "draft-39b71413": RuleSet(
        "draft-39b71413",
        "PR #1830 at 39b71413 (= diff B before): invalid well-known aborts, step 1 Host "
        "without port, delegated IP Host 'with port'",
    ),
    "draft-6421582b": RuleSet(
        "draft-6421582b", "PR #1830 at 6421582b (= diff B after; r0.1.0 but for a typo)"
    ),
}
RELEASES: dict[str, RuleSet] = {
    "r0.1.0": RuleSet("r0.1.0", "r0.1.0: the first release of the modern algorithm"),
    **{f"r0.1.{n}": RuleSet(f"r0.1.{n}", _R1) for n in range(1, 5)},
    **{f"v1.{n}": RuleSet(f"v1.{n}", _R1) for n in range(1, 6)},
    **{f"v1.{n}": RuleSet(f"v1.{n}", _R2) for n in (6, 7)},
    **{f"v1.{n}": RuleSet(f"v1.{n}", _R3) for n in range(8, 20)},
}
RULE_SETS: dict[str, RuleSet] = {**DRAFTS, **RELEASES}
ORDER: tuple[str, ...] = tuple(RULE_SETS)


def resolve(name: str) -> str:
    """`latest` or a rule-set name -> the rule-set name; anything else is a one-line error."""
    if name == "latest":
        return LATEST
    if name in RULE_SETS:
        return name
    raise RuleSetError(
        f"unknown rule set {name!r}; known: latest, {ORDER[0]} ... {ORDER[-1]} "
        f"(drafts: {', '.join(DRAFTS)}; releases r0.1.0-r0.1.4, v1.1-v1.19)"
    )


def selection(text: str) -> list[str]:
    """`--conformance-spec` -> rule-set names: one, several separated by commas, or `all`."""
    names = list(ORDER) if text == "all" else text.split(",")
    return [resolve(n.strip()) for n in names]


def in_range(name: str, span: str) -> bool:
    """Is rule set `name` within `span`: "v1.8", "v1.8..", "..v1.7", "r0.1.0..v1.5"?"""
    index = ORDER.index(name)
    lo, sep, hi = span.partition("..")
    if not sep:
        return name == resolve(span)
    start = ORDER.index(resolve(lo)) if lo else 0
    end = ORDER.index(resolve(hi)) if hi else len(ORDER) - 1
    return start <= index <= end


def previous(name: str) -> str | None:
    """The rule set just before `name`, or None for the first."""
    index = ORDER.index(resolve(name))
    return ORDER[index - 1] if index else None


def check_range(span: str) -> None:
    """Raise RuleSetError unless every end of `span` names a rule set."""
    for part in span.split(".."):
        if part:
            resolve(part)
