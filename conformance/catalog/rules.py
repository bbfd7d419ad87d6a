"""Which rule a failed check breaks, with that rule's own level and sentence.

A scenario checks several rules (fixtures/spec/rules.toml lists them); its own rule is the one its
quoted sentence states (or `rule = ...` in the fixture). A failure of its own rule counts at the
scenario's level and sentence; a failure of another rule counts at that rule's level, with the
sentence the table names for the scenario's step. So an SNI scenario whose resolver sent no SNI,
as required, but a wrong Host is reported as breaking the Host rule (required), not SNI.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

from matrix_resolver_conformance.catalog.load import fixtures_dir, read_toml
from matrix_resolver_conformance.catalog.model import Scenario
from matrix_resolver_conformance.catalog.sentences import load_sentences

RULES = ("destination", "host", "certificate", "request", "sni", "well-known", "caching", "dns",
         "traffic", "contract")  # fmt: skip


@dataclass(frozen=True)
class Rule:
    """A rule as one scenario counts it."""

    name: str
    level: str
    sentence: str  # the text
    sentence_id: str | None  # None: the scenario's own quote (of whichever text it is judged by)


@cache
def _table() -> tuple[dict[str, str], dict[str, dict[str, str]]]:
    raw = read_toml(fixtures_dir() / "spec" / "rules.toml")
    return raw["levels"], raw["sentences"]


@cache
def _texts() -> dict[str, str]:
    return {s.id: s.text for s in load_sentences()}


def own_rule(scenario: Scenario) -> str:
    """The rule a scenario's sentence states: explicit `rule`, else read off the quote."""
    if scenario.rule:
        return scenario.rule
    quote = scenario.sentence
    if "SNI" in quote:
        return "sni"
    if "`Host` header" in quote:
        return "host"
    if "certificate" in quote:
        return "certificate"
    if "cache" in quote:
        return "caching"
    return "destination"


def rule_for(scenario: Scenario, name: str) -> Rule:
    """How `scenario` counts a failure of rule `name`."""
    levels, sentences = _table()
    if name == own_rule(scenario):
        return Rule(name, scenario.level, scenario.sentence, None)
    by_step = sentences.get(name, {})
    sentence_id = by_step.get(scenario.step) or by_step.get("*")
    if sentence_id is None:  # no place of its own here: the scenario's rule speaks for it
        return Rule(name, scenario.level, scenario.sentence, None)
    return Rule(name, levels[name], _texts()[sentence_id], sentence_id)
