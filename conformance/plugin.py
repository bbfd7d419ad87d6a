"""The pytest plugin (entry point `pytest11`): options, one test per scenario, levels, report.

Loaded by every pytest in an environment where the suite is installed, so it does nothing until
scenarios are actually collected: options are validated at configure time, the world's network
and certificate authority are created by the first scenario that runs.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from conformance import report
from conformance.loading import ResolverLoadError, load_factory
from conformance.rulesets import ORDER, RuleSetError, resolve_spec
from conformance.runner import Runtime, Settings
from conformance.scenarios import LEVELS, CatalogError, Scenario, load_catalog
from harness.netns import NetworkUnavailable

OPTIONS_KEY = pytest.StashKey[dict[str, Any]]()
RESULTS_KEY = pytest.StashKey[list[dict[str, Any]]]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("matrix-resolver-conformance", "Matrix server-name resolution suite")
    group.addoption("--resolver", default="reference", metavar="MODULE:ATTR|NAME",
                    help="resolver factory under test (default: the built-in 'reference')")
    group.addoption("--level", default="robustness", choices=LEVELS,
                    help="failures at this level and above fail the run; below it they are "
                         "reported as xfail (default: robustness, i.e. everything counts)")
    group.addoption("--spec", default="latest", metavar="RELEASE",
                    help="spec release whose rules apply: a release (r0.1.0 ... v1.19), a seed "
                         "draft (draft-b971bcee ...), several separated by commas, or 'all' "
                         "(default: latest)")
    group.addoption("--conformance-report", default=None, metavar="PATH",
                    help="write a JSON report of every scenario's outcome to PATH")
    group.addoption("--step-timeout", type=float, default=1.0, metavar="SECONDS",
                    help="env.timeout: seconds a resolver may spend on any one step (default 1)")
    group.addoption("--netns", default="auto", choices=("auto", "require", "off"),
                    help="run the fake world in a private network namespace (default: auto)")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "conformance: a Matrix server-name resolution scenario")
    opts = {k: config.getoption(k) for k in ("resolver", "level", "spec", "step_timeout", "netns")}
    if opts["step_timeout"] <= 0:
        raise pytest.UsageError("--step-timeout must be a positive number of seconds")
    try:
        names = list(ORDER) if opts["spec"] == "all" else opts["spec"].split(",")
        opts["specs"] = [resolve_spec(n.strip()) for n in names]
        opts["spec_name"] = opts["specs"][0] if len(opts["specs"]) == 1 else opts["spec"]
    except RuleSetError as e:
        raise pytest.UsageError(f"--spec={opts['spec']}: {e}") from None
    try:
        opts["factory"] = load_factory(opts["resolver"])
    except ResolverLoadError as e:
        raise pytest.UsageError(str(e)) from None
    config.stash[OPTIONS_KEY] = opts
    if len(opts["specs"]) > 1 and getattr(config.option, "dist", "no") == "load":
        # Keep a scenario's rule sets on one worker, so shared runs are reused (see README).
        config.option.dist = "loadgroup"
    collector = _Collector()
    config.stash[RESULTS_KEY] = collector.results
    config.pluginmanager.register(collector, "matrix-resolver-conformance-collector")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if OPTIONS_KEY not in config.stash or len(config.stash[OPTIONS_KEY]["specs"]) < 2:
        return
    for item in items:
        scenario = getattr(item, "callspec", None) and item.callspec.params.get("scenario")
        if scenario is not None:
            item.add_marker(pytest.mark.xdist_group(scenario.id))


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "scenario" not in metafunc.fixturenames:
        return
    try:
        catalog = load_catalog()
    except CatalogError as e:
        pytest.fail(f"scenario catalog: {e}", pytrace=False)
    metafunc.parametrize("scenario", catalog, ids=[s.id for s in catalog])
    specs = metafunc.config.stash[OPTIONS_KEY]["specs"]
    if len(specs) > 1 and "ruleset" in metafunc.fixturenames:
        metafunc.parametrize("ruleset", specs)


@pytest.fixture
def ruleset(pytestconfig: pytest.Config) -> str:
    """The rule set a scenario is judged by (parametrized when --spec names several)."""
    return pytestconfig.stash[OPTIONS_KEY]["specs"][0]


@pytest.fixture(scope="session")
def conformance_runtime(pytestconfig: pytest.Config) -> Iterator[Runtime]:
    opts = pytestconfig.stash[OPTIONS_KEY]
    try:
        settings = Settings(timeout=opts["step_timeout"], netns=opts["netns"],
                            spec=opts["specs"][0])
        runtime = Runtime(settings)
    except NetworkUnavailable as e:
        pytest.exit(str(e), returncode=pytest.ExitCode.USAGE_ERROR)
    yield runtime
    runtime.close()


@pytest.fixture
def run_scenario(
    request: pytest.FixtureRequest, conformance_runtime: Runtime
) -> Callable[[Scenario, str], None]:
    """Run one scenario against the selected resolver and turn its verdict into a test outcome."""
    opts = request.config.stash[OPTIONS_KEY]
    gate = LEVELS.index(opts["level"])

    def run(scenario: Scenario, ruleset: str) -> None:
        result = conformance_runtime.run(scenario, opts["factory"], spec=ruleset)
        entry = report.entry(result)
        request.node.user_properties.append(("conformance", entry))
        if result.verdict is None:
            pytest.skip(result.skipped)
        verdict = result.verdict
        if verdict.passed:
            return
        message = f"rule set {ruleset}; resolver {opts['resolver']}\n{verdict.message}"
        if LEVELS.index(scenario.level) <= gate:
            pytest.fail(message, pytrace=False)
        pytest.xfail(f"below --level={opts['level']} (not failing the run): {verdict.problems[0]}")

    return run


def _version(factory: Any) -> str | None:
    """`factory.version` (a string, or a callable returning one) names what was tested."""
    version = getattr(factory, "version", None)
    try:
        return str(version()) if callable(version) else version
    except Exception as e:  # a report must not fail over a version string
        return f"unknown ({e})"


class _Collector:
    """Gathers each scenario's report entry; under xdist the controller sees every worker's."""

    def __init__(self) -> None:
        self.results: list[dict[str, Any]] = []

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if report.when == "call" or (report.when == "setup" and report.skipped):
            self.results += [entry for key, entry in report.user_properties if key == "conformance"]


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    if RESULTS_KEY not in config.stash or not config.stash[RESULTS_KEY]:
        return
    opts = config.stash[OPTIONS_KEY]
    results = config.stash[RESULTS_KEY]
    gate = LEVELS.index(opts["level"])
    below = [r for r in results if r["outcome"] == "failed" and LEVELS.index(r["level"]) > gate]
    tr = terminalreporter
    if below:
        tr.section(f"conformance: {len(below)} failure(s) below --level={opts['level']}")
        for r in below:
            tr.write_line(f"[{r['level']}] {r['id']}: {r['problems'][0] if r['problems'] else ''}")
    tr.write_line(report.summary_line(results, opts["resolver"], opts["spec_name"]))
    path = config.getoption("conformance_report")
    if path and not hasattr(config, "workerinput"):
        report.write(path, results, opts["resolver"], opts["spec_name"],
                     _version(opts["factory"]))
        tr.write_line(f"conformance report written to {path}")
