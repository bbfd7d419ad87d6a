"""One scenario end to end: stage the world, drive the implementation, judge what the world saw.

`Runtime` holds what a process shares between scenarios (the network, certificate authority,
address pool, the world's event loop), so a scenario pays only for its own world. What is under
test is a `Subject`: an implementation in processes of its own (`isolation`, the default) or on
a thread of ours (`InProcess`, for debugging and for the project's own broken resolvers).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any, Protocol, runtime_checkable

from matrix_resolver_conformance.catalog.model import Scenario
from matrix_resolver_conformance.catalog.rulesets import LATEST
from matrix_resolver_conformance.env import FEDERATION_PATH, Env
from matrix_resolver_conformance.report.trace import trace
from matrix_resolver_conformance.run.drive import drive_in_thread
from matrix_resolver_conformance.run.judge import Judged, Verdict, judge
from matrix_resolver_conformance.run.outcome import Call, DriveOutcome
from matrix_resolver_conformance.run.rename import label, rename
from matrix_resolver_conformance.run.resolvers import describe
from matrix_resolver_conformance.run.stage import stage
from matrix_resolver_conformance.run.world_needs import WorldNeeds
from matrix_resolver_harness.addresses import AddressPool, endpoint
from matrix_resolver_harness.netns import NetworkSetup
from matrix_resolver_harness.pki import CertificateAuthority
from matrix_resolver_harness.world import World, WorldUnavailable

DEADLINE_GRACE = 3.0  # seconds beyond fetches x timeout before a resolver counts as hung
SETTLE_LIMIT = 0.05  # seconds to wait for handshakes still in flight when the resolver returns


@runtime_checkable
class Subject(Protocol):
    """What is under test, as the runtime drives it."""

    needs: WorldNeeds

    def behaviour(self, ruleset: str) -> str | None:
        """What its behaviour depends on under `ruleset` (equal ones share a run), or None."""

    async def prepare(self) -> None:
        """Before the scenario's world exists: start whatever is not running (what it sends
        while starting belongs to no scenario; a failure is reported by `drive`)."""

    async def drive(self, env: Env, names: list[str], deadline: float) -> DriveOutcome:
        """factory(env), fetch(name) for each name, close: all within `deadline` seconds."""

    async def aclose(self) -> None: ...


class InProcess:
    """A factory run on a thread of this process: unprotected (see run/drive.py)."""

    needs = WorldNeeds()

    def __init__(self, factory: Callable[..., Any], network: NetworkSetup) -> None:
        self.factory = factory
        self.network = network

    def behaviour(self, ruleset: str) -> str | None:
        return describe(self.factory, [ruleset])["profiles"][ruleset]

    async def prepare(self) -> None:
        pass

    async def drive(self, env: Env, names: list[str], deadline: float) -> DriveOutcome:
        return await drive_in_thread(
            self.factory, env, names, deadline, enter=self.network.enter_current_thread
        )

    async def aclose(self) -> None:
        pass


@dataclass(frozen=True)
class Settings:
    timeout: float = 1.0
    path: str = FEDERATION_PATH
    spec: str = LATEST


@dataclass
class Result:
    scenario: Scenario
    verdict: Verdict | None  # None when skipped
    skipped: str = ""
    elapsed: float = 0.0
    spec: str = LATEST
    unavailable: bool = False  # skipped because this machine cannot host the world
    output: str = ""  # what the implementation printed, when it ran in a process of its own
    calls: list[Call] = field(default_factory=list)  # how each call ended (tracebacks)
    trace: dict[str, Any] = field(default_factory=dict)  # the world's log (report/trace.py)
    renamed: str = ""  # the fresh label that stood for `test` in this run's names (rename.py)


class Runtime:
    """Per-process resources; create once, `run` many scenarios, then `close`."""

    def __init__(self, settings: Settings, network: NetworkSetup) -> None:
        self.settings = settings
        self.network = network
        self.pki = CertificateAuthority()
        self.pool = AddressPool()
        self.loop = asyncio.new_event_loop()
        # (scenario id, expectation, subject, profile) -> result: rule sets that share both
        # need one run (README, "several rule sets").
        self._memo: dict[tuple[Any, ...], Result] = {}
        self._subjects: dict[int, Subject] = {}
        self._renamed = 0

    def subject(self, what: Subject | Callable[..., Any]) -> Subject:
        """`what` itself, or for a bare factory the one in-process subject that runs it."""
        key = id(what)
        if key not in self._subjects:
            self._subjects[key] = (
                what if isinstance(what, Subject) else InProcess(what, self.network)
            )
        return self._subjects[key]

    def run(
        self, scenario: Scenario, what: Subject | Callable[..., Any], spec: str | None = None
    ) -> Result:
        """Run `scenario` as rule set `spec` (default: the settings') has it; skipped where it
        does not apply. A bare factory runs in this process."""
        subject = self.subject(what)
        spec = spec or self.settings.spec
        started = time.monotonic()
        applied = scenario.under(spec)
        if isinstance(applied, str):
            return Result(scenario, None, skipped=f"not in rule set {spec}: {applied}", spec=spec)
        behaviour = subject.behaviour(spec)
        key = None if behaviour is None else (applied.id, applied.expect, id(subject), behaviour)
        if key is not None and key in self._memo:  # the run is shared; the text is this one's
            return replace(self._memo[key], scenario=applied, spec=spec, elapsed=0.0)
        result = self.loop.run_until_complete(self._run(applied, subject, spec))
        if key is not None:
            self._memo[key] = result
        result.elapsed = time.monotonic() - started
        return result

    async def _run(self, scenario: Scenario, subject: Subject, spec: str) -> Result:
        needs = subject.needs
        fresh = ""
        if needs.rename:
            self._renamed += 1
            fresh = label(self._renamed)
            scenario = rename(scenario, fresh)
        staged = stage(scenario)
        await subject.prepare()
        dns_port = 53 if self.network.private else 0
        world = World(staged.world, self.pki, self.pool, self.network, dns_port, needs.dns_host)
        try:
            await world.start()
        except WorldUnavailable as e:
            await world.stop()
            return Result(scenario, None, skipped=str(e), spec=spec, unavailable=True)
        try:
            s = self.settings
            env = Env(world.dns_server, world.ca_file, s.path, s.timeout, 443, spec)
            name = world.render(scenario.server_name)
            step = needs.step_timeout or s.timeout
            deadline = step * scenario.fetches + DEADLINE_GRACE
            outcome = await subject.drive(env, [name] * scenario.fetches, deadline)
            await _settle(world, needs.quiet)
            judged = Judged(
                expect=scenario.expect.render(world.render),
                path=needs.path or s.path,
                fetches=scenario.fetches,
                roles=staged.roles,
                well_known_at=staged.well_known_at,
                endpoints=_endpoints(world, staged.roles),
            )
        finally:
            await world.stop()  # before judging: stopping completes the log (what idle
            # connections sent, how they ended)
        verdict = judge(scenario, judged, world.log, outcome)
        return Result(scenario, verdict, spec=spec, output=outcome.output, calls=outcome.calls,
                      trace=trace(world.log, judged.roles, judged.endpoints,
                                  judged.well_known_at), renamed=fresh)  # fmt: skip

    def close(self) -> None:
        for subject in self._subjects.values():
            self.loop.run_until_complete(subject.aclose())
        self.loop.run_until_complete(self.loop.shutdown_asyncgens())
        self.loop.close()
        self.pki.close()


QUIET_LIMIT = 5.0  # seconds: the longest wait for a world to fall quiet


async def _settle(world: World, quiet: float = 0.0) -> None:
    """Let the servers finish logging what already happened: a handshake the client already
    refused may not have been read yet. Waits only while some handshake is unfinished; with
    `quiet`, also until nothing new has happened for that long (bounded: QUIET_LIMIT), so a
    request that comes after the implementation answered is judged too."""
    for _ in range(3):
        await asyncio.sleep(0)
    loop = asyncio.get_running_loop()
    if quiet:
        until = loop.time() + QUIET_LIMIT
        seen = -1
        while loop.time() < until and len(world.log.events) != seen:
            seen = len(world.log.events)
            await asyncio.sleep(quiet)
    until = loop.time() + SETTLE_LIMIT
    while loop.time() < until and any(
        c.tls and not c.established and c.error is None for c in world.log.connections()
    ):
        await asyncio.sleep(0.001)


def _endpoints(world: World, roles: dict[str, str]) -> dict[str, str]:
    out = {}
    for site in roles:
        host, port = site.rsplit(":", 1)
        addrs = world.addresses.get(host, {}).values()
        out[site] = " / ".join(endpoint(a, int(port)) for a in addrs)
    return out
