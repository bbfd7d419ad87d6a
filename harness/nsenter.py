"""Start a program inside the world's network namespace (and, if asked, with files overlaid).

    python -m matrix_resolver_harness.nsenter --net-fd N [--user-fd M]
        [--bind SOURCE=TARGET ...] [--own-pids] -- PROGRAM ARGS...

The namespace files come from the holder (`netns_holder`). As an ordinary user the user
namespace is entered first (the kernel lets its owner in, from a single-threaded process, which
this is); `--bind` then makes a private mount namespace in which SOURCE is shown at TARGET, e.g.
a resolv.conf naming the world's DNS server over /etc/resolv.conf. Then it becomes PROGRAM.

`--own-pids` runs PROGRAM in a PID namespace of its own instead, so that nothing it starts can
outlive it (`setsid` and double forks included): the namespace's first process (a small init,
this module) starts PROGRAM, reaps every orphan, passes SIGTERM and SIGINT on, and exits with
PROGRAM's status, whereupon the kernel kills whatever is left in the namespace. This process
stays outside as its parent and passes the same signals on, so a caller sees one process that
ends with PROGRAM's status.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys

from matrix_resolver_harness import syscalls


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="matrix_resolver_harness.nsenter")
    parser.add_argument("--net-fd", type=int, required=True)
    parser.add_argument("--user-fd", type=int)
    parser.add_argument("--bind", action="append", default=[], metavar="SOURCE=TARGET")
    parser.add_argument("--own-pids", action="store_true")
    parser.add_argument("command", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        parser.error("no program given")
    try:
        if args.user_fd is not None:
            syscalls.setns(args.user_fd, syscalls.CLONE_NEWUSER)
        syscalls.setns(args.net_fd, syscalls.CLONE_NEWNET)
        if args.bind:
            syscalls.unshare(syscalls.CLONE_NEWNS)
            syscalls.mount(None, "/", syscalls.MS_REC | syscalls.MS_PRIVATE)
            for pair in args.bind:
                source, _, target = pair.partition("=")
                syscalls.mount(source, target, syscalls.MS_BIND)
        if args.own_pids:
            syscalls.unshare(syscalls.CLONE_NEWPID)  # for our children: the next fork is init
    except OSError as e:
        print(f"matrix_resolver_harness.nsenter: cannot enter the world: {e}", file=sys.stderr)
        return 125
    for fd in (args.net_fd, args.user_fd):
        if fd is not None:
            os.close(fd)
    if args.own_pids:
        init = os.fork()
        if init == 0:
            os._exit(_init(command))
        _pass_signals_to(init)
        return _wait(init)
    return _become(command)


PASSED_ON = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)


def _pass_signals_to(pid: int) -> None:
    for signum in PASSED_ON:
        signal.signal(signum, lambda s, _frame: os.kill(pid, s))


def _wait(pid: int) -> int:
    """Reap children (orphans too, as init) until `pid` ends; its status as an exit code."""
    while True:
        try:
            ended, status = os.waitpid(-1, 0)
        except ChildProcessError:
            return 1
        except InterruptedError:
            continue
        if ended == pid:
            return os.WEXITSTATUS(status) if os.WIFEXITED(status) else 128 + os.WTERMSIG(status)


def _init(command: list[str]) -> int:
    """PID 1 of the namespace: start PROGRAM, reap orphans, end with PROGRAM's status."""
    program = os.fork()
    if program == 0:
        for signum in PASSED_ON:
            signal.signal(signum, signal.SIG_DFL)
        os._exit(_become(command))
    _pass_signals_to(program)
    return _wait(program)


def _become(command: list[str]) -> int:
    try:
        os.execvp(command[0], command)
    except OSError as e:
        print(f"matrix_resolver_harness.nsenter: cannot run {command[0]!r}: {e}", file=sys.stderr)
        return 127


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
