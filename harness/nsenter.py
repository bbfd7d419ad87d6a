"""Start a program inside the world's network namespace (and, if asked, with files overlaid).

    python -m matrix_resolver_harness.nsenter --net-fd N [--user-fd M]
        [--bind SOURCE=TARGET ...] -- PROGRAM ARGS...

The namespace files come from the holder (`netns_holder`). As an ordinary user the user
namespace is entered first (the kernel lets its owner in, from a single-threaded process, which
this is); `--bind` then makes a private mount namespace in which SOURCE is shown at TARGET, e.g.
a resolv.conf naming the world's DNS server over /etc/resolv.conf. Then it becomes PROGRAM.
"""

from __future__ import annotations

import argparse
import os
import sys

from matrix_resolver_harness import syscalls


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="matrix_resolver_harness.nsenter")
    parser.add_argument("--net-fd", type=int, required=True)
    parser.add_argument("--user-fd", type=int)
    parser.add_argument("--bind", action="append", default=[], metavar="SOURCE=TARGET")
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
    except OSError as e:
        print(f"matrix_resolver_harness.nsenter: cannot enter the world: {e}", file=sys.stderr)
        return 125
    for fd in (args.net_fd, args.user_fd):
        if fd is not None:
            os.close(fd)
    try:
        os.execvp(command[0], command)
    except OSError as e:
        print(f"matrix_resolver_harness.nsenter: cannot run {command[0]!r}: {e}", file=sys.stderr)
        return 127


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
