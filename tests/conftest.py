"""Shared fixtures of the project's own tests: the scenario catalog and a scenario runner that
uses the same per-process runtime as the suite (`conformance_runtime`, from the plugin).

The tests connect to the world's servers from this process and run the broken resolvers on
threads of it, so this process's main thread joins the world's network namespace (root only:
an ordinary user cannot move a thread into a user namespace; CI runs these tests as root).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from matrix_resolver_conformance.catalog import Scenario, load_catalog
from matrix_resolver_conformance.run.runtime import Result, Runtime
from tests import venvs


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


# -- the suite as a user installs it (test_neighbours*, test_wheel, test_unprivileged) --------


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "slow: builds a wheel or a venv from PyPI (a minute or more the first time)"
    )


def pytest_sessionfinish(session: pytest.Session) -> None:
    """The controller (or a serial run) removes what the builds made outside the run's root."""
    factory = getattr(session.config, "_tmp_path_factory", None)  # pytest's own; xdist uses it
    if getattr(factory, "_basetemp", None) and not hasattr(session.config, "workerinput"):
        venvs.remove_outside(factory.getbasetemp())  # type: ignore[union-attr]  # set: checked above


@pytest.fixture(scope="session")
def project_wheel(pytestconfig: pytest.Config, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The project's wheel, built once per run from (a copy of) this checkout."""
    folder = venvs.built_once(pytestconfig, tmp_path_factory, "wheel", venvs.build_wheel)
    (wheel,) = folder.glob("wheels/*.whl")
    return wheel


@pytest.fixture(scope="session")
def neighbour_venv(
    pytestconfig: pytest.Config, tmp_path_factory: pytest.TempPathFactory, project_wheel: Path
) -> venvs.Venv:
    """A fresh venv (from this interpreter) with PyPI's `harness`, then the wheel and the
    pytest plugins most likely to be its neighbours; once per run."""

    def build(folder: Path) -> None:
        venvs.make_venv(
            sys.executable,
            folder / "venv",
            [venvs.PYPI_HARNESS],
            [project_wheel, *venvs.PLUGINS],
        )

    return venvs.Venv(
        venvs.built_once(pytestconfig, tmp_path_factory, "neighbours", build) / "venv"
    )
