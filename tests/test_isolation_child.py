"""The scenario process's own bookkeeping (isolation/child.py), where it can be seen without one."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

import pytest

from matrix_resolver_conformance.isolation.child import imported_since


def test_imported_since_names_the_new_modules_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("mrc_lazy_one", "mrc_lazy_two"):
        (tmp_path / f"{name}.py").write_text("VALUE = 1\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    before = len(sys.modules)
    try:
        importlib.import_module("mrc_lazy_one")  # a resolver's lazy imports, as the child sees them
        importlib.import_module("mrc_lazy_two")

        assert imported_since(before) == ["mrc_lazy_one", "mrc_lazy_two"]
    finally:
        sys.modules.pop("mrc_lazy_one", None)
        sys.modules.pop("mrc_lazy_two", None)


def test_imported_since_is_empty_when_modules_were_removed() -> None:
    assert imported_since(len(sys.modules)) == []
    assert imported_since(len(sys.modules) + 5) == []  # a resolver deleted entries: no guess
