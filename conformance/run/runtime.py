"""One scenario end to end: stage the world, drive the resolver, judge what the world saw.

`Runtime` holds what a process shares between scenarios (network setup, certificate authority,
address pool, the world's event loop), so a scenario pays only for its own world.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from conformance.driver import drive
from conformance.env import FEDERATION_PATH, Env
from conformance.rulesets import LATEST
from conformance.scenarios import Expectation, Scenario
from conformance.staging import stage
from conformance.verdict import Judged, Verdict, judge
from harness.addresses import AddressPool
from harness.netns import NetworkSetup, ensure_network
from harness.pki import CertificateAuthority
from harness.world import World, WorldUnavailable

DEADLINE_GRACE = 3.0  # seconds beyond fetches x timeout before a resolver counts as hung


@dataclass(frozen=True)
class Settings:
    timeout: float = 1.0
    path: str = FEDERATION_PATH
    netns: str = "auto"
    spec: str = LATEST


@dataclass
class Result:
    scenario: Scenario
    verdict: Verdict | None  # None when skipped
    skipped: str = ""
    elapsed: float = 0.0
    spec: str = LATEST


class Runtime:
    """Per-process resources; create once, `run` many scenarios, then `close`."""

    def __init__(self, settings: Settings = Settings()) -> None:
        self.settings = settings
        self.network: NetworkSetup = ensure_network(settings.netns)
        self.pki = CertificateAuthority()
        self.pool = AddressPool()
        self.loop = asyncio.new_event_loop()
        # (scenario id, expectation, resolver profile) -> result, for factories that declare
        # `spec_profile`: rule sets that share both need one run (see README, several rule sets).
        self._memo: dict[tuple[Any, ...], Result] = {}

    def run(
        self, scenario: Scenario, factory: Callable[..., Any], spec: str | None = None
    ) -> Result:
        """Run `scenario` as rule set `spec` (default: the settings') has it; skipped where it
        does not apply."""
        spec = spec or self.settings.spec
        started = time.monotonic()
        applied = scenario.under(spec)
        if isinstance(applied, str):
            return Result(scenario, None, skipped=f"not in rule set {spec}: {applied}", spec=spec)
        key = _memo_key(applied, factory, spec)
        if key is not None and key in self._memo:
            return replace(self._memo[key], spec=spec, elapsed=0.0)
        result = self.loop.run_until_complete(self._run(applied, factory, spec))
        if key is not None:
            self._memo[key] = result
        result.elapsed = time.monotonic() - started
        return result

    async def _run(self, scenario: Scenario, factory: Callable[..., Any], spec: str) -> Result:
        staged = stage(scenario)
        world = World(staged.world, self.pki, self.pool, self.network)
        try:
            await world.start()
        except WorldUnavailable as e:
            await world.stop()
            return Result(scenario, None, skipped=str(e), spec=spec)
        try:
            s = self.settings
            env = Env(world.dns_server, world.ca_file, s.path, s.timeout, 443, spec)
            name = world.render(scenario.server_name)
            deadline = s.timeout * scenario.fetches + DEADLINE_GRACE
            outcome = await drive(factory, env, [name] * scenario.fetches, deadline)
            await _settle(world)
            judged = Judged(
                expect=_render(scenario.expect, world),
                path=s.path,
                fetches=scenario.fetches,
                roles=staged.roles,
                well_known_at=staged.well_known_at,
                endpoints=_endpoints(world, staged.roles),
            )
            return Result(scenario, judge(scenario, judged, world.log, outcome), spec=spec)
        finally:
            await world.stop()

    def close(self) -> None:
        self.loop.run_until_complete(self.loop.shutdown_asyncgens())
        self.loop.close()
        self.pki.close()


SETTLE_LIMIT = 0.05  # seconds to wait for handshakes still in flight when the resolver returns


def _memo_key(applied: Scenario, factory: Callable[..., Any], spec: str) -> tuple[Any, ...] | None:
    profile_of = getattr(factory, "spec_profile", None)
    if not callable(profile_of):
        return None
    try:
        return (applied.id, applied.expect, id(factory), profile_of(spec))
    except Exception:  # a broken profile function only costs the reuse
        return None


async def _settle(world: World) -> None:
    """Let the servers finish logging what already happened: a handshake the client already
    refused may not have been read yet. Waits only while some handshake is unfinished."""
    for _ in range(3):
        await asyncio.sleep(0)
    loop = asyncio.get_running_loop()
    until = loop.time() + SETTLE_LIMIT
    while loop.time() < until and any(
        c.tls and not c.established and c.error is None for c in world.log.connections()
    ):
        await asyncio.sleep(0.001)


def _render(e: Expectation, world: World) -> Expectation:
    def r(text: str | None) -> str | None:
        return None if text is None else world.render(text)

    return replace(
        e,
        host=r(e.host),
        sni=r(e.sni),
        cert=tuple(world.render(c) for c in e.cert),
        well_known_host=r(e.well_known_host),
        well_known_sni=r(e.well_known_sni),
        dns_absent=tuple(world.render(d) for d in e.dns_absent),
    )


def _endpoints(world: World, roles: dict[str, str]) -> dict[str, str]:
    out = {}
    for label in roles:
        host, port = label.rsplit(":", 1)
        addrs = world.addresses.get(host, {}).values()
        out[label] = " / ".join(f"[{a}]:{port}" if ":" in a else f"{a}:{port}" for a in addrs)
    return out
