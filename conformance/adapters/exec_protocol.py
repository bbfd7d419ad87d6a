"""The subprocess protocol: `--resolver=exec:COMMAND ARGS...` (docs/subprocess-protocol.md).

An implementation in any language plugs in as a program. Per scenario the suite starts it once
with the world described in `MRC_*` environment variables, then exchanges JSON lines: one request
per fetch on the child's stdin, one answer per request on its stdout (`status`: it made the
request itself; `error`: it got no response; `plan`: the suite connects exactly as told, see
`matrix_resolver_conformance.plan`). Closing stdin tells the child to exit; the process group is
killed if it does not, so nothing outlives the scenario.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import json
import os
import signal
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from matrix_resolver_conformance.plan import PlanError, request_by_plan
from matrix_resolver_conformance.run.drive import CANCEL_GRACE
from matrix_resolver_harness.addresses import endpoint

if TYPE_CHECKING:
    from matrix_resolver_conformance.env import Env

__all__ = ["PROTOCOL_VERSION", "ExecError", "ExecFetch", "ExecProtocolError", "exec_factory"]

PROTOCOL_VERSION = "1"
STDERR_LINES = 20  # the tail of the child's stderr appended to a fetch error
LINE_LIMIT = 1 << 20  # bytes in one answer line
EXIT_GRACE = 1.0  # seconds beyond MRC_TIMEOUT a child gets to exit once stdin is closed ...
CLOSE_MARGIN = 0.3  # ... but aclose() must end within the driver's CANCEL_GRACE, kill included
DRAIN_GRACE = 0.25  # seconds to reap a killed child, or to collect the last stderr of one that died


def _live_members(pgid: int) -> list[int]:
    """Processes of group `pgid` that are not zombies (from /proc; Linux)."""
    members = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat") as f:
                fields = f.read().rpartition(")")[2].split()
        except OSError:
            continue  # gone meanwhile
        if fields and fields[0] != "Z" and int(fields[2]) == pgid:
            members.append(int(entry.name))
    return members


async def _group_gone(pgid: int, timeout: float) -> None:
    loop = asyncio.get_running_loop()
    until = loop.time() + timeout
    while _live_members(pgid) and loop.time() < until:
        await asyncio.sleep(0.005)


class ExecError(Exception):
    """The child gave no HTTP response (it said why, died, hung or could not start)."""


class ExecProtocolError(ExecError):
    """The child broke the protocol (a line that is not JSON, a wrong id, a bad answer)."""


def protocol_environment(env: Env) -> dict[str, str]:
    """The `MRC_*` variables describing `env` to a child."""
    return {
        "MRC_PROTOCOL": PROTOCOL_VERSION,
        "MRC_DNS_SERVER": endpoint(*env.dns_server),
        "MRC_CA_FILE": env.ca_file,
        "MRC_PATH": env.path,
        "MRC_TIMEOUT": repr(float(env.timeout)),
        "MRC_WELL_KNOWN_PORT": str(env.well_known_port),
        "MRC_SPEC": env.spec,
    }


def _short(text: str, limit: int = 120) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


class ExecFetch:
    """One child process serving one scenario's fetches; `await fetch(name)` -> HTTP status."""

    def __init__(self, command: list[str], env: Env, extra_env: Mapping[str, str]) -> None:
        self.command = command
        self.env = env
        self.extra_env = dict(extra_env)
        self.request_timeout = env.timeout * 4 + 2
        # MRC_TIMEOUT + 1 s to exit once stdin is closed, within the driver's bound on aclose()
        self.exit_grace = min(env.timeout + EXIT_GRACE, CANCEL_GRACE - CLOSE_MARGIN)
        self.proc: asyncio.subprocess.Process | None = None
        self.stderr_tail: collections.deque[str] = collections.deque(maxlen=STDERR_LINES)
        self._stderr_task: asyncio.Task[None] | None = None
        self._next_id = 1
        self._broken: str | None = None  # why no further request can be sent
        self._closed = False

    @property
    def pid(self) -> int | None:
        return None if self.proc is None else self.proc.pid

    async def start(self) -> None:
        environ = {**os.environ, **protocol_environment(self.env), **self.extra_env}
        try:
            self.proc = await asyncio.create_subprocess_exec(
                *self.command,
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                env=environ,
                start_new_session=True,  # its own process group: killed whole at the end
                limit=LINE_LIMIT,
            )
        except OSError as exc:
            self._closed = True
            raise ExecError(f"cannot start {self.command[0]!r}: {exc.strerror or exc}") from None
        self._stderr_task = asyncio.get_running_loop().create_task(self._read_stderr())

    async def _read_stderr(self) -> None:
        assert self.proc is not None and self.proc.stderr is not None
        stream = self.proc.stderr
        while True:
            try:
                line = await stream.readline()
            except ValueError:  # a line longer than LINE_LIMIT: keep its start
                line = (await stream.read(LINE_LIMIT))[:400] + b"..."
            if not line:
                return
            text = line.decode("utf-8", "replace").rstrip()
            if text:
                self.stderr_tail.append(_short(text, 500))

    def _stderr_text(self) -> str:
        if not self.stderr_tail:
            return ""
        return f"; the child's stderr (last {STDERR_LINES} lines): " + " | ".join(self.stderr_tail)

    def _fail(self, cls: type[ExecError], message: str) -> ExecError:
        return cls(message + self._stderr_text())

    async def __call__(self, server_name: str) -> int:
        if self._broken is not None:
            raise self._fail(ExecError, self._broken)
        if self._closed or self.proc is None:
            raise ExecError("the resolver process was already closed")
        request_id = self._next_id
        self._next_id += 1
        try:
            answer = await asyncio.wait_for(
                self._exchange(request_id, server_name), self.request_timeout
            )
        except asyncio.CancelledError:
            # The suite's deadline: stop the child now, while the loop still runs for us.
            self._broken = "the scenario was cancelled"
            await self._terminate()
            raise
        except (asyncio.TimeoutError, TimeoutError):
            self._broken = f"request {request_id} got no answer within {self.request_timeout:g} s"
            await self._terminate()
            raise self._fail(
                ExecError, f"{self._broken}; the resolver process was killed"
            ) from None
        except ExecError as exc:
            self._broken = f"the resolver process was stopped after: {exc}"
            await self._terminate()
            raise self._fail(type(exc), str(exc)) from None
        return await self._act(request_id, answer)

    async def _exchange(self, request_id: int, server_name: str) -> dict[str, Any]:
        proc = self.proc
        assert proc is not None and proc.stdin is not None and proc.stdout is not None
        line = json.dumps({"id": request_id, "fetch": server_name}) + "\n"
        try:
            proc.stdin.write(line.encode())
            await proc.stdin.drain()
        except (BrokenPipeError, ConnectionResetError):
            await self._gone()
            raise ExecError(
                f"the resolver process exited (code {proc.returncode}) before request "
                f"{request_id} could be sent"
            ) from None
        try:
            raw = await proc.stdout.readline()
        except ValueError:
            raise ExecProtocolError(
                f"protocol error: answer to request {request_id} is longer than "
                f"{LINE_LIMIT} bytes or has no newline"
            ) from None
        if not raw:
            await self._gone()
            raise ExecError(
                f"the resolver process exited (code {proc.returncode}) without answering "
                f"request {request_id}"
            )
        return self._parse(request_id, raw)

    async def _gone(self) -> None:
        """The child is exiting: wait briefly for its exit code and last stderr."""
        assert self.proc is not None
        with contextlib.suppress(asyncio.TimeoutError, TimeoutError):
            await asyncio.wait_for(self.proc.wait(), DRAIN_GRACE)
        if self._stderr_task is not None:
            with contextlib.suppress(asyncio.TimeoutError, TimeoutError):
                await asyncio.wait_for(asyncio.shield(self._stderr_task), DRAIN_GRACE)

    @staticmethod
    def _parse(request_id: int, raw: bytes) -> dict[str, Any]:
        shown = _short(raw.decode("utf-8", "replace").rstrip("\r\n"))
        try:
            answer = json.loads(raw)
        except ValueError:
            raise ExecProtocolError(
                f"protocol error: expected a JSON answer to request {request_id} on stdout, "
                f"got {shown!r} (write logs to stderr, not stdout)"
            ) from None
        if not isinstance(answer, dict):
            raise ExecProtocolError(
                f"protocol error: the answer to request {request_id} must be a JSON object, "
                f"got {shown!r}"
            )
        if answer.get("id") != request_id or isinstance(answer.get("id"), bool):
            raise ExecProtocolError(
                f"protocol error: expected an answer with id {request_id}, got {shown!r}"
            )
        kinds = [k for k in ("status", "error", "plan") if k in answer]
        if len(kinds) != 1:
            raise ExecProtocolError(
                f"protocol error: an answer needs exactly one of status, error, plan; got {shown!r}"
            )
        return answer

    async def _act(self, request_id: int, answer: dict[str, Any]) -> int:
        if "status" in answer:
            status = answer["status"]
            if isinstance(status, bool) or not isinstance(status, int) or not 100 <= status <= 599:
                raise ExecProtocolError(
                    f"protocol error: status of request {request_id} must be an HTTP status "
                    f"(100-599), got {status!r}"
                )
            return status
        if "error" in answer:
            reason = _short(str(answer["error"]), 200)
            raise self._fail(ExecError, f"the resolver reported: {reason}")
        try:
            return await request_by_plan(self.env, answer["plan"])
        except PlanError as exc:
            raise ExecProtocolError(f"protocol error: request {request_id}: {exc}") from None

    def aclose(self) -> Any:
        """Close stdin, let the child exit (MRC_TIMEOUT + 1 s, capped at 0.7 s), kill its group.

        A plain method returning an awaitable only when there is something left to do: after a
        cancellation, a hang or a protocol error the fetch has already killed the child.
        """
        if self._closed:
            return None
        return self._aclose()

    async def _aclose(self) -> None:
        if self._closed:
            return
        proc = self.proc
        try:
            if proc is not None and proc.returncode is None and proc.stdin is not None:
                with contextlib.suppress(OSError):
                    proc.stdin.close()
                with contextlib.suppress(asyncio.TimeoutError, TimeoutError):
                    await asyncio.wait_for(proc.wait(), self.exit_grace)
        finally:  # also when the driver's bound on clean-up cancels us: never leave it running
            await self._terminate()

    async def _terminate(self) -> None:
        """Kill the whole process group (grandchildren too), reap, end the stderr reader."""
        self._closed = True
        proc = self.proc
        if proc is None:
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
        with contextlib.suppress(asyncio.TimeoutError, TimeoutError):
            await asyncio.wait_for(proc.wait(), DRAIN_GRACE)
        # SIGKILL takes effect asynchronously: grandchildren nobody waits for may still be
        # running for a moment. Nothing may outlive the scenario, so wait until they are gone.
        await _group_gone(proc.pid, DRAIN_GRACE)
        if proc.stdin is not None:
            with contextlib.suppress(OSError):
                proc.stdin.close()
        task = self._stderr_task
        if task is not None and not task.done():
            try:
                await asyncio.wait_for(asyncio.shield(task), DRAIN_GRACE)
            except (asyncio.TimeoutError, TimeoutError):
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task


def exec_factory(
    command: list[str],
    *,
    extra_env: Callable[[Env], Mapping[str, str]] | None = None,
) -> Callable[[Env], Any]:
    """A suite factory that runs `command` once per scenario and speaks the protocol with it.

    `extra_env(env)`, when given, adds variables of its own (adapters use it for knobs an
    implementation reads at start-up, e.g. NODE_EXTRA_CA_CERTS).
    """
    if not command:
        raise ValueError("exec_factory needs a command")
    argv = list(command)

    async def factory(env: Env) -> ExecFetch:
        fetch = ExecFetch(argv, env, extra_env(env) if extra_env is not None else {})
        await fetch.start()
        return fetch

    return factory
