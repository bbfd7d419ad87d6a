"""Run a command where the kernel really refuses user namespaces, without touching the machine.

    python tests/userns_sandbox.py [--max-user-namespaces N] [--uid UID] [--own-netns]
        [--unprivileged-port-start PORT] -- COMMAND ARGS...
    python tests/userns_sandbox.py --only-netns -- COMMAND ARGS...

Run as root. It forks; the child enters a new user namespace, in which the parent maps root and
UID (both to themselves, so files keep their owners), then, as that namespace's root, sets
`user.max_user_namespaces` (a per-namespace limit: N=0 makes the kernel refuse every user
namespace below, exactly as `sysctl user.max_user_namespaces=0` does on a machine), optionally
moves into a network namespace of its own (lo up, `net.ipv4.ip_unprivileged_port_start` set
there only), drops to UID (unless 0) and becomes COMMAND. The exit status is COMMAND's.
`--only-netns`: no user namespace, just COMMAND as root in a network namespace of its own (lo
up), e.g. to use the machine's loopback without sharing it with whatever else runs there.
"""

from __future__ import annotations

import argparse
import ctypes
import os
import socket
import struct
import sys

CLONE_NEWUSER = 0x10000000
CLONE_NEWNET = 0x40000000
SIOCGIFFLAGS, SIOCSIFFLAGS, IFF_UP = 0x8913, 0x8914, 0x1


def _unshare(flags: int) -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.unshare(flags) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"unshare({flags:#x}): {os.strerror(err)}")


def _write(path: str, text: str) -> None:
    with open(path, "w") as f:
        f.write(text)


def _lo_up() -> None:
    import fcntl

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        req = struct.pack("16sH14s", b"lo", 0, b"")
        flags = struct.unpack("16sH14s", fcntl.ioctl(s, SIOCGIFFLAGS, req))[1]
        fcntl.ioctl(s, SIOCSIFFLAGS, struct.pack("16sH14s", b"lo", flags | IFF_UP, b""))


def _child(args: argparse.Namespace, unshared_w: int, mapped_r: int) -> None:
    try:
        _unshare(CLONE_NEWUSER)
        os.write(unshared_w, b"u")
        os.close(unshared_w)
        if os.read(mapped_r, 1) != b"m":
            raise SystemExit("userns_sandbox: the parent could not map the namespace")
        _write("/proc/sys/user/max_user_namespaces", str(args.max_user_namespaces))
        if args.own_netns:
            _unshare(CLONE_NEWNET)
            _lo_up()
            if args.unprivileged_port_start is not None:
                _write(
                    "/proc/sys/net/ipv4/ip_unprivileged_port_start",
                    str(args.unprivileged_port_start),
                )
        if args.uid != 0:
            os.setgroups([])
            os.setresgid(args.uid, args.uid, args.uid)
            os.setresuid(args.uid, args.uid, args.uid)
        os.execvp(args.command[0], args.command)
    except BaseException as e:  # never return into the parent's code
        print(f"userns_sandbox: {e}", file=sys.stderr)
        os._exit(126)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="userns_sandbox")
    parser.add_argument("--max-user-namespaces", type=int, default=0)
    parser.add_argument("--uid", type=int, default=65534)
    parser.add_argument("--own-netns", action="store_true")
    parser.add_argument("--unprivileged-port-start", type=int)
    parser.add_argument("--only-netns", action="store_true")
    parser.add_argument("command", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)
    if args.command[:1] == ["--"]:
        args.command = args.command[1:]
    if not args.command:
        parser.error("no command given")
    if os.geteuid() != 0:
        parser.error("run as root (it maps root and --uid into the namespace)")
    if args.only_netns:
        _unshare(CLONE_NEWNET)
        _lo_up()
        os.execvp(args.command[0], args.command)
    unshared_r, unshared_w = os.pipe()
    mapped_r, mapped_w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(unshared_r)
        os.close(mapped_w)
        _child(args, unshared_w, mapped_r)
    os.close(unshared_w)
    os.close(mapped_r)
    if os.read(unshared_r, 1) != b"u":
        os.waitpid(pid, 0)
        print("userns_sandbox: the child could not enter a user namespace", file=sys.stderr)
        return 126
    ids = sorted({0, args.uid})
    mapping = "".join(f"{i} {i} 1\n" for i in ids)
    try:
        _write(f"/proc/{pid}/uid_map", mapping)
        _write(f"/proc/{pid}/gid_map", mapping)
        os.write(mapped_w, b"m")
    finally:
        os.close(mapped_w)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
