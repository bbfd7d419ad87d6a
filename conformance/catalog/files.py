"""Where the catalog's data lives, and how it is read: fixtures/ (or the copy in the wheel, or
the directory `$MATRIX_RESOLVER_CONFORMANCE_FIXTURES` names), TOML read strictly."""

from __future__ import annotations

import os
import sys
from functools import cache
from pathlib import Path
from typing import Any

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

FIXTURES_ENV = "MATRIX_RESOLVER_CONFORMANCE_FIXTURES"


class CatalogError(ValueError):
    """A fixture file is malformed; the message names the file and scenario."""


def read_toml(path: Path) -> dict[str, Any]:
    with path.open("rb") as f:
        try:
            return tomllib.load(f)
        except tomllib.TOMLDecodeError as e:
            raise CatalogError(f"{path.name}: {e}") from None


def fixtures_dir() -> Path:
    """`$MATRIX_RESOLVER_CONFORMANCE_FIXTURES` when set (a copy of fixtures/ to try a proposal
    in), else fixtures/ of a checkout (or editable install), else the copy shipped in the wheel."""
    return _fixtures_dir(os.environ.get(FIXTURES_ENV) or "")


@cache
def _fixtures_dir(chosen: str) -> Path:
    if chosen:
        path = Path(chosen)
        if not path.is_dir():
            raise CatalogError(f"${FIXTURES_ENV}={chosen}: not a directory")
        return path
    here = Path(__file__).resolve().parent.parent
    for candidate in (here.parent / "fixtures", here / "_fixtures"):
        if candidate.is_dir():
            return candidate
    raise CatalogError(f"no fixtures directory next to {here}")
