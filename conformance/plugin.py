"""The pytest plugin (entry point `pytest11`): one test per scenario, levels, reports.

Loaded by every pytest in an environment where the suite is installed, so it costs an unrelated
run almost nothing: it registers its options (all `--conformance-...`, see `options`) and
markers, and imports nothing else until a run targets the scenarios. Only its own test function
(`test_scenarios.test_scenario`) is parametrized; the world's network and certificate authority
are made by the first scenario that runs.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import pytest

from matrix_resolver_conformance.options import (
    LEVELS,
    PACKAGE_DIR,
    add_options,
    read_options,
    rewrite_shorthands,
)

if TYPE_CHECKING:  # imported when a run targets the scenarios (asyncio and ssl are not cheap)
    from matrix_resolver_conformance.catalog.model import Scenario
    from matrix_resolver_conformance.run.runtime import Runtime
    from matrix_resolver_conformance.session import Suite

SCENARIO_FILE = PACKAGE_DIR / "test_scenarios.py"
SCENARIO_TEST = "test_scenario"
STEP_MARKERS = (
    "1", "2", "3", "3.1", "3.2", "3.3", "3.4", "3.5", "4", "5", "6", "tls", "grammar",
)  # fmt: skip  # as catalog.model.STEPS (a test checks)
SUITE = pytest.StashKey["Suite"]()


def step_marker(step: str) -> str:
    """`3.3` -> `step3_3`, `tls` -> `step_tls`: a marker name for `-m`."""
    return f"step{step.replace('.', '_')}" if step[0].isdigit() else f"step_{step}"


def pytest_addoption(parser: pytest.Parser) -> None:
    add_options(parser)


@pytest.hookimpl(trylast=True)  # after the initial conftests have registered their options
def pytest_load_initial_conftests(
    early_config: pytest.Config, parser: pytest.Parser, args: list[str]
) -> None:
    rewrite_shorthands(args, parser)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "conformance: a Matrix server-name resolution scenario")
    for level in LEVELS:
        config.addinivalue_line("markers", f"{level}: a conformance scenario of level {level}")
    for step in STEP_MARKERS:
        config.addinivalue_line("markers", f"{step_marker(step)}: scenarios of step {step}")
    if _targets_scenarios(config):
        _start_suite(config)


def _targets_scenarios(config: pytest.Config) -> bool:
    """Will this run collect our scenario test? Decided from the paths it was given, so that
    unrelated runs never load the suite."""
    for arg in config.args:
        head = arg.split("::", 1)[0]
        path = _pyarg_path(head) if config.option.pyargs else None
        path = path or (config.invocation_params.dir / head)
        try:
            path = path.resolve()
        except OSError:
            continue
        if path in (SCENARIO_FILE, PACKAGE_DIR) or path in PACKAGE_DIR.parents:
            return True
    return False


def _pyarg_path(name: str) -> Path | None:
    import importlib.util

    try:
        spec = importlib.util.find_spec(name)
    except (ImportError, ValueError):
        return None
    if spec is None or spec.origin is None:
        return None
    origin = Path(spec.origin)
    return origin.parent if origin.name == "__init__.py" else origin


def _suite(config: pytest.Config) -> Suite:
    """The run's state; made on demand for runs that reached the scenarios unannounced."""
    if SUITE not in config.stash:
        _start_suite(config, start=False)
    return config.stash[SUITE]


def _start_suite(config: pytest.Config, start: bool = True) -> None:
    from matrix_resolver_conformance.session import Suite

    suite = Suite(config, read_options(config))
    config.stash[SUITE] = suite
    config.pluginmanager.register(suite, "matrix-resolver-conformance-suite")
    config.add_cleanup(suite.close)
    suite.prepare(start)


# -- collection --------------------------------------------------------------------------------


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> pytest.Module | None:
    """Our scenario file is collected even where `python_files` would not match it."""
    if file_path != SCENARIO_FILE or parent.session.isinitpath(file_path):
        return None
    patterns = parent.config.getini("python_files")
    if any(fnmatch.fnmatch(file_path.name, p) for p in patterns):
        return None  # pytest's own collector takes it
    return pytest.Module.from_parent(parent, path=file_path)


@pytest.hookimpl(tryfirst=True)
def pytest_pycollect_makeitem(collector: pytest.Collector, name: str, obj: object) -> Any:
    """... and its test function even where `python_functions` would not match it."""
    if name != SCENARIO_TEST or collector.path != SCENARIO_FILE:
        return None
    if not isinstance(collector, pytest.Module) or collector.funcnamefilter(name):
        return None  # collected as usual
    return list(collector._genfunctions(name, obj))  # the only way to get parametrization


def _is_ours(function: Callable[..., Any], path: Path) -> bool:
    return function.__name__ == SCENARIO_TEST and path == SCENARIO_FILE


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if not _is_ours(metafunc.function, metafunc.definition.path):
        return
    from matrix_resolver_conformance.catalog import CatalogError, load_catalog

    suite = _suite(metafunc.config)
    try:
        catalog = load_catalog()
    except CatalogError as e:
        raise pytest.UsageError(f"scenario catalog: {e}") from None
    metafunc.parametrize("scenario", catalog, ids=[s.id for s in catalog])
    if len(suite.options.rulesets) > 1:
        metafunc.parametrize("conformance_ruleset", suite.options.rulesets)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    several = SUITE in config.stash and len(config.stash[SUITE].options.rulesets) > 1
    for item in items:
        if not isinstance(item, pytest.Function) or not _is_ours(item.function, item.path):
            continue
        scenario = cast("Scenario", item.callspec.params["scenario"])
        item.add_marker(pytest.mark.conformance)
        item.add_marker(scenario.level)
        item.add_marker(step_marker(scenario.step))
        if several:  # keep a scenario's rule sets on one worker, so shared runs are reused
            item.add_marker(pytest.mark.xdist_group(scenario.id))


# -- fixtures ----------------------------------------------------------------------------------


@pytest.fixture
def conformance_ruleset(pytestconfig: pytest.Config) -> str:
    """The rule set a scenario is judged by (parametrized when several are selected)."""
    return _suite(pytestconfig).options.rulesets[0]


@pytest.fixture(scope="session")
def conformance_runtime(pytestconfig: pytest.Config) -> Iterator[Runtime]:
    suite = _suite(pytestconfig)
    yield suite.runtime()
    suite.close_runtime()


@pytest.fixture
def conformance_run_scenario(
    request: pytest.FixtureRequest, conformance_runtime: Runtime
) -> Callable[[Scenario, str], None]:
    """Run one scenario against the selected resolver and turn its verdict into a test outcome."""
    suite = _suite(request.config)
    return lambda scenario, ruleset: suite.judge(request, conformance_runtime, scenario, ruleset)


# Reporting (header, results, JUnit shaping, summaries, exit status) is done by the `Suite`,
# registered as a plugin of its own by `pytest_configure` when a run targets the scenarios.
