"""A digest of the catalog's data, so a report names exactly which catalog judged it."""

from __future__ import annotations

import hashlib
from pathlib import Path

from matrix_resolver_conformance.catalog.load import fixtures_dir


def catalog_hash(directory: Path | None = None) -> str:
    """sha256 over every file under fixtures/ (names and contents), first 16 hex digits."""
    directory = directory or fixtures_dir()
    digest = hashlib.sha256()
    for path in sorted(p for p in directory.rglob("*") if p.is_file()):
        digest.update(path.relative_to(directory).as_posix().encode() + b"\0")
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]
