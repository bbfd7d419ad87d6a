"""The judge's side of isolation: drive an implementation that runs in processes of its own.

`IsolatedSubject` starts the template (`template.py`) once, inside the world's network, and asks
it for one child per scenario. The deadline is the suite's: when it passes, the child is
SIGKILLed, whatever it is doing. How the child ended (its events, exit, what it left behind, what
it printed) becomes the scenario's `DriveOutcome`; the run goes on.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import signal
import sys
from collections import deque
from typing import Any

from matrix_resolver_conformance.env import Env
from matrix_resolver_conformance.isolation.child import CHANNEL_LOST
from matrix_resolver_conformance.run.outcome import DriveOutcome
from matrix_resolver_conformance.run.program import Watcher
from matrix_resolver_conformance.run.world_needs import WorldNeeds
from matrix_resolver_harness.netns import NetworkSetup

START_TIMEOUT = 120.0  # importing a whole homeserver's code can take seconds on a busy machine
KILL_WAIT = 5.0  # for the template to report a child it was told to kill
LINE_LIMIT = 64 * 1024 * 1024  # a done message carries events and up to 32 KiB of output


class IsolationError(RuntimeError):
    """The implementation cannot be started at all (e.g. its module does not import)."""


class IsolatedSubject:
    """The implementation under test, `--resolver=...`, in a process per scenario."""

    needs = WorldNeeds()

    def __init__(
        self, resolver: str, rulesets: list[str], network: NetworkSetup, ca_file: str | None = None
    ) -> None:
        self.resolver = resolver
        self.rulesets = list(rulesets)
        self.ca_file = ca_file  # the world's CA, the same for every scenario: warmed up once
        self.network = network
        self.info: dict[str, Any] = {}
        self._proc: asyncio.subprocess.Process | None = None
        self._stderr: deque[str] = deque(maxlen=20)
        self._stderr_task: asyncio.Task[None] | None = None

    # -- the template -----------------------------------------------------------------------

    async def start(self) -> dict[str, Any]:
        """Start the template; its `ready` answer (raises IsolationError if it cannot load)."""
        request = {"resolver": self.resolver, "rulesets": self.rulesets, "sys_path": sys.path,
                   "ca_file": self.ca_file}  # fmt: skip
        argv, fds = self.network.inside(
            [
                sys.executable,
                "-m",
                "matrix_resolver_conformance.isolation.template",
                json.dumps(request),
            ]
        )
        self._proc = await asyncio.create_subprocess_exec(
            *argv, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE, pass_fds=fds, limit=LINE_LIMIT,
        )  # fmt: skip
        self._stderr_task = asyncio.get_running_loop().create_task(self._read_stderr(self._proc))
        try:
            ready = await asyncio.wait_for(self._receive(), START_TIMEOUT)
        except (asyncio.TimeoutError, TimeoutError):
            ready = {"ready": False, "error": f"not ready within {START_TIMEOUT:g} s"}
        if not ready.get("ready"):
            await self.aclose()
            raise IsolationError(ready.get("error") or self._died())
        self.info = ready
        return ready

    async def _read_stderr(self, proc: asyncio.subprocess.Process) -> None:
        """Keep its last lines; reads `proc`'s pipe, not `self._proc` (aclose() clears that)."""
        assert proc.stderr is not None
        while line := await proc.stderr.readline():
            self._stderr.append(line.decode("utf-8", "replace").rstrip()[:300])

    def _died(self) -> str:
        tail = " | ".join(self._stderr) or "no output"
        code = self._proc.returncode if self._proc is not None else None
        return f"the isolation process ended (exit {code}): {tail}"

    async def _receive(self) -> dict[str, Any]:
        assert self._proc is not None and self._proc.stdout is not None
        line = await self._proc.stdout.readline()
        if not line:
            await asyncio.sleep(0.05)  # let its exit status and last stderr arrive
            return {"ready": False, "error": self._died()}
        return json.loads(line)

    def _send(self, message: dict[str, Any] | str) -> None:
        assert self._proc is not None and self._proc.stdin is not None
        text = message if isinstance(message, str) else json.dumps(message)
        self._proc.stdin.write(text.encode() + b"\n")

    def behaviour(self, ruleset: str) -> str | None:
        return self.info.get("profiles", {}).get(ruleset)

    # -- one scenario -------------------------------------------------------------------------

    async def prepare(self) -> None:
        pass  # the template starts in drive(): a failure to start is that scenario's verdict

    async def drive(self, env: Env, names: list[str], deadline: float) -> DriveOutcome:
        if self._proc is None or self._proc.returncode is not None:
            await self.start()
        loop = asyncio.get_running_loop()
        started = loop.time()
        self._send({"run": {"env": dataclasses.asdict(env), "names": names}})
        killed_by_us = False
        try:
            answer = await asyncio.wait_for(self._receive(), deadline)
        except (asyncio.TimeoutError, TimeoutError):
            killed_by_us = True
            self._send("kill")
            try:
                answer = await asyncio.wait_for(self._receive(), KILL_WAIT)
            except (asyncio.TimeoutError, TimeoutError):
                answer = {"error": "the isolation process did not answer"}
        if "done" not in answer:  # our own process failed: say so, start afresh next time
            await self.aclose()
            out = DriveOutcome(
                problems=[
                    f"could not run the implementation: {answer.get('error') or self._died()}"
                ]
            )
            out.elapsed = loop.time() - started
            return out
        out = outcome(answer["done"], deadline if killed_by_us else None)
        out.elapsed = loop.time() - started
        return out

    async def aclose(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None:
            return
        if proc.stdin is not None:
            with contextlib.suppress(OSError):
                proc.stdin.close()
        try:
            await asyncio.wait_for(proc.wait(), 2.0)
        except (asyncio.TimeoutError, TimeoutError):
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            await proc.wait()
        if self._stderr_task is not None:
            with contextlib.suppress(asyncio.TimeoutError, TimeoutError):
                await asyncio.wait_for(self._stderr_task, 1.0)


def outcome(done: dict[str, Any], killed_at: float | None) -> DriveOutcome:
    """A child's report -> the scenario's outcome; how it ended is named, where it was too."""
    watcher = Watcher()
    for event in done["events"]:
        watcher(event)
    out = watcher.outcome
    where = watcher.where()
    code = done["exit_code"]
    if killed_at is not None:
        out.problems.insert(
            0,
            f"killed after {killed_at:.1f} s {where}: it did not return "
            "control (the deadline is fetches x --conformance-step-timeout "
            "+ 3 s)",
        )
    elif code == CHANNEL_LOST:
        out.problems.insert(
            0,
            f"it closed the suite's result channel (a file descriptor it did not open) {where}; "
            "what it did after that is not known",
        )
    elif not watcher.ended:
        out.problems.insert(0, f"the implementation {_ended(code)} {where}")
    if done["left"]:
        shown = ", ".join(done["left"][:5]) + (" ..." if len(done["left"]) > 5 else "")
        out.problems.append(
            f"it left {len(done['left'])} process(es) running after the scenario: {shown}; killed"
        )
    out.output = _output_text(done["output"])
    return out


def _ended(code: int) -> str:
    if code >= 0:
        return f"exited with code {code}"
    try:
        return f"was killed by {signal.Signals(-code).name}"
    except ValueError:
        return f"was killed by signal {-code}"


def _output_text(output: dict[str, Any]) -> str:
    if not output["dropped"]:
        return output["head"] + output["tail"]
    return (
        f"{output['head']}\n[... {output['dropped']} bytes of output dropped ...]\n{output['tail']}"
    )
