"""Run the implementation on a thread of the judge's own process (`--conformance-in-process`).

Unprotected, for debugging only: a resolver that blocks the GIL, kills or poisons the process, or
leaves threads behind takes the run with it (the default runs it in a process of its own, see
`isolation`). Why a thread at all: the fake world runs on the main thread's loop, and a resolver
that blocks its own loop must not stall the world. On the deadline the running task is
cancelled; a thread that still does not finish is abandoned (a daemon) and the scenario fails.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Callable
from typing import Any

from matrix_resolver_conformance.run.outcome import DriveOutcome
from matrix_resolver_conformance.run.program import Program, Watcher

CANCEL_GRACE = 1.0  # seconds a cancelled resolver gets to unwind


def _settle(done: asyncio.Future[None]) -> None:
    if not done.done():
        done.set_result(None)


async def drive_in_thread(
    factory: Callable[..., Any],
    env: Any,
    names: list[str],
    deadline: float,
    enter: Callable[[], None] = lambda: None,
) -> DriveOutcome:
    """factory(env) then fetch(name) for each name, within `deadline` seconds in all; `enter`
    runs first on the new thread (e.g. to join the world's network namespace)."""
    loop = asyncio.get_running_loop()
    started = loop.time()
    watcher = Watcher()
    lock = threading.Lock()

    def emit(event: dict[str, Any]) -> None:
        with lock:  # an abandoned thread may still report after we have read the outcome
            watcher(event)

    program = Program(factory, env, names, emit)
    done = loop.create_future()

    def body() -> None:
        try:
            enter()
            program.run()
        finally:
            # RuntimeError: the world's loop is gone (an abandoned thread ending late).
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(_settle, done)

    threading.Thread(target=body, name="resolver-under-test", daemon=True).start()
    try:
        await asyncio.wait_for(asyncio.shield(done), deadline)
    except asyncio.TimeoutError:
        where = watcher.where()
        program.cancel()
        try:
            await asyncio.wait_for(asyncio.shield(done), CANCEL_GRACE)
            state = "it was cancelled"
        except asyncio.TimeoutError:
            state = "it ignored cancellation and was abandoned (a daemon thread, still running)"
        with lock:
            watcher.outcome.problems.insert(
                0, f"the resolver did not finish within {deadline:.1f} s ({where}); {state}"
            )
    with lock:  # a copy: an abandoned thread may still append to its own outcome later
        out = watcher.outcome
        return DriveOutcome(list(out.calls), list(out.problems), loop.time() - started)
