"""Each text's numbered sentences, and what quotes them.

The current text is fixtures/spec/current.toml. Other texts are stated by their differences:
fixtures/spec/texts.toml for texts of the history (each `[[text]]` names the rule sets it is and
the text it is stated against), a proposal's own `[[sentence]]` entries for a proposal (against
its parent's text). A sentence id names its place unambiguously: `step3.3/1` is the first
sentence of step 3.3, `step3/3` the third of step 3; `intro/1`, `tls/2`, `schema/4`,
`grammar/6`, `srv/1` (the notes on SRV) for the parts outside the steps.

A scenario cites the sentences it checks by id (`sentence_id`), with the quote for display; the
quote must share text with each cited sentence (one contains the other). `rests_on` lists every
sentence its expectation depends on (`impact` reads it).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from functools import cache
from pathlib import Path
from typing import Any

from matrix_resolver_conformance.catalog.files import CatalogError, fixtures_dir, read_toml
from matrix_resolver_conformance.catalog.model import Scenario
from matrix_resolver_conformance.catalog.rulesets import in_range, registry

CROSS_CUTTING = ("intro", "tls", "schema", "grammar", "srv")
PARTS = ("intro", "1", "2", "3", "3.1", "3.2", "3.3", "3.4", "3.5", "4", "5", "6", "srv", "tls",
         "schema", "grammar")  # fmt: skip
ID_PATTERN = re.compile(r"(?:step(1|2|3|3\.[1-5]|4|5|6)|(intro|tls|schema|grammar|srv))/(\d+)")


@dataclass(frozen=True)
class Sentence:
    id: str
    step: str
    kind: str  # "normative" | "informative"
    text: str
    why: str = ""


def part_of(sentence_id: str) -> str:
    """`step3.3/1` -> "3.3", `tls/2` -> "tls"; ValueError for anything else."""
    m = ID_PATTERN.fullmatch(sentence_id)
    if not m:
        raise ValueError(
            f"sentence id {sentence_id!r}: expected stepN/K (N one of 1 2 3 3.1 ... 3.5 4 5 6) "
            f"or intro|tls|schema|grammar|srv/K"
        )
    return m.group(1) or m.group(2)


def _sentence(raw: dict[str, Any], where: str) -> Sentence:
    allowed = {"id", "step", "kind", "text", "why"}
    unknown = set(raw) - allowed
    if unknown:
        raise CatalogError(f"{where}: unknown key(s) {sorted(unknown)}")
    sid = raw["id"]
    step = raw.get("step", part_of(sid))
    if part_of(sid) != step:
        raise CatalogError(f"{where}: sentence {sid!r} is not of step {step!r}")
    if raw.get("kind") not in ("normative", "informative"):
        raise CatalogError(f"{where}: sentence {sid!r}: kind normative|informative")
    return Sentence(sid, step, raw["kind"], " ".join(raw["text"].split()), raw.get("why", ""))


def load_sentences(path: Path | None = None) -> list[Sentence]:
    """The current text (fixtures/spec/current.toml), in order."""
    return list(_current(path or fixtures_dir() / "spec" / "current.toml"))


@cache
def _current(path: Path) -> tuple[Sentence, ...]:
    raw = read_toml(path)
    return tuple(_sentence(s, path.name) for s in raw["sentence"])


def apply_changes(
    base: list[Sentence], changes: list[dict[str, Any]], where: str
) -> list[Sentence]:
    """`base` with `changes` applied, each `{id, text}` (replaces, or adds after `after` or at
    the end of its part), `{id, remove = true}`, or `{id, kind, why}` (another kind)."""
    out = list(base)
    for change in changes:
        allowed = {"id", "text", "remove", "after", "kind", "why"}
        unknown = set(change) - allowed
        if unknown:
            raise CatalogError(f"{where}: sentence change: unknown key(s) {sorted(unknown)}")
        sid = change["id"]
        step = part_of(sid)
        index = next((i for i, s in enumerate(out) if s.id == sid), None)
        if change.get("remove"):
            if index is None:
                raise CatalogError(f"{where}: removes {sid!r}, which the text it is stated "
                                   "against does not have")  # fmt: skip
            del out[index]
            continue
        if index is not None:
            old = out[index]
            out[index] = replace(
                old,
                text=" ".join(change.get("text", old.text).split()),
                kind=change.get("kind", old.kind),
                why=change.get("why", old.why),
            )
            continue
        new = _sentence({"kind": "normative", **{k: v for k, v in change.items()
                                                 if k != "after"}}, where)  # fmt: skip
        if "after" in change:
            at = next((i + 1 for i, s in enumerate(out) if s.id == change["after"]), None)
            if at is None:
                raise CatalogError(f"{where}: {sid!r} after unknown {change['after']!r}")
        else:
            rank = PARTS.index(step)
            at = max((i + 1 for i, s in enumerate(out) if PARTS.index(s.step) <= rank), default=0)
        out.insert(at, new)
    return out


@cache
def _texts(directory: Path) -> tuple[tuple[str, str, tuple[dict[str, Any], ...]], ...]:
    """(rule sets, stated against, changes) of every [[text]] of spec/texts.toml; the current
    text's `rulesets` first, stated against nothing."""
    spec = directory / "spec"
    current = read_toml(spec / "current.toml")
    out = [(str(current["rulesets"]), "", ())]
    path = spec / "texts.toml"
    if path.exists():
        for t in read_toml(path).get("text", []):
            unknown = set(t) - {"rulesets", "from", "note", "sentence", "reviewed"}
            if unknown:
                raise CatalogError(f"texts.toml: unknown key(s) {sorted(unknown)}")
            out.append((str(t["rulesets"]), str(t["from"]), tuple(t.get("sentence", []))))
    return tuple(out)


def text_of(ruleset: str, directory: Path | None = None) -> list[Sentence] | None:
    """The numbered sentences of `ruleset`'s text, or None where the suite has not recorded it."""
    directory = (directory or fixtures_dir()).resolve()
    return _text_of(registry(directory).resolve(ruleset), directory, ())


def _text_of(name: str, directory: Path, seen: tuple[str, ...]) -> list[Sentence] | None:
    if name in seen:
        raise CatalogError(f"texts: {' -> '.join((*seen, name))} is a cycle")
    reg = registry(directory)
    rs = reg.rule_sets[name]
    if rs.proposal:
        parent = _text_of(rs.parent, directory, (*seen, name))
        if parent is None:
            return None
        changes = reg.raw_proposals[name].get("sentence", [])
        return apply_changes(parent, changes, rs.file)
    for rulesets, against, changes in _texts(directory):
        if not in_range(name, rulesets):
            continue
        if not against:
            return load_sentences(directory / "spec" / "current.toml")
        base = _text_of(reg.resolve(against), directory, (*seen, name))
        if base is None:
            return None
        return apply_changes(base, list(changes), f"texts.toml ({rulesets})")
    return None


def text_entry(ruleset: str, directory: Path | None = None) -> dict[str, Any]:
    """The spec/texts.toml `[[text]]` whose rule sets include `ruleset` ({} if none)."""
    directory = (directory or fixtures_dir()).resolve()
    path = directory / "spec" / "texts.toml"
    if not path.exists():
        return {}
    for t in read_toml(path).get("text", []):
        if in_range(ruleset, str(t["rulesets"])):
            return dict(t)
    return {}


def covers(scenario: Scenario, sentence: Sentence) -> bool:
    """Does the scenario cite `sentence`? By id where it gives ids, else by its quote."""
    if scenario.sentence_ids:
        return sentence.id in scenario.sentence_ids
    return quotes(scenario.sentence, sentence, scenario.step)


def quotes(quote: str, sentence: Sentence, step: str) -> bool:
    """Does `quote` share text with `sentence` (of that step, or a cross-cutting one)?"""
    if sentence.step not in CROSS_CUTTING and sentence.step != step:
        return False
    return sentence.text in quote or quote in sentence.text


def coverage(sentences: list[Sentence], scenarios: list[Scenario]) -> dict[str, list[str]]:
    return {s.id: [sc.id for sc in scenarios if covers(sc, s)] for s in sentences}


def unmatched_quotes(sentences: list[Sentence], scenarios: list[Scenario]) -> list[str]:
    """Scenarios whose quote shares no text with a sentence they cite (or, citing none, with
    any sentence)."""
    by_id = {s.id: s for s in sentences}
    bad = []
    for sc in scenarios:
        if sc.sentence_ids:
            cited = [by_id.get(i) for i in sc.sentence_ids]
            if any(s is None or not quotes(sc.sentence, s, sc.step) for s in cited):
                bad.append(sc.id)
        elif not any(quotes(sc.sentence, s, sc.step) for s in sentences):
            bad.append(sc.id)
    return bad
