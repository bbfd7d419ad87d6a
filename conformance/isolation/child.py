"""One scenario's process: the implementation's factory, fetches and close, reported as events.

Forked from the template (`template.py`) with the resolver already imported, or, where forking
is unsafe, started fresh as `python -m matrix_resolver_conformance.isolation.child REQUEST`. Its
stdout and stderr go to the template, which keeps a capped copy; its events go, one JSON line
each, to the file descriptor it is given. Whatever it does to itself (monkeypatching, threads,
exit, fds) ends with it.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import sys
import threading
from collections.abc import Callable
from typing import Any

from matrix_resolver_conformance.env import Env
from matrix_resolver_conformance.run.program import Event, Program, leftover_threads

TRACEBACK_LIMIT = 20_000
CHANNEL_LOST = 86  # the exit code of a child whose events channel was closed under it


class _Writer:
    """Writes events; remembers if the channel was taken away (fds closed under it)."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.lost = False

    def __call__(self, event: Event) -> None:
        if len(event.get("traceback", "")) > TRACEBACK_LIMIT:
            event = {**event, "traceback": "..." + event["traceback"][-TRACEBACK_LIMIT:]}
        data = (json.dumps(event) + "\n").encode()
        try:
            while data:
                data = data[os.write(self.fd, data) :]
        except OSError:
            self.lost = True  # the implementation closed our channel: the exit code says so


def imported_since(count: int) -> list[str]:
    """The modules imported after `sys.modules` had `count` entries. Only those names are read:
    a set of every name would write to each one's reference count, and so copy every page that
    holds one from the template (about 110 pages per scenario)."""
    added = len(sys.modules) - count
    return sorted(itertools.islice(reversed(sys.modules), max(added, 0)))


def env_from(request: dict[str, Any]) -> Env:
    fields = dict(request["env"])
    fields["dns_server"] = tuple(fields["dns_server"])
    return Env(**fields)


def run(
    factory: Callable[..., Any],
    request: dict[str, Any],
    events_fd: int,
    loop: asyncio.AbstractEventLoop | None = None,
) -> None:
    """Run the scenario's program (on `loop`, made ahead if given), then exit this process
    (never returns)."""
    emit = _Writer(events_fd)
    before = set(threading.enumerate())
    modules = len(sys.modules)
    try:
        Program(factory, env_from(request), list(request["names"]), emit, loop).run()
        threads = leftover_threads(before)
        if threads:
            emit(
                {
                    "problem": f"the resolver left {len(threads)} thread(s) running after close: "
                    + ", ".join(threads[:5])
                }
            )
        emit({"imported": imported_since(modules)})
        sys.stdout.flush()
        sys.stderr.flush()
        emit({"finished": True})  # the template stops listening here: nothing may follow
    finally:
        os._exit(CHANNEL_LOST if emit.lost else 0)


def main(argv: list[str]) -> None:
    """The fresh-process form: REQUEST is JSON with the resolver text, the env and the names;
    events go to the fd named in it."""
    from matrix_resolver_conformance.run.resolvers import load

    request = json.loads(argv[0])
    sys.path[:] = request["sys_path"]
    run(load(request["resolver"]), request, int(request["events_fd"]))


if __name__ == "__main__":
    main(sys.argv[1:])
