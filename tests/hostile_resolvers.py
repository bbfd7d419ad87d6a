"""Resolvers that attack the suite itself (issue 11: "a hung, crashing or lying resolver costs
one scenario, and the run goes on"), for tests/test_isolation.py.

Each is the reference resolver except in the run's first scenario (the first to call `_first()`:
it creates a file in `$MRC_HOSTILE_DIR`, exclusively), where it misbehaves once. Processes they
start carry that directory in their command line, so a test can tell whether any survived.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import socket
import ssl
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from matrix_resolver_conformance.reference import factory as reference

DIR_VARIABLE = "MRC_HOSTILE_DIR"
HOUR = 3600.0


def _dir() -> Path:
    return Path(os.environ[DIR_VARIABLE])


def _first() -> bool:
    """True for the first caller in the run (any process), False for every later one."""
    try:
        os.close(os.open(_dir() / "hit", os.O_CREAT | os.O_EXCL | os.O_WRONLY))
    except FileExistsError:
        return False
    return True


SLEEPER_CODE = (
    "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(3600)"
)


def sleeper() -> list[str]:
    """argv of a process that sleeps an hour, ignoring SIGTERM, with the marker in its name."""
    return [sys.executable, "-c", SLEEPER_CODE, str(_dir())]


Good = Callable[[str], Any]
Misbehave = Callable[[Any, str, Good], Any]


def _first_fetch(misbehave: Misbehave) -> Callable[[Any], Any]:
    """A factory: the reference, except that the run's first fetch is `misbehave(env, name,
    good)` (which may call the good fetch, `good(name)`, and returns the fetch's result)."""

    def factory(env: Any) -> Any:
        good = reference(env)

        def fetch(name: str) -> Any:
            return misbehave(env, name, good) if _first() else good(name)

        fetch.aclose = good.aclose  # type: ignore[attr-defined]  # the contract's optional hook
        return fetch

    return factory


# -- the factory ---------------------------------------------------------------------------------


def factory_raises(env: Any) -> Any:
    if _first():
        raise RuntimeError("the hostile factory blew up")
    return reference(env)


def factory_hangs(env: Any) -> Any:
    if _first():
        time.sleep(HOUR)
    return reference(env)


async def async_factory_hangs(env: Any) -> Any:
    if _first():
        await asyncio.sleep(HOUR)
    return reference(env)


# -- fetch ---------------------------------------------------------------------------------------


async def _swallow_cancellation() -> None:
    while True:
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.sleep(HOUR)


def _non_daemon_thread(env: Any, name: str, good: Good) -> Any:
    threading.Thread(target=time.sleep, args=(HOUR,), name="hostile-non-daemon").start()
    return good(name)


def _close_fds(env: Any, name: str, good: Good) -> Any:
    os.closerange(3, 1025)
    return 200  # and lies about it


def _print_50_mb(env: Any, name: str, good: Good) -> Any:
    line = "y" * ((1 << 20) - 1) + "\n"
    for _ in range(50):
        sys.stdout.write(line)
    sys.stdout.flush()
    return good(name)


def _allocate_4_gib(env: Any, name: str, good: Good) -> Any:
    """Takes 4 GiB, written so that it is resident, and keeps it (until killed). The progress
    is written down: writing 4 GiB can take longer than the deadline on a slow machine."""
    held = []
    for _ in range(16):
        held.append(b"\1" * (256 << 20))
        progress = _dir() / "allocated.new"  # replaced whole: a kill mid-write loses nothing
        progress.write_text(str(len(held) * 256 << 20))
        progress.replace(_dir() / "allocated")
    time.sleep(HOUR)
    return good(name)


def _backtrack(env: Any, name: str, good: Good) -> Any:
    return re.match(r"(a+)+$", "a" * 64 + "!")  # exponential, in C, holding the GIL


class Unshowable:
    def __repr__(self) -> str:
        raise ValueError("this result refuses to be shown")


class EndlessRepr:
    def __repr__(self) -> str:
        time.sleep(HOUR)
        return "never"


async def _unshowable(env: Any, name: str, good: Good) -> Any:
    await good(name)  # the request is right: only the result is broken
    return Unshowable()


async def _endless_repr(env: Any, name: str, good: Good) -> Any:
    await good(name)
    return EndlessRepr()


class _Poisoned:
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        raise OSError("poisoned by the hostile resolver")


def _monkeypatch(env: Any, name: str, good: Good) -> Any:
    socket.socket = _Poisoned  # type: ignore[assignment,misc]  # the hostile monkeypatch itself
    ssl.SSLContext = _Poisoned  # type: ignore[assignment,misc]  # the hostile monkeypatch itself
    return good(name)


def _fork(env: Any, name: str, good: Good) -> Any:
    argv = sleeper()
    if os.fork() == 0:
        os.execv(argv[0], argv)
    return good(name)


def _double_fork_setsid(env: Any, name: str, good: Good) -> Any:
    argv = sleeper()
    middle = os.fork()
    if middle == 0:
        os.setsid()
        if os.fork() == 0:
            os.execv(argv[0], argv)
        os._exit(0)
    os.waitpid(middle, 0)  # the grandchild is an orphan now
    return good(name)


def _port_scan(env: Any, name: str, good: Good) -> Any:
    """Knocks at every port below 1025 and a few more on the scenario's host and the DNS
    server's, and at the usual ones on 64 addresses around them, writing garbage wherever a
    connection is accepted; then claims success."""
    host = name.rsplit(":", 1)[0] if name.count(":") == 1 else name
    dns_host, dns_port = env.dns_server
    every = [*range(1, 1025), *range(8440, 8461), dns_port]
    targets = [(h, p) for h in dict.fromkeys((host, dns_host)) for p in every]
    for around in (host, dns_host):
        prefix = around.rsplit(".", 1)[0]
        targets += [(f"{prefix}.{d}", p) for d in range(1, 33) for p in (53, 443, 8448, 8449)]
    knocked = 0
    for address in dict.fromkeys(targets):
        with socket.socket() as s:
            s.settimeout(0.2)
            if s.connect_ex(address) == 0:
                knocked += 1
                s.sendall(b"\x16\x03\x01 garbage\r\n\r\n")
    (_dir() / "knocked").write_text(f"{len(targets)} {knocked}")
    return 200


fetch_sleeps_an_hour = _first_fetch(lambda env, name, good: time.sleep(HOUR))
fetch_swallows_cancellation = _first_fetch(lambda env, name, good: _swallow_cancellation())
fetch_leaves_non_daemon_thread = _first_fetch(_non_daemon_thread)
fetch_exits_3 = _first_fetch(lambda env, name, good: os._exit(3))
fetch_sys_exit_0 = _first_fetch(lambda env, name, good: sys.exit(0))
fetch_closes_fds = _first_fetch(_close_fds)
fetch_prints_50_mb = _first_fetch(_print_50_mb)
fetch_allocates_4_gib = _first_fetch(_allocate_4_gib)
fetch_backtracks = _first_fetch(_backtrack)
result_repr_raises = _first_fetch(_unshowable)
result_repr_hangs = _first_fetch(_endless_repr)
fetch_monkeypatches = _first_fetch(_monkeypatch)
fetch_forks = _first_fetch(_fork)
fetch_double_forks_setsid = _first_fetch(_double_fork_setsid)
fetch_port_scans = _first_fetch(_port_scan)


# -- close ---------------------------------------------------------------------------------------


def close_hangs(env: Any) -> Any:
    good = reference(env)
    hostile = _first()

    def fetch(name: str) -> Any:
        return good(name)

    def close() -> None:
        if hostile:
            time.sleep(HOUR)

    fetch.close = close  # type: ignore[attr-defined]  # the contract's optional hook
    return fetch
