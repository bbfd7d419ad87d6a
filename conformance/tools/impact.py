"""`impact NEW_TEXT`: which sentences a new text of the section changes, and which scenarios rest
on them.

NEW_TEXT is the whole `content/server-server-api.md` of a matrix-spec checkout or just the
section "Resolving server names" (with its notes; the TLS subsection too when the file has it).
It is split into the parts the suite numbers (intro, steps 1 ... 6 and 3.1 ... 3.5, the SRV
notes, TLS) and aligned, part by part, with the base text's sentences: a base sentence found
verbatim is unchanged; what is left is paired with the base sentences not found (changed when
similar enough, else removed and added). A new sentence takes the id it has in the current text
when it is one of its sentences, else `<part>/new-K`.

For each changed, added or removed sentence, the dependents are the scenarios whose `rests_on`
names it. A dependent "has an override" when the rule set matching the new text (`--ruleset`,
else the one whose recorded text it is, if any) gives it another expectation than the base does
(what `diff BASE RULESET` lists), and is "reviewed" when that rule set, a proposal, names it or
the sentence in its `[reviewed]` table (why its expectation stays). The exit status is 1 while
a changed normative sentence has a dependent with neither: the catalog has not yet said what
the change means for it. Steps a text removes renumber the rest; each step is matched with the
base step whose sentences it holds.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, field
from typing import Any

from matrix_resolver_conformance.catalog.model import Scenario
from matrix_resolver_conformance.catalog.rulesets import registry
from matrix_resolver_conformance.catalog.sentences import (
    Sentence,
    load_sentences,
    text_entry,
    text_of,
)
from matrix_resolver_conformance.tools.specdiff import diff

SIMILAR = 0.6  # difflib ratio above which a left-over piece is the base sentence, changed
SECTION_PARTS = ("intro", "1", "2", "3", "3.1", "3.2", "3.3", "3.4", "3.5", "4", "5", "6", "srv")


class ImpactError(ValueError):
    """NEW_TEXT cannot be read as the section."""


def _clean(text: str) -> str:
    text = re.sub(r"<!--.*?-->", " ", text, flags=re.S)
    text = re.sub(r"\{\{[<%].*?[%>]\}\}", " ", text)  # Hugo shortcodes
    text = re.sub(r"\*\*\[Deprecated\]\*\*", " ", text)
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", text)  # links: their text
    return " ".join(text.split())


def _section(markdown: str) -> tuple[str, str | None]:
    """(the section's markdown, the TLS subsection's or None) of a page or a bare section."""
    lines = markdown.splitlines()
    heading = re.compile(r"^(#+)\s+(.*?)\s*#*\s*$")

    def block(title: re.Pattern[str]) -> str | None:
        for i, line in enumerate(lines):
            m = heading.match(line)
            if m and title.fullmatch(m.group(2).strip()):
                level = len(m.group(1))
                end = next((j for j in range(i + 1, len(lines))
                            if (h := heading.match(lines[j])) and len(h.group(1)) <= level),
                           len(lines))  # fmt: skip
                return "\n".join(lines[i + 1 : end])
        return None

    section = block(re.compile(r"Resolving server names", re.I))
    tls = block(re.compile(r"TLS", re.I))
    if section is None:
        if any(heading.match(line) for line in lines):
            raise ImpactError("no heading 'Resolving server names' in NEW_TEXT")
        section = markdown
    return section, tls


def split_parts(markdown: str) -> dict[str, str]:
    """The section as the suite numbers it: part -> its text (cleaned, one line)."""
    section, tls = _section(markdown)
    parts: dict[str, list[str]] = {}
    current = "intro"
    top = ""
    in_note = False
    for line in section.splitlines():
        if re.search(r"\{\{[<%]\s*boxes/note", line):
            in_note, current = True, "srv"
            continue
        if re.search(r"\{\{[<%]\s*/boxes/note", line):
            in_note = False
            continue
        if in_note:
            line = re.sub(r"^\s*(?:\d+\.|[-*>])\s+", "", line)
            line = re.sub(r"^\s*>\s*", "", line)
        elif m := re.match(r"^(\d+)\.\s+(.*)$", line):
            top = current = m.group(1)
            line = m.group(2)
        elif (m := re.match(r"^ {2,6}(\d+)\.\s+(.*)$", line)) and top == "3":
            current = f"3.{m.group(1)}"
            line = m.group(2)
        parts.setdefault(current, []).append(line)
    out = {part: _clean("\n".join(text)) for part, text in parts.items()}
    if tls is not None:
        out["tls"] = _clean(tls)
    return {k: v for k, v in out.items() if v}


def _pieces(text: str) -> list[str]:
    """What is left of a part, as sentences (punctuation-only scraps dropped)."""
    out = []
    for chunk in text.split("\0"):
        for piece in re.split(r"(?<=[.!?:])\s+(?=[A-Z`*(\[])", chunk):
            piece = piece.strip()
            if re.search(r"[A-Za-z]{2}", piece):
                out.append(piece)
    return out


@dataclass
class Change:
    id: str
    part: str
    what: str  # "changed" | "added" | "removed"
    kind: str  # "normative" | "informative"
    old: str = ""
    new: str = ""
    dependents: list[dict[str, Any]] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return {"id": self.id, "part": self.part, "change": self.what, "kind": self.kind,
                "old": self.old, "new": self.new, "dependents": self.dependents}  # fmt: skip


GROUPS = (("1", "2", "3", "4", "5", "6"), ("3.1", "3.2", "3.3", "3.4", "3.5"))


def renumber(base: list[Sentence], parts: dict[str, str]) -> dict[str, str]:
    """`parts` under the base's numbers. A text that removes a step renumbers the ones after it
    (v1.19 without 3.4 calls 3.5 "3.4"), so the steps of each level are matched, in order, with
    the base steps whose sentences they hold (the best alignment; a step's own number breaks
    ties), and a step matched with none keeps its number."""
    out = {k: v for k, v in parts.items() if not any(k in g for g in GROUPS)}
    for group in GROUPS:
        new = [p for p in group if p in parts]
        old = [q for q in group if any(s.step == q for s in base)]

        def score(p: str, q: str) -> float:
            held = sum(s.text in parts[p] for s in base if s.step == q)
            return held + (0.5 if p == q else 0.0) if held or p == q else 0.0

        # best[i][j]: the best total for new[:i] against old[:j], with its matching
        best: list[list[tuple[float, list[tuple[str, str]]]]] = [
            [(0.0, [])] * (len(old) + 1) for _ in range(len(new) + 1)
        ]
        for i in range(1, len(new) + 1):
            for j in range(1, len(old) + 1):
                options = [best[i - 1][j], best[i][j - 1]]
                gain = score(new[i - 1], old[j - 1])
                if gain > 0:
                    total, pairs = best[i - 1][j - 1]
                    options.append((total + gain, [*pairs, (new[i - 1], old[j - 1])]))
                best[i][j] = max(options, key=lambda option: option[0])
        matched = dict(best[len(new)][len(old)][1])
        taken = set(matched.values())
        for p in new:
            q = matched.get(p, p if p not in taken else f"{p}?")
            out[q] = parts[p]
    return out


def align(base: list[Sentence], parts: dict[str, str]) -> list[Change]:
    """The changed, added and removed sentences of `parts` against `base`."""
    current = load_sentences()
    parts = renumber(base, parts)
    changes: list[Change] = []
    compared = [p for p in SECTION_PARTS if p in parts or any(s.step == p for s in base)]
    compared += [p for p in parts if p not in SECTION_PARTS and p != "tls"]  # "3.4?": unplaced
    if "tls" in parts:
        compared.append("tls")
    for part in compared:
        text = parts.get(part, "")
        olds = [s for s in base if s.step == part]
        missing = []
        for s in olds:
            if s.text in text:
                text = text.replace(s.text, "\0", 1)
            else:
                missing.append(s)
        used = {s.id for s in olds}
        known: list[tuple[int, Sentence]] = []  # sentences of the current text, added here
        for c in current:
            if c.step == part and c.id not in used and c.text in text:
                known.append((text.index(c.text), c))
                text = text.replace(c.text, "\0", 1)
        pieces = _pieces(text)
        for s in missing:
            scores = [difflib.SequenceMatcher(None, s.text, p).ratio() for p in pieces]
            best = max(range(len(pieces)), key=lambda i: scores[i], default=None)
            if best is not None and scores[best] >= SIMILAR:
                changes.append(Change(s.id, part, "changed", s.kind, s.text, pieces.pop(best)))
            else:
                changes.append(Change(s.id, part, "removed", s.kind, s.text))
        for _, c in sorted(known, key=lambda kc: kc[0]):
            changes.append(Change(c.id, part, "added", c.kind, new=c.text))
        prefix = part if part in ("intro", "srv", "tls") else f"step{part}"
        for k, piece in enumerate(pieces, 1):
            changes.append(Change(f"{prefix}/new-{k}", part, "added", "normative", new=piece))
    return changes


def matching_ruleset(parts: dict[str, str]) -> str | None:
    """The rule set whose recorded text NEW_TEXT is (every part it has, sentence for sentence)."""
    reg = registry()
    for name in [*reversed(reg.history), *reg.proposals]:
        sentences = text_of(name)
        if sentences is not None and not align(sentences, parts):
            return name
    return None


def _reviewed(name: str | None) -> dict[str, str]:
    """`[reviewed]` of a proposal, or of the spec/texts.toml entry of a text of the history:
    sentence or scenario id -> why the change leaves those dependents' expectations as they
    are (they then need no override)."""
    reg = registry()
    if name is None:
        return {}
    if reg.get(name).proposal:
        table = reg.raw_proposals[name].get("reviewed", {})
    else:
        table = text_entry(name).get("reviewed", {})
    return {str(k): str(v) for k, v in table.items()}


def impact(
    markdown: str, catalog: list[Scenario], base: str = "latest", ruleset: str | None = None
) -> dict[str, Any]:
    reg = registry()
    base = reg.resolve(base)
    base_text = text_of(base)
    if base_text is None:
        raise ImpactError(f"the suite has no recorded text of {base} (spec/texts.toml)")
    parts = split_parts(markdown)
    changes = align(base_text, parts)
    against = reg.resolve(ruleset) if ruleset else matching_ruleset(parts)
    overridden = {row["id"] for row in diff(catalog, base, against)} if against else set()
    reviewed = _reviewed(against)
    for c in changes:
        for s in catalog:
            applies = not isinstance(s.under(base), str) or s.id in overridden
            if c.id in s.rests_on and applies:
                why = reviewed.get(s.id) or reviewed.get(c.id) or ""
                c.dependents.append(
                    {"id": s.id, "level": s.level, "step": s.step,
                     "override": s.id in overridden, "reviewed": why}
                )  # fmt: skip
    unreviewed = sorted(
        {d["id"] for c in changes if c.kind == "normative" for d in c.dependents
         if not d["override"] and not d["reviewed"]}
    )  # fmt: skip
    return {
        "base": base,
        "ruleset": against,
        "changes": [c.as_json() for c in changes],
        "overridden": sorted(overridden),
        "unreviewed": unreviewed,
    }


def markdown_report(report: dict[str, Any]) -> str:
    """Something a bot can post on a spec pull request."""
    changes = report["changes"]
    against = (
        f" (the catalog's rule set for it: `{report['ruleset']}`)" if report["ruleset"] else ""
    )
    lines = [f"### Resolving server names: impact against `{report['base']}`{against}", ""]
    if not changes:
        return "\n".join([*lines, "No sentence changes.", ""])
    counts = {w: sum(c["change"] == w for c in changes) for w in ("changed", "added", "removed")}
    lines.append(", ".join(f"{n} {w}" for w, n in counts.items() if n) + " sentence(s).")
    lines.append("")
    for c in changes:
        head = f"- **{c['id']}** {c['change']} ({c['kind']})"
        lines.append(head)
        if c["old"]:
            lines.append(f"  - was: {c['old']}")
        if c["new"]:
            lines.append(f"  - now: {c['new']}")
        if c["dependents"]:
            shown = ", ".join(
                f"`{d['id']}`"
                + (" (override)" if d["override"] else " (reviewed)" if d["reviewed"]
                   else " **(no override)**")
                for d in c["dependents"]
            )  # fmt: skip
            lines.append(f"  - rests on it: {shown}")
    lines.append("")
    if report["unreviewed"]:
        lines.append(
            f"**{len(report['unreviewed'])} scenario(s) rest on a changed normative sentence "
            "without an override for the new text**: say what the change means for them (an "
            'override, fixtures/README.md "Proposals").'
        )
    else:
        lines.append("Every scenario resting on a changed normative sentence has an override.")
    return "\n".join([*lines, ""])
