"""Shared fixtures of the project's own tests: the scenario catalog and a scenario runner that
uses the same per-process runtime as the suite (`conformance_runtime`, from the plugin).

The tests connect to the world's servers from this process and run the broken resolvers on
threads of it, so this process's main thread joins the world's network namespace (root only:
an ordinary user cannot move a thread into a user namespace; CI runs these tests as root).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from matrix_resolver_conformance.catalog import Scenario, load_catalog
from matrix_resolver_conformance.run.runtime import Result, Runtime


@pytest.fixture(scope="session")
def catalog() -> dict[str, Scenario]:
    return {s.id: s for s in load_catalog()}


@pytest.fixture(scope="session")
def conformance_runtime(conformance_runtime: Runtime) -> Iterator[Runtime]:
    if os.geteuid() != 0 and conformance_runtime.network.private:
        pytest.skip(
            "the project's world tests join the namespace from their own thread: "
            "run them as root (CI does)"
        )
    conformance_runtime.network.enter_current_thread()
    yield conformance_runtime


@pytest.fixture
def run(conformance_runtime: Runtime) -> Callable[[Scenario, Any], Result]:
    """run(scenario, factory) -> Result, in this process, judged like the suite judges."""
    return conformance_runtime.run
