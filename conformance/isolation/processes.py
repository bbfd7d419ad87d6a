"""What a scenario's processes left behind, found and killed: the template is a child subreaper,
so every orphan (double forks and `setsid` included) becomes its child, and /proc lists them."""

from __future__ import annotations

import contextlib
import os
import signal


def children() -> list[int]:
    """Our child processes (orphans reparented to us included: we are a subreaper)."""
    found: set[int] = set()
    try:
        for task in os.listdir("/proc/self/task"):
            with open(f"/proc/self/task/{task}/children") as f:
                found.update(int(p) for p in f.read().split())
    except OSError:  # no CONFIG_PROC_CHILDREN: scan every process's parent
        me = os.getpid()
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                try:
                    with open(f"/proc/{entry}/stat") as f:
                        if int(f.read().rpartition(")")[2].split()[1]) == me:
                            found.add(int(entry))
                except (OSError, ValueError, IndexError):
                    continue
    return sorted(found)


def _name(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            words = f.read().split(b"\0")
        return " ".join(w.decode(errors="replace") for w in words if w)[:80] or "?"
    except OSError:
        return "?"


def descendants(pid: int) -> list[int]:
    """The processes below `pid` (not reparented yet), from /proc's children lists."""
    found: list[int] = []
    todo = [pid]
    while todo:
        parent = todo.pop()
        try:
            tasks = os.listdir(f"/proc/{parent}/task")
        except OSError:
            continue
        for task in tasks:
            try:
                with open(f"/proc/{parent}/task/{task}/children") as f:
                    kids = [int(p) for p in f.read().split()]
            except OSError:
                continue
            found += kids
            todo += kids
    return found


def _zombie(pid: int) -> bool:
    """Dead already, waiting to be reaped (its exit was seen to: it is no leftover)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rpartition(")")[2].split()[0] == "Z"
    except (OSError, IndexError):
        return True  # gone


def kill_all(pids: list[int]) -> list[str]:
    """SIGKILL each; describe those that were still running."""
    left = []
    for pid in pids:
        if not _zombie(pid):
            left.append(f"pid {pid} ({_name(pid)})")
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    return left


def sweep() -> list[str]:
    """Kill and reap every child until none is left; describe those that were alive."""
    left: list[str] = []
    for _ in range(100):
        alive = children()
        if not alive:
            break
        left += kill_all(alive)
        for pid in alive:
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, 0)
    return left
