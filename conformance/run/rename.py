"""Fresh names for a scenario: the same world under a top-level label of its own.

A long-lived homeserver caches what it learnt (well-knowns, SRV answers, keys, connections) by
name, with no setting to turn that off. Renaming every name of a scenario consistently (DNS
records, certificates, well-known bodies, expectations) gives each run names the server has never
seen, so no verdict depends on what ran before. Every catalog name ends in the label `test`; it
becomes a label of the same length (names keep their lengths: the catalog's length limits still
hold) and the same case (case-sensitivity scenarios still hold).
"""

from __future__ import annotations

import dataclasses
import re
import string
from typing import Any

from matrix_resolver_conformance.catalog.model import Scenario

_TLD = re.compile(r"(?<=\.)(test)(?=\.?(?![A-Za-z0-9-]))", re.IGNORECASE)
_KEEP = frozenset({"id", "step", "level", "sentence", "rule", "within"})  # spec text, ids
_DIGITS = string.digits + string.ascii_lowercase


def label(n: int) -> str:
    """The n-th fresh label: `t` and three base-36 digits (`t000` ... `tzzz`)."""
    n %= 36**3
    return "t" + "".join(_DIGITS[(n // 36**i) % 36] for i in (2, 1, 0))


def rename(scenario: Scenario, tld: str) -> Scenario:
    """`scenario` with every `.test` name ending in `.<tld>` instead (case kept per letter)."""
    if len(tld) != 4:
        raise ValueError(f"a fresh label must be 4 characters like 'test', got {tld!r}")
    result: Scenario = _map(scenario, tld)
    return result


def _swap(text: str, tld: str) -> str:
    def same_case(m: re.Match[str]) -> str:
        old = m.group(1)
        return "".join(n.upper() if o.isupper() else n for o, n in zip(old, tld, strict=True))

    return _TLD.sub(same_case, text)


def _map(value: Any, tld: str) -> Any:
    if isinstance(value, str):
        return _swap(value, tld)
    if isinstance(value, tuple):
        return tuple(_map(v, tld) for v in value)
    if isinstance(value, dict):
        return {_map(k, tld): _map(v, tld) for k, v in value.items()}
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        changes = {
            f.name: _map(getattr(value, f.name), tld)
            for f in dataclasses.fields(value)
            if f.name not in _KEEP
        }
        return dataclasses.replace(value, **changes)
    return value
