"""A whole homeserver as the implementation under test (`--homeserver=NAME|PROFILE`).

Each fetch is a trigger: an unauthenticated request to the server that makes it send one
federation request to the scenario's server name. The trigger's own answer proves nothing about
that request (a notary answers 200 with no keys when the fetch failed); only the world's log is
judged, as for any resolver, at the path the trigger makes the server request. By default one
process serves a pytest process and every scenario gets fresh names (`run/rename.py`), so the
server's caches cannot carry one scenario's answers into the next; `mode = "fresh-process"`
starts a process per scenario instead.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import subprocess
import sys
from urllib.parse import quote

from matrix_resolver_conformance.env import Env
from matrix_resolver_conformance.homeservers.http import HttpFailure, http_request
from matrix_resolver_conformance.homeservers.process import HomeserverFailed, HomeserverProcess
from matrix_resolver_conformance.homeservers.profile import Profile
from matrix_resolver_conformance.run.outcome import Call, DriveOutcome
from matrix_resolver_conformance.run.world_needs import WorldNeeds
from matrix_resolver_harness.addresses import worker_index
from matrix_resolver_harness.netns import NetworkSetup

NEVER_VALID = 2**53 - 1  # minimum_valid_until_ts beyond any cached key: the server must fetch
CRASH_GRACE = 0.5  # seconds a failed trigger waits to see whether the server is exiting


def trigger_request(profile: Profile, target: str) -> tuple[str, str, bytes]:
    """(method, path, body) asking the server to contact `target` once."""
    kind = profile.trigger.kind
    if kind == "key-query":
        body = {"server_keys": {target: {"ed25519:auto": {"minimum_valid_until_ts": NEVER_VALID}}}}
        return "POST", "/_matrix/key/v2/query", json.dumps(body).encode()
    if kind == "profile-query":
        return "GET", f"/_matrix/client/v3/profile/{quote('@u:' + target, safe='')}", b""
    fill = {"target": target, "target_quoted": quote(target, safe="")}
    path = profile.trigger.path.format(**fill)
    return profile.trigger.method, path, profile.trigger.body.format(**fill).encode()


class HomeserverSubject:
    def __init__(self, profile: Profile, network: NetworkSetup, ca_file: str,
                 bin_override: str | None = None) -> None:  # fmt: skip
        self.profile = profile
        self.network = network
        self.ca_file = ca_file
        self.bin_override = bin_override
        worker = worker_index()
        # Fixed per pytest process: resolv.conf cannot be changed under a running server, and
        # the address pool never hands out 127.W.0.x.
        self.needs = WorldNeeds(
            path=profile.trigger.federation_path,
            dns_host=f"127.{16 + worker}.0.53",
            rename=profile.isolation == "fresh-names",
            quiet=profile.quiet,
            step_timeout=profile.trigger.timeout,
        )
        self.listen_host = f"127.{16 + worker}.0.80"
        self.process: HomeserverProcess | None = None
        self.crashes = 0
        self.startup_seconds: list[float] = []
        self._failed: str | None = None  # a start that failed: every later scenario says so

    def behaviour(self, ruleset: str) -> str | None:
        return "one text"  # a server follows one text, whatever rule set judges it

    def version(self) -> str | None:
        if not self.profile.version:
            return None
        values = {"python": sys.executable, "bin": self.bin_override or self.profile.bin}
        argv = [self.profile.fill(a, {**values, "bin": self.profile.fill(values["bin"], values)})
                for a in self.profile.version]  # fmt: skip
        try:
            out = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=True)
        except (OSError, subprocess.SubprocessError) as e:
            return f"unknown ({e})"
        return out.stdout.strip().splitlines()[-1] if out.stdout.strip() else None

    async def start(self) -> None:
        """Start the server now (a probe before the run); HomeserverFailed if it cannot."""
        await self._ensure()

    async def _ensure(self) -> HomeserverProcess:
        if self._failed is not None:
            raise HomeserverFailed(self._failed)
        if self.process is not None and self.process.alive:
            return self.process
        if self.process is not None:  # it died since the last scenario
            self.crashes += 1
            await self.process.stop()
            self.process = None
            if self.crashes > self.profile.restarts:
                self._failed = (
                    f"not run: the homeserver crashed {self.crashes} times (more than [isolation] "
                    f"restarts = {self.profile.restarts}) and is not started again; its last "
                    "output is in the failure of the scenario it last crashed in"
                )
                raise HomeserverFailed(self._failed)
        process = HomeserverProcess(
            self.profile, self.network, ca_file=self.ca_file, dns_host=self.needs.dns_host or "",
            listen_host=self.listen_host, server_name=f"hs{worker_index()}.conformance.invalid",
            bin_override=self.bin_override,
        )  # fmt: skip
        try:
            self.startup_seconds.append(await process.start())
        except HomeserverFailed as e:
            await process.stop()
            self._failed = f"the homeserver did not start: {e}"
            raise HomeserverFailed(self._failed) from None
        self.process = process
        return process

    async def prepare(self) -> None:
        """Start (or restart) the server before the scenario's world exists: what it sends
        while starting (Synapse looks up the machine's own name at import) is no scenario's."""
        with contextlib.suppress(HomeserverFailed):  # drive() reports it
            await self._ensure()

    async def drive(self, env: Env, names: list[str], deadline: float) -> DriveOutcome:
        loop = asyncio.get_running_loop()
        started = loop.time()
        out = DriveOutcome()
        try:
            process = await self._ensure()
        except HomeserverFailed as e:
            out.problems.append(str(e))
            return out
        try:
            for name in names:
                await self._trigger(process, name, out, deadline - (loop.time() - started))
        finally:
            if self.profile.isolation == "fresh-process":
                await process.stop()
                self.process = None
        out.elapsed = loop.time() - started
        return out

    async def _trigger(self, process: HomeserverProcess, name: str, out: DriveOutcome,
                       left: float) -> None:  # fmt: skip
        method, path, body = trigger_request(self.profile, name)
        what = f"trigger {method} {path}"
        try:
            status, _ = await http_request(
                self.network, process.listen, method, path, body,
                timeout=min(self.profile.trigger.timeout, max(left, 0.1)),
            )  # fmt: skip
        except HttpFailure as e:
            out.calls.append(Call(what, False, f"got no answer: {e}", claims=False))
            crashed = await process.exits_within(CRASH_GRACE)
            out.problems.append(process.died() if crashed else f"the {what} got no answer: {e}")
            return
        out.calls.append(Call(what, True, f"answered {status}", claims=False))

    async def aclose(self) -> None:
        if self.process is not None:
            await self.process.stop()
            self.process = None
