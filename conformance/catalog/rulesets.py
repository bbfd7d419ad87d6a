"""Spec releases (and the drafts the seed diffs came from) as ordered, named rule sets.

Each name maps to a `Rules` profile: the behaviours that differ between texts, read from
shared/spec/history.md (sections 1a, 1b, 2). Scenarios do not compute their expectations from
these flags; they state per-rule-set overrides by hand (fixtures/README.md). The flags exist for
the reference resolver, which must follow the selected text, and for the docs.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

LATEST = "v1.19"


class RuleSetError(ValueError):
    """--spec names no rule set the suite knows."""


@dataclass(frozen=True)
class Rules:
    name: str
    summary: str
    explicit_port_step: bool = True  # hostname:port is its own step (from b971bcee)
    explicit_port_host_has_port: bool = True  # step 2 Host "(with port)" (from 1c30f5eb)
    ip_host_has_port: bool = True  # step 1 Host includes the given port (from 6421582b)
    delegated_ip_host: str = "if-provided"  # "without-port" | "with-port" | "if-provided"
    delegated_port_in_host: bool = True  # 3.2 Host `<delegated>:<port>` (from b971bcee)
    invalid_well_known: str = "step4"  # "unspecified" | "abort" | "step4"
    follow_redirects: bool = True  # from b971bcee
    caching: bool = True  # from 3c17a0e5
    sni: bool = True  # from b971bcee
    cname: bool = True  # "CNAME, AAAA or A" from v1.6
    matrix_fed: bool = True  # `_matrix-fed._tcp`, legacy deprecated, from v1.8


_R3 = Rules("R3", "v1.8+: _matrix-fed._tcp first, legacy _matrix._tcp deprecated")
_R2 = replace(_R3, name="R2", summary="v1.6-v1.7: CNAME allowed for host lookups; legacy SRV only",
              matrix_fed=False)
_R1 = replace(_R2, name="R1", summary="r0.1.1-v1.5: the modern algorithm, legacy SRV only",
              cname=False)
# r0.1.0's schema said an invalid well-known fails discovery while the section said skip to
# step 4 (matrix-doc #1854); the suite follows the section, whose text is what it checks.
_R0_1_0 = replace(_R1, name="r0.1.0", summary="r0.1.0: the first release of the modern algorithm")
_D6421582 = replace(_R0_1_0, name="draft-6421582b",
                    summary="PR #1830 at 6421582b (= diff B after; r0.1.0 but for a typo)")
_D39B71413 = replace(
    _D6421582, name="draft-39b71413",
    summary="PR #1830 at 39b71413 (= diff B before): invalid well-known aborts, step 1 Host "
            "without port, delegated IP Host 'with port'",
    ip_host_has_port=False, delegated_ip_host="with-port", invalid_well_known="abort",
)
_DB971BCEE = replace(
    _D39B71413, name="draft-b971bcee",
    summary="PR #1830 at b971bcee (= diff A after): explicit-port step with Host without port, "
            "redirects, SNI; no caching text yet",
    explicit_port_host_has_port=False, delegated_ip_host="without-port", caching=False,
)
_DD2F012F4 = replace(
    _DB971BCEE, name="draft-d2f012f4",
    summary="PR #1830 at d2f012f4 (= diff A before): well-known then SRV then A/AAAA; no "
            "explicit-port step, no redirects, no SNI rule, delegated Host without port",
    explicit_port_step=False, delegated_port_in_host=False, invalid_well_known="unspecified",
    follow_redirects=False, sni=False,
)

DRAFTS = {
    "draft-d2f012f4": _DD2F012F4,
    "draft-b971bcee": _DB971BCEE,
    "draft-39b71413": _D39B71413,
    "draft-6421582b": _D6421582,
}
RELEASES: dict[str, Rules] = {"r0.1.0": replace(_R0_1_0, name="r0.1.0")}
RELEASES |= {f"r0.1.{n}": replace(_R1, name=f"r0.1.{n}") for n in range(1, 5)}
RELEASES |= {f"v1.{n}": replace(_R1, name=f"v1.{n}") for n in range(1, 6)}
RELEASES |= {f"v1.{n}": replace(_R2, name=f"v1.{n}") for n in (6, 7)}
RELEASES |= {f"v1.{n}": replace(_R3, name=f"v1.{n}") for n in range(8, 20)}
RULE_SETS: dict[str, Rules] = {**DRAFTS, **RELEASES}
ORDER: tuple[str, ...] = tuple(RULE_SETS)


def resolve_spec(name: str) -> str:
    """`latest` or a rule-set name -> the rule-set name; anything else is a one-line error."""
    if name == "latest":
        return LATEST
    if name in RULE_SETS:
        return name
    raise RuleSetError(
        f"unknown rule set {name!r}; known: latest, {ORDER[0]} ... {ORDER[-1]} "
        f"(drafts: {', '.join(DRAFTS)}; releases r0.1.0-r0.1.4, v1.1-v1.19)"
    )


def rules(name: str) -> Rules:
    return RULE_SETS[resolve_spec(name)]


def in_range(name: str, spec: str) -> bool:
    """Is rule set `name` within `spec`: "v1.8", "v1.8..", "..v1.7", "r0.1.0..v1.5"?"""
    index = ORDER.index(name)
    lo, sep, hi = spec.partition("..")
    if not sep:
        return name == resolve_spec(spec)
    start = ORDER.index(resolve_spec(lo)) if lo else 0
    end = ORDER.index(resolve_spec(hi)) if hi else len(ORDER) - 1
    return start <= index <= end


def previous(name: str) -> str | None:
    """The rule set just before `name`, or None for the first."""
    index = ORDER.index(resolve_spec(name))
    return ORDER[index - 1] if index else None


def check_range(spec: str) -> None:
    """Raise RuleSetError unless every end of `spec` names a rule set."""
    for part in spec.split(".."):
        if part:
            resolve_spec(part)
