"""Every reference to the spec's history points into the repository's own page, at an anchor
that exists: no text (code, fixtures, docs) may send a reader to a document the project does not
carry, or to an anchor that was renamed away."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PAGE = "docs/spec-history.md"
REFERENCE = re.compile(r"docs/spec-history\.md#([A-Za-z0-9][A-Za-z0-9._:-]*[A-Za-z0-9])")
ANCHOR = re.compile(r"""<a\s+(?:[^>]*\s)?id\s*=\s*["']([^"']+)["']""")
ELSEWHERE = re.compile(
    r"(?<!spec-)\bhistory\.md\b|\bshared/spec\b|§\s*(?:5\.1|1[ab])\b|\b5\.1\s+items?\b"
    r"|\bhistory\s+\d+(?:\.\d+)?\b",
    re.IGNORECASE,
)
TEXT = (".py", ".toml", ".md", ".txt", ".yml", ".yaml", ".mjs", ".cfg", ".ini")


def _tracked() -> list[str]:
    out = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard"],
                         cwd=ROOT, capture_output=True, text=True, check=True)  # fmt: skip
    return [p for p in out.stdout.splitlines() if p.endswith(TEXT) and (ROOT / p).is_file()]


def test_every_reference_names_an_anchor_of_the_page() -> None:
    anchors = set(ANCHOR.findall((ROOT / PAGE).read_text(encoding="utf-8")))
    assert len(anchors) > 50
    dangling = []
    for path in _tracked():
        for n, line in enumerate((ROOT / path).read_text(encoding="utf-8").splitlines(), 1):
            dangling += [f"{path}:{n}: #{a}" for a in REFERENCE.findall(line) if a not in anchors]
    assert not dangling, "anchors missing from docs/spec-history.md:\n" + "\n".join(dangling)


def test_no_reference_to_a_history_outside_the_repository() -> None:
    outside = []
    for path in _tracked():
        if path in (PAGE, "tests/test_spec_history.py"):
            continue  # the page's table of old numbers must name them; this file names patterns
        for n, line in enumerate((ROOT / path).read_text(encoding="utf-8").splitlines(), 1):
            if ELSEWHERE.search(line):
                outside.append(f"{path}:{n}: {line.strip()[:120]}")
    assert not outside, "references to a history document not in the repository:\n" + "\n".join(
        outside
    )
