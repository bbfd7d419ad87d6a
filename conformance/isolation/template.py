"""The template: one process per pytest process that imports the implementation once and runs
every scenario in a fresh child of its own.

    python -m matrix_resolver_conformance.isolation.template REQUEST_JSON

Started by `subject.IsolatedSubject` inside the world's network. It is a child subreaper, so every
process a scenario starts (double forks and `setsid` included) ends up its child and is killed
when the scenario ends. Commands arrive as JSON lines on stdin, answers leave on stdout:

- first, `{"ready": true, "version": ..., "profiles": {...}, "fork": bool}` or
  `{"ready": false, "error": "one line"}`;
- `{"run": {"env": {...}, "names": [...]}}` -> `{"done": {...}}` once the child has ended: its
  events, how it ended, the processes left behind, its output (head and tail);
- `kill` (while a scenario runs): SIGKILL it now; `{"done": ...}` follows.

What a scenario left behind is found and killed by `processes.py`; its pipes are read by
`pipes.py`.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import importlib
import json
import os
import selectors
import signal
import subprocess
import sys
import threading
from dataclasses import dataclass
from typing import Any

from matrix_resolver_conformance.isolation.pipes import READ_CHUNK, CappedOutput, available, drain
from matrix_resolver_conformance.isolation.processes import children, descendants, kill_all, sweep


class Control:
    """The judge's channel: JSON lines in on `fd_in`, out on `fd_out` (unbuffered, so that
    `select` on `fd_in` never misses a line already read into a buffer)."""

    def __init__(self, fd_in: int, fd_out: int) -> None:
        self.fd_in, self.fd_out = fd_in, fd_out
        self._pending = b""

    def readline(self) -> bytes:
        while b"\n" not in self._pending:
            data = os.read(self.fd_in, 4096)
            if not data:
                line, self._pending = self._pending, b""
                return line
            self._pending += data
        line, _, self._pending = self._pending.partition(b"\n")
        return line + b"\n"

    def send(self, message: dict[str, Any]) -> None:
        data = json.dumps(message).encode() + b"\n"
        while data:
            data = data[os.write(self.fd_out, data) :]


class Template:
    def __init__(self, request: dict[str, Any], control: Control) -> None:
        self.request = request
        self.control = control
        self.factory: Any = None
        self.fork = True
        self.finished: list[Child] = []  # finished, not yet reaped

    def send(self, message: dict[str, Any]) -> None:
        self.control.send(message)

    def load(self) -> dict[str, Any]:
        import matrix_resolver_conformance.isolation.child  # noqa: F401  # once, not per child
        from matrix_resolver_conformance.run.resolvers import ResolverLoadError, describe, load

        try:
            self.factory = load(self.request["resolver"])
            info = describe(self.factory, self.request["rulesets"])
        except ResolverLoadError as e:
            return {"ready": False, "error": str(e)}
        self._warm()
        # A thread started at import would be lost (with any lock it holds) in a forked child.
        threads = [t.name for t in threading.enumerate() if t is not threading.main_thread()]
        self.fork = not threads and len(os.listdir("/proc/self/task")) == 1
        return {"ready": True, "fork": self.fork, "threads": threads, **info}

    def _warm(self) -> None:
        """Initialise here, once, what every child would otherwise initialise for itself (and
        throw away): OpenSSL's state behind `env.ssl_context()` (the CA file read and parsed,
        the library's tables), an event loop's first set-up."""
        from matrix_resolver_conformance.env import Env

        ca_file = self.request.get("ca_file")
        if ca_file:
            Env(("127.0.0.1", 53), ca_file).ssl_context()
        asyncio.new_event_loop().close()

    def serve(self) -> int:
        ready = self.load()
        self.send(ready)
        if not ready["ready"]:
            return 1
        spare = self._spare() if self.fork else None
        while line := self.control.readline():
            if line.strip() == b"kill":  # sent as the child finished: nothing left to kill
                continue
            command = json.loads(line)
            if "run" in command:
                child = spare or self._spawn(command["run"])
                if spare is not None:
                    child.hand(command["run"])
                done = self.watch(child)
                self.send({"done": done})
                self.reap()
                self._learn(done["events"])
                # The next child is forked now, while the judge judges and builds the next
                # world: a scenario then never waits for a fork.
                spare = self._spare() if self.fork else None
        return 0

    def _learn(self, events: list[dict[str, Any]]) -> None:
        """Import here what a child had to import on its first use (lazy imports of the
        resolver's libraries), so later children inherit it instead of importing it again. An
        import that starts a thread makes forking unsafe: children are spawned from then on."""
        names: list[str] = next((e["imported"] for e in events if "imported" in e), [])
        for name in names:
            if name not in sys.modules:
                with contextlib.suppress(Exception):
                    importlib.import_module(name)
        if threading.active_count() > 1 or len(os.listdir("/proc/self/task")) > 1:
            self.fork = False

    def _spare(self) -> Child:
        """A forked child that waits for its scenario (the request, on a pipe of its own)."""
        child = Child.pipes()
        request_r, request_w = os.pipe()
        sys.stdout.flush()
        sys.stderr.flush()
        gc.freeze()  # the child's collections then skip (and so never copy) the template's heap
        pid = os.fork()
        if pid == 0:  # the child: stdio to the capture pipe, nothing of the template's control
            try:
                for fd in (
                    self.control.fd_in,
                    self.control.fd_out,
                    request_w,
                    child.events_r,
                    child.out_r,
                ):
                    os.close(fd)
                devnull = os.open(os.devnull, os.O_RDONLY)
                os.dup2(devnull, 0)
                os.dup2(child.out_w, 1)
                os.dup2(child.out_w, 2)
                from matrix_resolver_conformance.isolation.child import run

                loop = asyncio.new_event_loop()  # ready before the scenario arrives
                request = json.loads(drain(request_r))
                run(self.factory, request, child.events_w, loop)
            finally:
                os._exit(70)
        os.close(request_r)
        child.started(pid, request_w)
        return child

    def _spawn(self, request: dict[str, Any]) -> Child:
        """Where forking is unsafe: a fresh interpreter that imports the resolver itself."""
        child = Child.pipes()
        child_request = {
            **request,
            "resolver": self.request["resolver"],
            "sys_path": sys.path,
            "events_fd": child.events_w,
        }
        proc = subprocess.Popen(
            [sys.executable, "-m", "matrix_resolver_conformance.isolation.child",
             json.dumps(child_request)],
            stdin=subprocess.DEVNULL, stdout=child.out_w, stderr=child.out_w,
            pass_fds=(child.events_w,),
        )  # fmt: skip
        child.started(proc.pid, None)
        return child

    def watch(self, child: Child) -> dict[str, Any]:
        """Until the child has finished (its last event) or ended: collect its events and
        output, kill it if told to; then kill whatever it left behind. A child that finished
        is not waited for: it only has to exit, and is reaped before the next one starts."""
        events = bytearray()
        output = CappedOutput()
        status: int | None = None
        killed = finished = False
        pidfd = os.pidfd_open(child.pid)
        with selectors.DefaultSelector() as sel:
            sel.register(child.events_r, selectors.EVENT_READ, "events")
            sel.register(child.out_r, selectors.EVENT_READ, "output")
            sel.register(pidfd, selectors.EVENT_READ, "exit")
            sel.register(self.control.fd_in, selectors.EVENT_READ, "control")
            while status is None and not finished:
                for key, _ in sel.select():
                    if key.data == "events":
                        data = os.read(child.events_r, READ_CHUNK)
                        events += data
                        finished = events.endswith(FINISHED)
                        if not data:
                            sel.unregister(child.events_r)
                    elif key.data == "output":
                        data = os.read(child.out_r, READ_CHUNK)
                        output.add(data)
                        if not data:
                            sel.unregister(child.out_r)
                    elif key.data == "control":
                        if self.control.readline().strip() in (b"kill", b""):
                            killed = True
                            os.kill(child.pid, signal.SIGKILL)
                    elif key.data == "exit":
                        status = os.waitpid(child.pid, 0)[1]
        os.close(pidfd)
        if finished:
            left = kill_all(descendants(child.pid) + [p for p in children() if p != child.pid])
            events += available(child.events_r)
            output.add(available(child.out_r))
            self.finished.append(child)
        else:
            left = sweep()  # nothing writes to the pipes any more: read them to the end
            if killed:  # what it started was cut off with it, not left behind by it
                left = []
            events += drain(child.events_r)
            output.add(drain(child.out_r))
        ended = [json.loads(line) for line in events.splitlines() if line.strip()]
        return {
            "events": ended,
            "exit_code": 0 if status is None else os.waitstatus_to_exitcode(status),
            "killed": killed,
            "left": left,
            "output": output.as_dict(),
        }

    def reap(self) -> None:
        """Children that finished have exited by now (or are killed): reap them, and kill and
        reap anything still left."""
        for child in self.finished:
            with contextlib.suppress(ProcessLookupError):
                os.kill(child.pid, signal.SIGKILL)
            with contextlib.suppress(ChildProcessError):
                os.waitpid(child.pid, 0)
            os.close(child.events_r)
            os.close(child.out_r)
        self.finished.clear()
        sweep()


@dataclass
class Child:
    """A scenario's process, as the template sees it: its pid and the ends of its pipes."""

    events_r: int
    events_w: int
    out_r: int
    out_w: int
    pid: int = 0
    request_w: int | None = None  # a spare's: where its scenario is written

    @classmethod
    def pipes(cls) -> Child:
        events_r, events_w = os.pipe()
        out_r, out_w = os.pipe()
        return cls(events_r, events_w, out_r, out_w)

    def started(self, pid: int, request_w: int | None) -> None:
        """The child has its ends of the pipes: close ours of those."""
        self.pid, self.request_w = pid, request_w
        os.close(self.events_w)
        os.close(self.out_w)

    def hand(self, request: dict[str, Any]) -> None:
        assert self.request_w is not None
        data = json.dumps(request).encode()
        while data:
            data = data[os.write(self.request_w, data) :]
        os.close(self.request_w)


FINISHED = b'{"finished": true}\n'  # a child's last event: it has nothing more to say


def main(argv: list[str]) -> int:
    from matrix_resolver_harness import syscalls

    syscalls.prctl(syscalls.PR_SET_CHILD_SUBREAPER, 1)
    syscalls.prctl(syscalls.PR_SET_PDEATHSIG, signal.SIGKILL)
    request = json.loads(argv[0])
    sys.path[:] = request["sys_path"]
    # The control channel gets stdout's pipe; what anyone prints goes to stderr instead.
    control = Control(os.dup(0), os.dup(1))
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.dup2(2, 1)
    return Template(request, control).serve()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
