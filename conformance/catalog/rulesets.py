"""The texts a run can judge by, as data: fixtures/spec/rulesets.toml (the drafts of the seed
diffs and every release, one line of history) and fixtures/spec/proposal-*.toml (proposals, each
branching from a parent).

A rule set is a name, a parent and what text it stands for. How each text differs is stated by
the scenarios themselves (per-rule-set overrides in fixtures/), never computed from here; the
reference resolver's reading of each text is in `reference/older_texts.py`. The history is
docs/spec-history.md#rule-sets.

Ranges ("A..B", "..B", "A..") are spans of the history line. A proposal is never inside a range:
an override names it alone (`in = "proposal-x"`), and what it does not override it inherits from
its parent. So two proposals from v1.19 never see each other's overrides.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from matrix_resolver_conformance.catalog.files import CatalogError, fixtures_dir, read_toml

LATEST = "v1.19"  # the default; fixtures/spec/rulesets.toml's `latest` (a test checks they agree)
KINDS = ("draft", "release", "proposal")
PROPOSAL_GLOB = "proposal-*.toml"


class RuleSetError(ValueError):
    """A rule-set name or range names no rule set the suite knows."""


@dataclass(frozen=True)
class RuleSet:
    name: str
    summary: str
    kind: str = "release"
    parent: str = ""
    date: str = ""
    source: str = ""
    text: str = ""
    file: str = ""  # where it is declared, relative to fixtures/

    @property
    def proposal(self) -> bool:
        return self.kind == "proposal"


@dataclass(frozen=True)
class Registry:
    """Every rule set of one fixtures directory."""

    directory: Path
    latest: str
    rule_sets: dict[str, RuleSet]
    history: tuple[str, ...]  # drafts and releases, oldest first (each the next one's parent)
    proposals: tuple[str, ...]
    raw_proposals: dict[str, dict[str, Any]] = field(default_factory=dict)  # name -> its file

    def get(self, name: str) -> RuleSet:
        return self.rule_sets[self.resolve(name)]

    def resolve(self, name: str) -> str:
        """`latest` or a rule-set name -> the rule-set name; anything else: a one-line error."""
        if name == "latest":
            return self.latest
        if name in self.rule_sets:
            return name
        drafts = [n for n in self.history if self.rule_sets[n].kind == "draft"]
        known = f"latest, {self.history[0]} ... {self.history[-1]} (drafts: {', '.join(drafts)}"
        known += f"; proposals: {', '.join(self.proposals)})" if self.proposals else ")"
        raise RuleSetError(f"unknown rule set {name!r}; known: {known}")

    def lineage(self, name: str) -> list[str]:
        """`name`, its parent, the parent's parent ... up to the first text of the history."""
        out = [self.resolve(name)]
        while parent := self.rule_sets[out[-1]].parent:
            out.append(parent)
        return out

    def base(self, name: str) -> str:
        """The text of the history a rule set descends from (itself for a draft or release)."""
        return next(n for n in self.lineage(name) if not self.rule_sets[n].proposal)


def _date(value: object) -> str:
    if isinstance(value, datetime.date):
        return value.isoformat()
    return str(value)


def _ruleset(raw: dict[str, Any], where: str) -> RuleSet:
    allowed = {"name", "kind", "parent", "date", "source", "text", "summary"}
    unknown = set(raw) - allowed
    if unknown:
        raise CatalogError(f"{where}: unknown key(s) {sorted(unknown)}; allowed: {sorted(allowed)}")
    missing = {"name", "kind", "parent", "summary"} - set(raw)
    if missing:
        raise CatalogError(f"{where}: missing {sorted(missing)}")
    if raw["kind"] not in KINDS:
        raise CatalogError(f"{where}: kind {raw['kind']!r} is not one of {', '.join(KINDS)}")
    return RuleSet(
        name=str(raw["name"]),
        summary=" ".join(str(raw["summary"]).split()),
        kind=raw["kind"],
        parent=str(raw["parent"]),
        date=_date(raw.get("date", "")),
        source=str(raw.get("source", "")),
        text=str(raw.get("text", "")),
        file=where.split(":")[0],
    )


@cache
def _load(directory: Path, signature: tuple[tuple[str, int, int], ...]) -> Registry:
    spec = directory / "spec"
    raw = read_toml(spec / "rulesets.toml")
    rule_sets: dict[str, RuleSet] = {}
    history: list[str] = []
    for entry in raw.get("ruleset", []):
        rs = _ruleset(entry, f"spec/rulesets.toml: ruleset {entry.get('name', '?')!r}")
        if rs.proposal:
            raise CatalogError(f"spec/rulesets.toml: {rs.name}: a proposal goes in a file of its "
                               f"own, spec/proposal-*.toml")  # fmt: skip
        expected = history[-1] if history else ""
        if rs.parent != expected:
            raise CatalogError(
                f"spec/rulesets.toml: {rs.name}: the history is one line, so its parent is "
                f"{expected or 'none'!r}, not {rs.parent!r}"
            )
        if rs.name in rule_sets:
            raise CatalogError(f"spec/rulesets.toml: duplicate rule set {rs.name!r}")
        rule_sets[rs.name] = rs
        history.append(rs.name)
    proposals: list[str] = []
    raw_proposals: dict[str, dict[str, Any]] = {}
    for path in sorted(spec.glob(PROPOSAL_GLOB)):
        data = read_toml(path)
        where = f"spec/{path.name}"
        if "ruleset" not in data or not isinstance(data["ruleset"], dict):
            raise CatalogError(f"{where}: needs a [ruleset] table (name, parent, ...)")
        rs = _ruleset({"kind": "proposal", **data["ruleset"]}, f"{where}: [ruleset]")
        if not rs.proposal:
            raise CatalogError(f"{where}: kind must be 'proposal'")
        if path.stem != rs.name:
            raise CatalogError(f"{where}: name the file after its rule set, {rs.name}.toml")
        if rs.name in rule_sets or rs.name == "latest":
            raise CatalogError(f"{where}: rule set {rs.name!r} already exists")
        rule_sets[rs.name] = rs
        proposals.append(rs.name)
        raw_proposals[rs.name] = data
    for name in proposals:  # parents may be proposals of their own, declared in any order
        seen = {name}
        parent = rule_sets[name].parent
        while parent:
            if parent not in rule_sets:
                raise CatalogError(f"{rule_sets[name].file}: unknown parent {parent!r}")
            if parent in seen:
                raise CatalogError(f"{rule_sets[name].file}: parents form a cycle")
            seen.add(parent)
            parent = rule_sets[parent].parent
    latest = str(raw.get("latest", history[-1] if history else ""))
    if latest not in history:
        raise CatalogError(f"spec/rulesets.toml: latest = {latest!r} is not in the history")
    return Registry(directory, latest, rule_sets, tuple(history), tuple(proposals), raw_proposals)


_CURRENT: dict[Path, Registry] = {}


def registry(directory: Path | None = None, *, refresh: bool = False) -> Registry:
    """The rule sets of `directory` (default: the fixtures in use). Read once; with `refresh`
    (load_catalog asks for it) read again if a file of spec/ changed since."""
    folder = directory or fixtures_dir()
    if refresh or folder not in _CURRENT:
        signature = tuple(
            (p.name, (st := p.stat()).st_mtime_ns, st.st_size)
            for p in sorted(folder.glob("spec/*.toml"))
        )
        _CURRENT[folder] = _load(folder.resolve(), signature)
    return _CURRENT[folder]


def resolve(name: str) -> str:
    return registry().resolve(name)


def selection(text: str) -> list[str]:
    """`--conformance-spec` -> rule-set names: one, several separated by commas (two: a
    regression check OLD,NEW), `all` (the drafts and releases) or `proposals`."""
    reg = registry()
    out: list[str] = []
    for part in text.split(","):
        part = part.strip()
        names = {"all": reg.history, "proposals": reg.proposals}.get(part, (part,))
        if part == "proposals" and not names:
            raise RuleSetError("--spec=proposals: no proposal is declared (spec/proposal-*.toml)")
        out += [reg.resolve(n) for n in names]
    return list(dict.fromkeys(out))


def _on_history(reg: Registry, name: str, where: str) -> int:
    resolved = reg.resolve(name)
    if reg.rule_sets[resolved].proposal:
        raise RuleSetError(f"{where}: proposal {resolved!r} cannot end a range; name it alone")
    return reg.history.index(resolved)


def in_range(name: str, span: str) -> bool:
    """Is rule set `name` within `span`: "v1.8", "v1.8..", "..v1.7", "r0.1.0..v1.5", or several
    of those separated by commas? A proposal is within a span only where the span names it."""
    reg = registry()
    name = reg.resolve(name)
    for part in span.split(","):
        part = part.strip()
        lo, sep, hi = part.partition("..")
        if not sep:
            if name == reg.resolve(part):
                return True
            continue
        if reg.rule_sets[name].proposal:
            continue
        index = reg.history.index(name)
        start = _on_history(reg, lo, part) if lo else 0
        end = _on_history(reg, hi, part) if hi else len(reg.history) - 1
        if start <= index <= end:
            return True
    return False


def previous(name: str) -> str | None:
    """The parent of `name` (for the history: the text just before it), or None for the first."""
    return registry().get(name).parent or None


def check_range(span: str) -> None:
    """Raise RuleSetError unless every end of `span` names a rule set (proposals only alone)."""
    reg = registry()
    for part in span.split(","):
        lo, sep, hi = part.strip().partition("..")
        if not sep:
            reg.resolve(lo)
            continue
        for end in (lo, hi):
            if end:
                _on_history(reg, end, part)


def descends_from(name: str, ancestor: str) -> bool:
    """Is `ancestor` `name` itself or one of the texts `name` was edited from?"""
    reg = registry()
    return reg.resolve(ancestor) in reg.lineage(name)


def lineage(name: str) -> list[str]:
    return registry().lineage(name)


def base(name: str) -> str:
    return registry().base(name)


def is_proposal(name: str) -> bool:
    return registry().get(name).proposal


def first_match(spans: list[str], name: str) -> int | None:
    """The index of the span that decides rule set `name`: the first naming `name` itself, else
    (for a proposal) the first naming its parent, and so on up to the history, where the first
    span containing the text decides. None: no span applies (the current expectation does)."""
    reg = registry()
    for node in reg.lineage(name):
        for i, span in enumerate(spans):
            if in_range(node, span):
                return i
        if not reg.rule_sets[node].proposal:
            return None
    return None
