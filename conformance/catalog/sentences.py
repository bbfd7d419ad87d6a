"""The current text's numbered sentences (fixtures/spec/current.toml) and what quotes them.

A scenario quotes the sentence it checks; it covers every numbered sentence that shares that text
(one contains the other) within its own step, or a cross-cutting one (intro, tls, schema, grammar,
srv notes). A quote that matches no sentence is an error: it would be a typo or an invented rule.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from matrix_resolver_conformance.catalog.load import fixtures_dir, read_toml
from matrix_resolver_conformance.catalog.model import Scenario

CROSS_CUTTING = ("intro", "tls", "schema", "grammar", "srv")


@dataclass(frozen=True)
class Sentence:
    id: str
    step: str
    kind: str  # "normative" | "informative"
    text: str
    why: str = ""


def load_sentences(path: Path | None = None) -> list[Sentence]:
    raw = read_toml(path or fixtures_dir() / "spec" / "current.toml")
    return [
        Sentence(s["id"], s["step"], s["kind"], " ".join(s["text"].split()), s.get("why", ""))
        for s in raw["sentence"]
    ]


def covers(scenario: Scenario, sentence: Sentence) -> bool:
    if sentence.step not in CROSS_CUTTING and sentence.step != scenario.step:
        return False
    quote = scenario.sentence
    return sentence.text in quote or quote in sentence.text


def coverage(sentences: list[Sentence], scenarios: list[Scenario]) -> dict[str, list[str]]:
    return {s.id: [sc.id for sc in scenarios if covers(sc, s)] for s in sentences}


def unmatched_quotes(sentences: list[Sentence], scenarios: list[Scenario]) -> list[str]:
    return [sc.id for sc in scenarios if not any(covers(sc, s) for s in sentences)]
