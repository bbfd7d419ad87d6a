"""What happens to the implementation in one scenario: factory(env), fetch(name) per fetch, close.

The same program runs wherever the implementation runs (its own process by default, a thread of
the judge's for debugging). It reports as it goes, one event at a time, so that whoever watches
can tell where it was if it never comes back: `phase` events before each step, `call` events
when a call ended, `problem` events for breaches of the contract. `Watcher` turns those events
into a `DriveOutcome`, and names the phase in which a silent implementation was stopped.
"""

from __future__ import annotations

import asyncio
import inspect
import threading
import traceback
from collections.abc import Callable
from typing import Any

from matrix_resolver_conformance.run.outcome import Call, DriveOutcome, raised, short_repr

CLEANUP_LIMIT = 1.0  # seconds an async close() may take after a cancellation
Event = dict[str, Any]


def _traceback(exc: BaseException) -> str:
    return "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))


class Program:
    """Runs the calls on the calling thread, with an event loop of its own for async ones."""

    def __init__(
        self,
        factory: Callable[..., Any],
        env: Any,
        names: list[str],
        emit: Callable[[Event], None],
        loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        self.factory, self.env, self.names, self.emit = factory, env, names, emit
        self.loop = loop or asyncio.new_event_loop()
        self.current: asyncio.Task[Any] | None = None
        self.cancelled = False

    def cancel(self) -> None:
        """From another thread: stop what is running and skip the rest."""
        self.cancelled = True
        task = self.current
        if task is not None and not self.loop.is_closed():
            self.loop.call_soon_threadsafe(task.cancel)

    def _call(self, fn: Callable[..., Any], *args: Any, cleanup: bool = False) -> Any:
        """fn(*args); an awaitable result runs on this program's loop. After a cancellation only
        clean-up calls still run, each bounded by CLEANUP_LIMIT."""
        result = fn(*args)
        if not inspect.isawaitable(result):
            return result
        if self.cancelled and not cleanup:
            if inspect.iscoroutine(result):
                result.close()  # never started: no "never awaited" warning
            raise asyncio.CancelledError

        async def wrap() -> Any:
            if cleanup and self.cancelled:
                return await asyncio.wait_for(result, CLEANUP_LIMIT)
            return await result

        self.current = self.loop.create_task(wrap())
        try:
            return self.loop.run_until_complete(self.current)
        finally:
            self.current = None

    def run(self) -> None:
        try:
            self.emit({"phase": "factory"})
            try:
                fetch = self._call(self.factory, self.env)
            except BaseException as exc:
                self.emit({"problem": f"the factory {raised(exc)}", "traceback": _traceback(exc)})
                return
            if not callable(fetch):
                self.emit(
                    {"problem": f"the factory returned {short_repr(fetch)}, not a callable fetch"}
                )
                return
            for i, name in enumerate(self.names, 1):
                if self.cancelled:
                    break
                self._fetch(fetch, i, name)
            self._close(fetch)
            self._reap()
        finally:
            self._shutdown()
            self.emit({"end": True})

    def _fetch(self, fetch: Callable[..., Any], i: int, name: str) -> None:
        what = f"fetch({name!r})"
        self.emit({"phase": "fetch", "i": i, "name": name})
        try:
            value = self._call(fetch, name)
        except BaseException as exc:
            self.emit(
                {
                    "call": {
                        "what": what,
                        "returned": False,
                        "summary": raised(exc),
                        "traceback": _traceback(exc),
                    }
                }
            )
            return
        self.emit({"phase": "render", "i": i, "name": name})
        try:
            summary = f"returned {short_repr(value)}"
        except BaseException as exc:  # a result whose repr() fails is a broken result
            self.emit(
                {
                    "call": {
                        "what": what,
                        "returned": True,
                        "summary": "returned a result that cannot be shown",
                    }
                }
            )
            self.emit({"problem": f"fetch {i} returned a result whose __repr__ {raised(exc)}"})
            return
        self.emit({"call": {"what": what, "returned": True, "summary": summary}})

    def _close(self, fetch: Any) -> None:
        for name in ("aclose", "close"):
            closer = getattr(fetch, name, None)
            if callable(closer):
                self.emit({"phase": "close", "name": name})
                try:
                    self._call(closer, cleanup=True)
                except BaseException as exc:
                    self.emit({"problem": f"{name}() {raised(exc)}", "traceback": _traceback(exc)})
                return

    def _reap(self) -> None:
        """Tasks still pending after close() are a leak: report them, then cancel them."""
        self.emit({"phase": "leaks"})
        leftover = [t for t in asyncio.all_tasks(self.loop) if not t.done()]
        if leftover:
            names = ", ".join(short_repr(t.get_coro(), 80) for t in leftover[:3])
            self.emit(
                {
                    "problem": f"the resolver left {len(leftover)} asyncio task(s) running "
                    f"after close: {names}"
                }
            )
            for task in leftover:
                task.cancel()
            self.loop.run_until_complete(asyncio.wait(leftover, timeout=CLEANUP_LIMIT))

    def _shutdown(self) -> None:
        try:
            self.loop.run_until_complete(self.loop.shutdown_asyncgens())
            self.loop.run_until_complete(
                asyncio.wait_for(self.loop.shutdown_default_executor(), CLEANUP_LIMIT)
            )
        except BaseException as exc:  # a resolver's executor thread that never ends
            self.emit({"problem": f"shutting the resolver's loop down {raised(exc)}"})
        finally:
            self.loop.close()


def leftover_threads(before: set[threading.Thread]) -> list[str]:
    """Non-daemon threads started since `before` and still running: they would keep a
    process from ever exiting."""
    return [
        t.name for t in threading.enumerate() if t not in before and t.is_alive() and not t.daemon
    ]


class Watcher:
    """Builds the outcome from a program's events, as they arrive."""

    def __init__(self) -> None:
        self.outcome = DriveOutcome()
        self.phase: Event = {"phase": "start"}
        self.ended = False

    def __call__(self, event: Event) -> None:
        if "phase" in event:
            self.phase = event
        elif "call" in event:
            self.outcome.calls.append(Call(**event["call"]))
        elif "problem" in event:
            self.outcome.problems.append(event["problem"])
        elif event.get("end"):
            self.ended = True  # (other events, e.g. "imported", are not the outcome's)

    def where(self) -> str:
        """Where the program is now, for a message about it being stopped there."""
        p = self.phase
        kind = p["phase"]
        if kind == "fetch":
            return f"in fetch {p['i']} ({p['name']!r})"
        if kind == "render":
            return f"while rendering the result of fetch {p['i']} (its __repr__)"
        if kind == "close":
            return f"in {p['name']}()"
        if kind == "factory":
            return "in the factory"
        if kind == "leaks":
            return "after close"
        return "before the factory was called"
