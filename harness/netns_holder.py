"""The process that holds the world's private network namespace and makes its sockets.

    python -m matrix_resolver_harness.netns_holder FD

Started by `netns.open_network` as a fresh, single-threaded process (the kernel grants a user
namespace only to such a process). It unshares, brings `lo` up, routes the IPv6 test range, then
answers on the SOCK_SEQPACKET socket FD: first one message saying whether it worked (with the
namespace files when it did), then one socket per request, created in the namespace and passed
back (SCM_RIGHTS). A socket stays in the namespace it was made in, whoever binds or connects it.
It exits when FD closes, and dies with its parent.
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import shutil
import signal
import socket
import struct
import subprocess
import sys

from matrix_resolver_harness import syscalls
from matrix_resolver_harness.addresses import IPV6_PREFIX

SIOCGIFFLAGS = 0x8913
SIOCSIFFLAGS = 0x8914
IFF_UP = 0x1
REQUEST = struct.Struct("!ii")  # (family, type) of the socket wanted


def _read(path: str) -> str | None:
    try:
        with open(path) as f:
            return f.read().strip()
    except OSError:
        return None


def _has_cap_sys_admin() -> bool:
    for line in (_read("/proc/self/status") or "").splitlines():
        if line.startswith("CapEff:"):
            return bool(int(line.split()[1], 16) & (1 << 21))
    return False


def refusal_cause(err: int, as_root: bool) -> tuple[str, str]:
    """(what refused the namespace, a key naming the limit) from errno and the kernel's knobs."""
    if as_root and not _has_cap_sys_admin():
        return "root without CAP_SYS_ADMIN (a container?), and no user namespace either", "cap"
    if _read("/proc/sys/user/max_user_namespaces") == "0":
        return "user namespaces are disabled (sysctl user.max_user_namespaces=0)", "max_userns"
    if _read("/proc/sys/kernel/unprivileged_userns_clone") == "0":
        return (
            "unprivileged user namespaces are disabled (sysctl kernel.unprivileged_userns_clone=0)"
        ), "userns_clone"
    if _read("/proc/sys/kernel/apparmor_restrict_unprivileged_userns") == "1":
        return (
            "AppArmor restricts unprivileged user namespaces "
            "(kernel.apparmor_restrict_unprivileged_userns=1)"
        ), "apparmor"
    if err == errno.ENOSPC:
        return "the limit on user namespaces is reached (user.max_user_namespaces)", "max_userns"
    return f"the kernel refused: {os.strerror(err)} (seccomp, e.g. in a container?)", "other"


def _unshare() -> dict[str, object]:
    """Enter a new network namespace (and a user namespace owning it unless root)."""
    uid, gid = os.geteuid(), os.getegid()
    if uid == 0:
        try:
            syscalls.unshare(syscalls.CLONE_NEWNET)
            return {"ok": True, "user": False}
        except OSError:
            pass  # e.g. a container without CAP_SYS_ADMIN: a user namespace may still work
    try:
        syscalls.unshare(syscalls.CLONE_NEWUSER | syscalls.CLONE_NEWNET)
    except OSError as e:
        cause, key = refusal_cause(e.errno or 0, uid == 0)
        return {"ok": False, "reason": cause, "cause": key}
    with open("/proc/self/setgroups", "w") as f:
        f.write("deny")
    with open("/proc/self/uid_map", "w") as f:
        f.write(f"0 {uid} 1")
    with open("/proc/self/gid_map", "w") as f:
        f.write(f"0 {gid} 1")
    return {"ok": True, "user": True}


def _bring_lo_up() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        req = struct.pack("16sH14s", b"lo", 0, b"")
        flags = struct.unpack("16sH14s", fcntl.ioctl(s, SIOCGIFFLAGS, req))[1]
        fcntl.ioctl(s, SIOCSIFFLAGS, struct.pack("16sH14s", b"lo", flags | IFF_UP, b""))


def _route_ipv6_range() -> tuple[bool, str]:
    """Route fd00:5e::/32 to lo as local (AnyIP): any address in it can then be bound with
    IPV6_FREEBIND, without adding addresses one by one."""
    if not socket.has_ipv6:
        return False, "Python has no IPv6"
    ip = shutil.which("ip") or next(
        (p for p in ("/usr/sbin/ip", "/sbin/ip", "/usr/bin/ip") if os.path.exists(p)), None
    )
    if ip is None:
        return False, "the `ip` command (iproute2) is not installed"
    cmd = [ip, "-6", "route", "add", "local", f"{IPV6_PREFIX}::/32", "dev", "lo"]
    res = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if res.returncode != 0:
        return False, f"`{' '.join(cmd)}` failed: {res.stderr.strip()}"
    return True, ""


def main(fd: int) -> int:
    syscalls.prctl(syscalls.PR_SET_PDEATHSIG, signal.SIGKILL)
    channel = socket.socket(fileno=fd)
    state = _unshare()
    if not state["ok"]:
        channel.send(json.dumps(state).encode())
        return 1
    _bring_lo_up()
    ipv6, why = _route_ipv6_range()
    files = [os.open("/proc/self/ns/net", os.O_RDONLY)]
    if state["user"]:
        files.append(os.open("/proc/self/ns/user", os.O_RDONLY))
    ready = {**state, "ipv6": ipv6, "detail": why, "pid": os.getpid()}
    socket.send_fds(channel, [json.dumps(ready).encode()], files)
    for f in files:
        os.close(f)
    while True:
        request = channel.recv(REQUEST.size)
        if len(request) != REQUEST.size:
            return 0  # the judge closed its end (or sent nonsense): the world is over
        family, kind = REQUEST.unpack(request)
        try:
            sock = socket.socket(family, kind)
        except OSError as e:
            channel.send(json.dumps({"error": str(e)}).encode())
            continue
        socket.send_fds(channel, [b"{}"], [sock.fileno()])
        sock.close()


if __name__ == "__main__":
    sys.exit(main(int(sys.argv[1])))
