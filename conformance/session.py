"""The run's state: what is under test, where the world lives, and every scenario's result.

One `Suite` per pytest process whose run targets the scenarios, registered as a plugin. Before
anything runs (and before xdist starts workers) it checks what can be checked: the options, that
the implementation loads, that the world's network can be made; each problem is one line. It
then turns each scenario's result into a test outcome, gathers the results where they all meet
(the controller under xdist), shapes them for JUnit, and ends the run with its summaries.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import pytest

from matrix_resolver_conformance.options import LEVELS, RunOptions

if TYPE_CHECKING:
    from matrix_resolver_conformance.catalog.model import Scenario
    from matrix_resolver_conformance.homeservers.profile import Profile
    from matrix_resolver_conformance.homeservers.subject import HomeserverSubject
    from matrix_resolver_conformance.isolation.subject import IsolatedSubject
    from matrix_resolver_conformance.run.runtime import Runtime, Subject
    from matrix_resolver_harness.netns import NetworkSetup

ENTRY = "conformance-entry"  # the user property that carries a result to the controller
PROPERTIES = ("step", "level", "spec", "sentence")  # what JUnit shows of a scenario
BUILT_IN = "reference"


class _Crash:
    """What JUnit and `-r` summaries show of a failure: one line (duck-types ReprFileLocation)."""

    def __init__(self, path: str, message: str) -> None:
        self.path, self.lineno, self.message = path, 0, message


class ConformanceFailure:
    """A failed scenario's report: the whole verdict for the terminal, one line for JUnit."""

    def __init__(self, text: str, message: str, path: str) -> None:
        self.text = text
        self.reprcrash = _Crash(path, message)

    def toterminal(self, tw: Any) -> None:
        for line in self.text.splitlines():
            tw.line(line)

    def __str__(self) -> str:
        return self.text


class Suite:
    def __init__(self, config: pytest.Config, options: RunOptions) -> None:
        self.config = config
        self.options = options
        self.worker = hasattr(config, "workerinput")
        self.controller = not self.worker and config.getoption("dist", "no") != "no"
        self.results: dict[str, dict[str, Any]] = {}  # nodeid -> entry: reruns count once
        self.version: str | None = None
        self.network: NetworkSetup | None = None
        self._runtime: Runtime | None = None
        self._subject: Subject | None = None
        self.factory: Callable[..., Any] | None = None  # in-process mode only
        self.profile: Profile | None = None  # --homeserver only
        self._fallback = ""  # why there is no private namespace, when auto mode fell back
        self._fallback_cause = ""  # what refused it (a key of netns_holder.refusal_cause)
        self._network_text = ""  # the header's account of it (the controller closes its own)

    # -- before the run -----------------------------------------------------------------------

    def prepare(self, start: bool = True) -> None:
        """Check everything that can fail before any scenario runs (not in xdist workers: the
        controller has, and an error there is one line instead of a worker crash each).
        `start`: also start the implementation (runs that target the scenarios)."""
        if self.worker:
            return
        if self.options.homeserver:
            self.profile = self._load_profile()
        self.network = self._open_network()
        self._network_text = self.network.describe()
        if self.config.option.collectonly:
            start = False  # --co: nothing runs, nothing needs starting
        if self.options.in_process:
            self._load_in_process()
        elif not start:
            pass
        elif self.options.homeserver:
            self._probe_homeserver()
        elif self.controller and self.options.resolver == BUILT_IN:
            from matrix_resolver_conformance import __version__

            self.version = f"matrix-resolver-conformance {__version__}"
        elif self.controller:  # a probe: the workers start their own
            probe = self._isolated(self.network)
            loop = asyncio.new_event_loop()
            try:
                self.version = loop.run_until_complete(self._start(probe)).get("version")
            finally:
                loop.run_until_complete(probe.aclose())
                loop.close()
        else:  # serial: this template serves the run
            runtime = self.runtime()
            self._subject = self._isolated(self.network, runtime.pki.ca_file)
            self.version = runtime.loop.run_until_complete(self._start(self._subject)).get(
                "version"
            )
        if self.controller:
            self.network.close()
            self.network = None

    def _open_network(self) -> NetworkSetup:
        from matrix_resolver_conformance.run.unavailable import ways_out
        from matrix_resolver_harness.netns import NetworkUnavailable, open_network

        def fell_back(refusal: NetworkUnavailable) -> None:
            self._fallback, self._fallback_cause = refusal.reason, refusal.cause

        mode = self.options.netns
        try:
            network = open_network(mode, on_fallback=fell_back)
        except NetworkUnavailable as e:
            raise pytest.UsageError(ways_out(e.reason, e.cause, mode)) from None
        if not network.private and not network.can_bind_privileged():
            network.close()
            if self._fallback:
                reason = f"{self._fallback}, and ports below 1024 cannot be bound here instead"
                raise pytest.UsageError(ways_out(reason, self._fallback_cause, mode))
            reason = "no private namespace (--conformance-netns=off), and ports below 1024 cannot "
            reason += "be bound here"
            raise pytest.UsageError(ways_out(reason, "off", mode))
        return network

    def _load_profile(self) -> Profile:
        from matrix_resolver_conformance.homeservers.profile import ProfileError, load_profile

        assert self.options.homeserver is not None
        try:
            return load_profile(self.options.homeserver)
        except ProfileError as e:
            raise pytest.UsageError(str(e)) from None

    def _homeserver(self, runtime: Runtime) -> HomeserverSubject:
        from matrix_resolver_conformance.homeservers.subject import HomeserverSubject

        if self.profile is None:
            self.profile = self._load_profile()
        return HomeserverSubject(self.profile, runtime.network, runtime.pki.ca_file,
                                 self.options.homeserver_bin)  # fmt: skip

    def _probe_homeserver(self) -> None:
        """Start it once before anything runs: a server that cannot start is one message with
        its last output, not a failure per scenario. Serial runs keep it for the run."""
        from matrix_resolver_conformance.homeservers.process import HomeserverFailed

        runtime = self.runtime()
        subject = self._homeserver(runtime)
        self.version = subject.version()
        try:
            runtime.loop.run_until_complete(subject.start())
        except HomeserverFailed as e:
            runtime.loop.run_until_complete(subject.aclose())
            raise pytest.UsageError(f"--homeserver={self.options.homeserver}: {e}") from None
        if self.controller:
            runtime.loop.run_until_complete(subject.aclose())
            self.close_runtime()
        else:
            self._subject = subject

    def _load_in_process(self) -> None:
        from matrix_resolver_conformance.run.resolvers import ResolverLoadError, describe, load

        try:
            factory = load(self.options.resolver)
        except ResolverLoadError as e:
            raise pytest.UsageError(str(e)) from None
        self.factory = factory
        self.version = describe(factory, [])["version"]

    def _isolated(self, network: NetworkSetup, ca_file: str | None = None) -> IsolatedSubject:
        from matrix_resolver_conformance.isolation.subject import IsolatedSubject

        return IsolatedSubject(self.options.resolver, list(self.options.rulesets), network,
                               ca_file)  # fmt: skip

    async def _start(self, subject: IsolatedSubject) -> dict[str, Any]:
        from matrix_resolver_conformance.isolation.subject import IsolationError

        try:
            return await subject.start()
        except IsolationError as e:
            raise pytest.UsageError(str(e)) from None

    def header(self) -> list[str]:
        o = self.options
        what = o.resolver + (f" ({self.version})" if self.version else "")
        mode = "in this process (unprotected)" if o.in_process else "a process per scenario"
        if o.homeserver:
            what = o.homeserver + (f" ({self.version})" if self.version else "")
            isolation = self.profile.isolation if self.profile else "fresh-names"  # workers
            mode = {
                "fresh-names": "one server process, fresh names per scenario",
                "fresh-process": "a server process per scenario",
            }[isolation]
        lines = [
            f"conformance: {'homeserver' if o.homeserver else 'resolver'} {what}, run in {mode}",
            f"conformance: rule set {o.ruleset_label}; failing level {o.level} and above",
        ]
        if self._network_text:
            lines.append(f"conformance: network: {self._network_text}")
        if self._fallback:
            lines.append(
                f"conformance: NO PRIVATE NAMESPACE ({self._fallback}): scenarios "
                "that need IPv6 test addresses will not run"
            )
        return lines

    # -- running ------------------------------------------------------------------------------

    def runtime(self) -> Runtime:
        from matrix_resolver_conformance.run.runtime import Runtime, Settings

        if self._runtime is None:
            if self.network is None:
                self.network = self._open_network()
            o = self.options
            self._runtime = Runtime(
                Settings(timeout=o.step_timeout, spec=o.rulesets[0]), self.network
            )
        return self._runtime

    def subject(self) -> Subject | Callable[..., Any]:
        if self.options.in_process:
            if self.factory is None:
                self._load_in_process()
            assert self.factory is not None
            return self.factory
        if self._subject is None:
            runtime = self.runtime()
            self._subject = (self._homeserver(runtime) if self.options.homeserver
                             else self._isolated(runtime.network, runtime.pki.ca_file))  # fmt: skip
        return self._subject

    def judge(
        self, request: pytest.FixtureRequest, runtime: Runtime, scenario: Scenario, ruleset: str
    ) -> None:
        from matrix_resolver_conformance.report.json_report import entry

        item = request.node
        result = runtime.run(scenario, self.subject(), spec=ruleset)
        shown = result.scenario  # as the rule set has it (a proposal's override: its own text)
        item.user_properties[:] = [  # a rerun (pytest-rerunfailures) replaces the last run's
            (k, v) for k, v in item.user_properties if k not in (*PROPERTIES, ENTRY)
        ]
        item.user_properties += [
            ("step", shown.step),
            ("level", shown.level),
            ("spec", ruleset),
            ("sentence", shown.sentence),
            (ENTRY, json.dumps(entry(result))),
        ]
        if result.output:
            item.add_report_section("call", "implementation output", result.output)
        if result.verdict is None:
            pytest.skip(result.skipped)
        verdict = result.verdict
        if verdict.passed:
            return
        what = (
            f"homeserver {o}"
            if (o := self.options.homeserver)
            else f"resolver {self.options.resolver}"
        )
        text = f"{verdict.message}\nrule set {ruleset}; {what}"
        if result.renamed:  # the message names what the server saw: say how to read it
            text += f"; this run's names end in .{result.renamed} where the catalog has .test"
        if self.config.option.tbstyle == "long":
            text += "".join(
                f"\n{c.what} traceback:\n{c.traceback}" for c in result.calls if c.traceback
            )
        worst = min(verdict.failures, key=lambda f: LEVELS.index(f.level))
        if LEVELS.index(worst.level) <= LEVELS.index(self.options.level):
            pytest.fail(text, pytrace=False)
        pytest.xfail(
            f"below --conformance-level={self.options.level} (not failing the run): "
            f"[{worst.rule}, {worst.level}] {worst.message}"
        )

    # -- where the results meet ---------------------------------------------------------------

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        """Take the result entry out of the report (JUnit shows plain properties only), keep
        the last one per test (a rerun replaces, never adds), and give a failure its one-line
        message (level and first problem) and JUnit its class (the step)."""
        if self.worker:
            return  # the entry must travel to the controller untouched
        raw = next((v for k, v in reversed(report.user_properties) if k == ENTRY), None)
        if raw is None:
            return
        report.user_properties = [(k, v) for k, v in report.user_properties if k != ENTRY]
        result = json.loads(str(raw))
        if report.when == "call" or report.skipped:
            self.results[report.nodeid] = result
        if report.failed and result["problems"]:
            from matrix_resolver_conformance.report.summary import first_line

            message = first_line(result)
            report.longrepr = ConformanceFailure(  # type: ignore[assignment]  # a TerminalRepr by duck typing (toterminal, reprcrash): the real class is private
                str(report.longrepr), message, report.fspath
            )
        self._junit_class(report, result["step"])

    def _junit_class(self, report: pytest.TestReport, step: str) -> None:
        try:
            from _pytest.junitxml import xml_key  # no public way to set a test case's class
        except ImportError:
            return
        xml = self.config.stash.get(xml_key, None)
        if xml is not None:
            xml.node_reporter(report).add_attribute(
                "classname", f"conformance.step{step.replace('.', '_')}"
            )

    # -- the end ------------------------------------------------------------------------------

    def pytest_report_header(self, config: pytest.Config) -> list[str]:
        return self.header()

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        from matrix_resolver_conformance.report.end_of_run import write_end_of_run

        results = list(self.results.values())
        if results:
            write_end_of_run(terminalreporter, results, self.options, self.version)

    def finish(self, session: pytest.Session) -> None:
        if self.worker or self.options.allow_unavailable:
            return
        if any(r.get("unavailable") for r in self.results.values()) and session.exitstatus == 0:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED

    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        self.finish(session)

    def close_runtime(self) -> None:
        if self._runtime is not None:
            self._runtime.close()
            self._runtime = None
            self._subject = None

    def close(self) -> None:
        self.close_runtime()
        if self.network is not None:
            self.network.close()
            self.network = None


__all__ = ["ENTRY", "ConformanceFailure", "Suite"]
