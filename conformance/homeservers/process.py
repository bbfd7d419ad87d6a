"""One homeserver process inside the world: its files, its sandbox, its start, its end.

The process runs in the world's network namespace and a private mount namespace of its own, in
which /etc/resolv.conf names the world's DNS server (port 53, the only port resolv.conf allows)
and /etc/hosts is neutral, so the server's own resolver (glibc, Go, hickory, twisted.names) asks
only the fake world. It gets a fresh data directory, its own process group and PID namespace
(nothing it starts outlives it, `setsid` included), and is stopped (SIGTERM, then SIGKILL) with
everything it started; its log is kept for failure messages.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
import tempfile
from collections import deque
from pathlib import Path

from matrix_resolver_conformance.homeservers.http import HttpFailure, http_request
from matrix_resolver_conformance.homeservers.profile import Profile
from matrix_resolver_harness.netns import NetworkSetup

LOG_TAIL = 15  # lines of the server's output shown when it fails
STOP_GRACE = 5.0
HOSTS = "127.0.0.1 localhost\n::1 localhost\n"


class HomeserverFailed(RuntimeError):
    """The server did not start, or died; the message ends with its last output lines."""


class HomeserverProcess:
    def __init__(
        self,
        profile: Profile,
        network: NetworkSetup,
        *,
        ca_file: str,
        dns_host: str,
        listen_host: str,
        server_name: str,
        bin_override: str | None = None,
    ) -> None:
        self.profile = profile
        self.network = network
        self.listen = (listen_host, profile.listen_port)
        self._dir = tempfile.TemporaryDirectory(prefix="mrc-homeserver-")
        self.data_dir = Path(self._dir.name)
        self.values = {
            "python": sys.executable,
            "data_dir": str(self.data_dir),
            "ca_file": ca_file,
            "dns_host": dns_host,
            "listen_host": listen_host,
            "listen_port": str(profile.listen_port),
            "server_name": server_name,
        }
        self.values["bin"] = bin_override or profile.fill(profile.bin, self.values)
        self.proc: asyncio.subprocess.Process | None = None
        self.output: deque[str] = deque(maxlen=LOG_TAIL)
        self._reader: asyncio.Task[None] | None = None

    def _write_files(self) -> dict[str, str]:
        for rel, template in self.profile.files:
            target = self.data_dir / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(self.profile.fill(template, self.values), encoding="utf-8")
        resolv = self.data_dir / "resolv.conf"
        resolv.write_text(f"nameserver {self.values['dns_host']}\noptions timeout:1 attempts:1\n")
        hosts = self.data_dir / "hosts"
        hosts.write_text(HOSTS)
        return {"/etc/resolv.conf": str(resolv), "/etc/hosts": str(hosts)}

    def _environment(self) -> dict[str, str]:
        extra = {k: self.profile.fill(v, self.values) for k, v in self.profile.environment}
        return {**os.environ, **extra}

    async def _spawn(
        self, argv: tuple[str, ...], binds: dict[str, str]
    ) -> asyncio.subprocess.Process:
        command = [self.profile.fill(a, self.values) for a in argv]
        inside, fds = self.network.inside(command, binds=binds, own_pids=True)
        try:
            return await asyncio.create_subprocess_exec(
                *inside, stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.STDOUT, pass_fds=fds, env=self._environment(),
                cwd=self.data_dir, start_new_session=True,
            )  # fmt: skip
        except OSError as e:
            raise HomeserverFailed(f"cannot start {command[0]!r}: {e.strerror or e}") from None

    async def start(self) -> float:
        """Prepare, start, wait until it answers; the seconds that took."""
        loop = asyncio.get_running_loop()
        started = loop.time()
        binds = self._write_files()
        for argv in self.profile.prepare:
            proc = await self._spawn(argv, binds)
            out, _ = await proc.communicate()
            if proc.returncode != 0:
                tail = out.decode(errors="replace").strip().splitlines()[-LOG_TAIL:]
                raise HomeserverFailed(
                    f"preparing it failed (exit {proc.returncode}): " + " | ".join(tail)
                )
        self.proc = await self._spawn(self.profile.command, binds)
        self._reader = loop.create_task(self._read_output(self.proc))
        await self._wait_ready(started + self.profile.ready_timeout)
        return loop.time() - started

    async def _read_output(self, proc: asyncio.subprocess.Process) -> None:
        """Keep its last lines; reads `proc`'s pipe, not `self.proc` (stop() clears that)."""
        assert proc.stdout is not None
        while line := await proc.stdout.readline():
            self.output.append(line.decode(errors="replace").rstrip()[:300])

    def tail(self) -> str:
        return " | ".join(self.output) or "(no output)"

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.returncode is None

    async def exits_within(self, seconds: float) -> bool:
        """Has it exited, or does it within `seconds`? (A crash closes its sockets a moment
        before the exit is seen: a failed trigger asks this before blaming the answer.)"""
        if self.proc is None or self.proc.returncode is not None:
            return True
        with contextlib.suppress(asyncio.TimeoutError, TimeoutError):
            await asyncio.wait_for(asyncio.shield(self.proc.wait()), seconds)
        return self.proc.returncode is not None

    def died(self) -> str:
        code = None if self.proc is None else self.proc.returncode
        return f"the homeserver exited (code {code}); its last output: {self.tail()}"

    async def _wait_ready(self, until: float) -> None:
        loop = asyncio.get_running_loop()
        last = "no answer yet"
        while loop.time() < until:
            if not self.alive:
                await asyncio.sleep(0.05)  # its last output lines
                raise HomeserverFailed(f"it exited while starting: {self.died()}")
            try:
                status, _ = await http_request(
                    self.network, self.listen, "GET", self.profile.ready_path, timeout=1.0
                )
                if status == 200:
                    return
                last = f"{self.profile.ready_path} answered {status}"
            except HttpFailure as e:
                last = str(e)
            await asyncio.sleep(0.05)
        raise HomeserverFailed(
            f"not ready within {self.profile.ready_timeout:g} s ({last}); "
            f"its last output: {self.tail()}"
        )

    async def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is not None and proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
            with contextlib.suppress(asyncio.TimeoutError, TimeoutError):
                await asyncio.wait_for(proc.wait(), STOP_GRACE)
        if proc is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)  # and whatever it started
            await proc.wait()
        if self._reader is not None:
            with contextlib.suppress(asyncio.TimeoutError, TimeoutError):
                await asyncio.wait_for(self._reader, 1.0)
        self._dir.cleanup()
