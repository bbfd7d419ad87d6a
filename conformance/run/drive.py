"""Run a resolver under test on its own thread and event loop, with a hard deadline.

Why a thread: the fake world runs on the main thread's loop, and a resolver that blocks its loop
(a sync call inside async code, a fetch that never returns) must not stall the world or the run.
The factory and each fetch may be sync or async: a sync callable runs on the thread, an
awaitable result runs on the thread's loop. On the deadline the running task is cancelled; a
thread that still does not finish is abandoned (it is a daemon) and the scenario fails saying so.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

CANCEL_GRACE = 1.0  # seconds a cancelled resolver gets to unwind


@dataclass
class Call:
    """One call of the resolver, as the harness saw it end."""

    what: str  # "fetch('origin.test')"
    returned: bool
    summary: str  # "returned <...>" / "raised X: y"


@dataclass
class DriveOutcome:
    calls: list[Call] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # contract breaches: hang, leaks, ...
    elapsed: float = 0.0


def _short(value: Any, limit: int = 160) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


RAISED_LIMIT = 2000  # enough for an exec child's stderr tail (20 lines) to reach the verdict


def _raised(exc: BaseException) -> str:
    text = f"raised {type(exc).__name__}: {exc}"
    return text if len(text) <= RAISED_LIMIT else text[: RAISED_LIMIT - 3] + "..."


class _ResolverThread(threading.Thread):
    def __init__(self, factory: Callable[..., Any], env: Any, names: list[str]) -> None:
        super().__init__(name="resolver-under-test", daemon=True)
        self.factory, self.env, self.names = factory, env, names
        self.outcome = DriveOutcome()
        self.loop = asyncio.new_event_loop()
        self.current: asyncio.Task | None = None
        self.cancelled = False
        self.on_done: Callable[[], None] = lambda: None

    def _call(self, fn: Callable[..., Any], *args: Any, cleanup: bool = False) -> Any:
        """Call fn; run an awaitable result on this thread's loop. After a cancellation only
        clean-up calls still run (close/aclose), each bounded by CANCEL_GRACE."""
        result = fn(*args)
        if inspect.isawaitable(result):
            if self.cancelled and not cleanup:
                if inspect.iscoroutine(result):
                    result.close()  # never started: no "never awaited" warning
                raise asyncio.CancelledError

            async def wrap() -> Any:
                if cleanup:
                    return await asyncio.wait_for(result, CANCEL_GRACE)
                return await result

            self.current = self.loop.create_task(wrap())
            try:
                result = self.loop.run_until_complete(self.current)
            finally:
                self.current = None
        return result

    def cancel(self) -> None:
        """From another thread: stop what is running and skip the rest."""
        self.cancelled = True
        task = self.current
        if task is not None and not self.loop.is_closed():
            self.loop.call_soon_threadsafe(task.cancel)

    def run(self) -> None:
        out = self.outcome
        try:
            try:
                fetch = self._call(self.factory, self.env)
            except BaseException as exc:
                out.problems.append(f"the factory {_raised(exc)}")
                return
            if not callable(fetch):
                out.problems.append(f"the factory returned {_short(fetch)}, not a callable fetch")
                return
            for name in self.names:
                if self.cancelled:
                    break
                what = f"fetch({name!r})"
                try:
                    value = self._call(fetch, name)
                    out.calls.append(Call(what, True, f"returned {_short(value)}"))
                except BaseException as exc:
                    out.calls.append(Call(what, False, _raised(exc)))
            self._close(fetch)
            self._reap()
        finally:
            self._shutdown()
            self.on_done()

    def _close(self, fetch: Any) -> None:
        for name in ("aclose", "close"):
            closer = getattr(fetch, name, None)
            if callable(closer):
                try:
                    self._call(closer, cleanup=True)
                except BaseException as exc:
                    self.outcome.problems.append(f"{name}() {_raised(exc)}")
                return

    def _reap(self) -> None:
        """Tasks still pending after close() are a leak: report them, then cancel them."""
        leftover = [t for t in asyncio.all_tasks(self.loop) if not t.done()]
        if not leftover:
            return
        names = ", ".join(_short(t.get_coro(), 80) for t in leftover[:3])
        self.outcome.problems.append(
            f"the resolver left {len(leftover)} asyncio task(s) running after close: {names}"
        )
        for task in leftover:
            task.cancel()
        waiter = asyncio.wait(leftover, timeout=CANCEL_GRACE)
        self.loop.run_until_complete(waiter)

    def _shutdown(self) -> None:
        try:
            self.loop.run_until_complete(self.loop.shutdown_asyncgens())
            self.loop.run_until_complete(
                asyncio.wait_for(self.loop.shutdown_default_executor(), CANCEL_GRACE)
            )
        except BaseException as exc:  # a resolver's executor thread that never ends
            self.outcome.problems.append(f"shutting the resolver's loop down {_raised(exc)}")
        finally:
            self.loop.close()


async def drive(
    factory: Callable[..., Any], env: Any, names: list[str], deadline: float
) -> DriveOutcome:
    """Run factory(env) then fetch(name) for each name, within `deadline` seconds in all."""
    loop = asyncio.get_running_loop()
    started = loop.time()
    thread = _ResolverThread(factory, env, names)
    done = loop.create_future()

    def on_done() -> None:  # runs on the resolver thread
        # RuntimeError: the world's loop is gone (an abandoned thread ending late).
        with contextlib.suppress(RuntimeError):
            loop.call_soon_threadsafe(lambda: done.done() or done.set_result(None))

    thread.on_done = on_done
    thread.start()
    try:
        await asyncio.wait_for(asyncio.shield(done), deadline)
    except asyncio.TimeoutError:
        thread.cancel()
        try:
            await asyncio.wait_for(asyncio.shield(done), CANCEL_GRACE)
            state = "it was cancelled"
        except asyncio.TimeoutError:
            state = "it ignored cancellation and was abandoned (a daemon thread, still running)"
        thread.outcome.problems.insert(
            0, f"the resolver did not finish within {deadline:.1f} s; {state}"
        )
    # A copy: an abandoned thread may still append to its own outcome later.
    out = thread.outcome
    return DriveOutcome(list(out.calls), list(out.problems), loop.time() - started)
