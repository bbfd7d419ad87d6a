"""Spec releases -> rule sets. Until per-release expectations exist, every release from v1.8 on
shares the current rules (R3: `_matrix-fed._tcp`, legacy `_matrix._tcp` deprecated)."""

from __future__ import annotations

LATEST = "v1.19"
CURRENT_RULES = tuple(f"v1.{n}" for n in range(8, 20))


class RuleSetError(ValueError):
    """--spec names no rule set the suite knows."""


def resolve_spec(name: str) -> str:
    if name == "latest":
        return LATEST
    if name in CURRENT_RULES:
        return name
    raise RuleSetError(
        f"--spec={name}: unknown or not yet supported; supported: latest, "
        f"{CURRENT_RULES[0]} ... {CURRENT_RULES[-1]}"
    )
