"""Shared fixtures of the project's own tests: the scenario catalog and a scenario runner that
uses the same per-process runtime as the suite (`conformance_runtime`, from the plugin)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from conformance.runner import Result, Runtime
from conformance.scenarios import Scenario, load_catalog


@pytest.fixture(scope="session")
def catalog() -> dict[str, Scenario]:
    return {s.id: s for s in load_catalog()}


@pytest.fixture
def run(conformance_runtime: Runtime) -> Callable[[Scenario, Any], Result]:
    """run(scenario, factory) -> Result, in this process, judged like the suite judges."""
    return conformance_runtime.run
