"""Put this process's world in a private network namespace, when the kernel allows it.

Why: inside a fresh namespace only `lo` exists, so ports 443/8448 bind on any 127.0.0.0/8 address
without clashing with the machine, IPv6 test addresses can be added, and no traffic of a resolver
under test (DNS included) can reach a real server.

`unshare(CLONE_NEWNET)` changes the namespace of the *calling thread* only; threads and processes
it starts afterwards inherit it. So this is called from the main thread before any world, resolver
thread or subprocess exists. As root a bare network namespace suffices; otherwise a user namespace
is needed too, which the kernel only grants to a single-threaded process.
"""

from __future__ import annotations

import ctypes
import errno
import fcntl
import os
import shutil
import socket
import struct
import subprocess
from dataclasses import dataclass

CLONE_NEWNET = 0x40000000
CLONE_NEWUSER = 0x10000000
SIOCGIFFLAGS = 0x8913
SIOCSIFFLAGS = 0x8914
IFF_UP = 0x1
IPV6_FREEBIND = 78
IPV6_PREFIX = "fd00:5e"  # AnyIP range routed to lo inside the namespace: fd00:5e::/32


@dataclass(frozen=True)
class NetworkSetup:
    """Where the world lives and what it can offer."""

    private: bool  # True: a private namespace of our own
    ipv6: bool  # True: test IPv6 addresses under IPV6_PREFIX can be bound
    detail: str

    def describe(self) -> str:
        where = "private network namespace" if self.private else "the machine's loopback"
        v6 = "IPv6 test addresses" if self.ipv6 else f"no IPv6 test addresses ({self.detail})"
        return f"{where}; {v6}"


class NetworkUnavailable(RuntimeError):
    """The world cannot be built here; the message names the ways out."""


_setup: NetworkSetup | None = None


def ensure_network(mode: str = "auto") -> NetworkSetup:
    """Enter (once per process) a private namespace, or check the machine's loopback will do.

    mode: "auto" (namespace if possible, else the machine's loopback if 443 binds),
    "require" (namespace or error), "off" (the machine's loopback).
    """
    global _setup
    if _setup is not None:
        return _setup
    reason = "not tried (--netns=off)"
    if mode != "off":
        reason = _try_unshare()
        if reason == "":
            _bring_lo_up()
            ipv6, why = _route_ipv6_range()
            _setup = NetworkSetup(private=True, ipv6=ipv6, detail=why)
            return _setup
        if mode == "require":
            raise NetworkUnavailable(_ways_out(f"cannot create a network namespace: {reason}"))
    problem = _check_port_443()
    if problem:
        raise NetworkUnavailable(
            _ways_out(f"no private network namespace ({reason}) and {problem}")
        )
    _setup = NetworkSetup(private=False, ipv6=False, detail="the machine's lo has only ::1")
    return _setup


def _ways_out(problem: str) -> str:
    return (
        f"matrix-resolver-conformance: {problem}. Ways out: run as root (or under sudo); "
        "or allow unprivileged user namespaces (sysctl kernel.unprivileged_userns_clone=1, "
        "or kernel.apparmor_restrict_unprivileged_userns=0); or wrap the run: "
        "`unshare -rn sh -c 'ip link set lo up && pytest ...'`; "
        "or let users bind 443 (sysctl net.ipv4.ip_unprivileged_port_start=443) with --netns=off."
    )


def _try_unshare() -> str:
    """Return "" on success, else why it failed."""
    libc = ctypes.CDLL(None, use_errno=True)
    if os.geteuid() == 0:
        if libc.unshare(CLONE_NEWNET) == 0:
            return ""
        return os.strerror(ctypes.get_errno())
    uid, gid = os.geteuid(), os.getegid()
    if libc.unshare(CLONE_NEWUSER | CLONE_NEWNET) != 0:
        err = ctypes.get_errno()
        if err == errno.EINVAL:
            return "the process is multi-threaded, so no user namespace can be created"
        return os.strerror(err)
    try:
        with open("/proc/self/setgroups", "w") as f:
            f.write("deny")
        with open("/proc/self/uid_map", "w") as f:
            f.write(f"0 {uid} 1")
        with open("/proc/self/gid_map", "w") as f:
            f.write(f"0 {gid} 1")
    except OSError as e:  # pragma: no cover - depends on the kernel
        return f"user namespace mapping failed: {e}"
    return ""


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


def _check_port_443() -> str:
    """Return "" when 443 binds on a test loopback address, else the problem."""
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.255.255.254", 443))
        except OSError as e:
            return f"port 443 cannot be bound on loopback ({e.strerror})"
    return ""


def bindable_socket(address: str, port: int, kind: int = socket.SOCK_STREAM) -> socket.socket:
    """A socket bound to (address, port), IPv6 test addresses included (via IPV6_FREEBIND)."""
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    sock = socket.socket(family, kind)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if family == socket.AF_INET6:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            sock.setsockopt(socket.IPPROTO_IPV6, IPV6_FREEBIND, 1)
        sock.bind((address, port))
    except BaseException:
        sock.close()
        raise
    sock.setblocking(False)
    return sock
