"""Where the world's sockets live: a private network namespace, or the machine's loopback.

Why a namespace: inside a fresh one only `lo` exists, so ports 443/8448 bind on any 127.0.0.0/8
address without clashing with the machine, IPv6 test addresses can be added, and no traffic of a
resolver under test (DNS included) can reach a real server.

Why a helper process holds it (`netns_holder`): the kernel grants a user namespace (needed when
not root) only to a single-threaded process, and nobody can leave one. pytest and its xdist
workers have threads, and the caller must stay where it was. So a fresh child makes the namespace
and creates sockets on request; a socket belongs to the namespace it was created in, whoever binds
or connects it. The judge's process never changes namespace. Processes that must run inside (the
implementation under test) start through `nsenter` with the holder's namespace files.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from matrix_resolver_harness import syscalls
from matrix_resolver_harness.addresses import IPV6_PREFIX
from matrix_resolver_harness.netns_holder import REQUEST

__all__ = [
    "IPV6_PREFIX",
    "NetworkSetup",
    "NetworkUnavailable",
    "SocketFactory",
    "bound_socket",
    "open_network",
]

IPV6_FREEBIND = 78
HOLDER_START_TIMEOUT = 10.0


SocketFactory = Callable[[str, int, int], socket.socket]  # (address, port, SOCK_*) -> bound


def bound_socket(
    address: str,
    port: int,
    kind: int = socket.SOCK_STREAM,
    make: Callable[[int, int], socket.socket] = socket.socket,
) -> socket.socket:
    """A non-blocking socket bound to (address, port), IPv6 test addresses included (with
    IPV6_FREEBIND), made by `make` (default: here, in this process's network)."""
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    sock = make(family, kind)
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


class NetworkUnavailable(RuntimeError):
    """No private namespace could be made (and one was required): `cause` names the limit (a
    key of netns_holder.refusal_cause), `reason` says it in words."""

    def __init__(self, reason: str, cause: str) -> None:
        super().__init__(reason)
        self.reason = reason
        self.cause = cause


@dataclass
class NetworkSetup:
    """Where the world lives and what it can offer; `new_socket()` makes a socket there."""

    private: bool  # True: a private namespace of our own
    ipv6: bool  # True: test IPv6 addresses under IPV6_PREFIX can be bound
    detail: str
    user_namespace: bool = False  # the namespace belongs to a user namespace of ours (not root)
    _channel: socket.socket | None = None
    _holder: subprocess.Popen[bytes] | None = None
    _ns_files: list[int] = field(default_factory=list)  # net, then user if any
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def describe(self) -> str:
        if self.private:
            where = "private network namespace" + (
                " (user namespace)" if self.user_namespace else ""
            )
        else:
            where = "the machine's loopback (no namespace)"
        v6 = "IPv6 test addresses" if self.ipv6 else f"no IPv6 test addresses ({self.detail})"
        return f"{where}; {v6}"

    def new_socket(
        self, family: int = socket.AF_INET, kind: int = socket.SOCK_STREAM
    ) -> socket.socket:
        """A new socket in the world's network."""
        if self._channel is None:
            return socket.socket(family, kind)
        with self._lock:
            self._channel.send(REQUEST.pack(family, kind))
            message, fds, _, _ = socket.recv_fds(self._channel, 4096, 1)
        if not fds:
            problem = json.loads(message or b"{}").get("error", "the namespace holder is gone")
            raise OSError(f"no socket from the namespace holder: {problem}")
        return socket.socket(fileno=fds[0])

    def bound_socket(
        self, address: str, port: int, kind: int = socket.SOCK_STREAM
    ) -> socket.socket:
        """A non-blocking socket in the world's network bound to (address, port)."""
        return bound_socket(address, port, kind, self.new_socket)

    def inside(
        self, argv: list[str], binds: dict[str, str] | None = None, own_pids: bool = False
    ) -> tuple[list[str], tuple[int, ...]]:
        """(argv, pass_fds) that run `argv` inside the world's network, with `binds` (a file to
        show at a path, e.g. {"/etc/resolv.conf": our_file}) in a private mount namespace, and
        if `own_pids`, in a PID namespace that nothing it starts can outlive (nsenter)."""
        if not self.private:
            if binds:
                raise NetworkUnavailable("file overlays need a private namespace", "host")
            return list(argv), ()
        prefix = [
            sys.executable,
            "-m",
            "matrix_resolver_harness.nsenter",
            "--net-fd",
            str(self._ns_files[0]),
        ]
        if len(self._ns_files) > 1:
            prefix += ["--user-fd", str(self._ns_files[1])]
        for target, source in (binds or {}).items():
            prefix += ["--bind", f"{source}={target}"]
        if own_pids:
            prefix.append("--own-pids")
        return [*prefix, "--", *argv], tuple(self._ns_files)

    def can_bind_privileged(self) -> bool:
        """Can this process bind port 443 here (always, inside a namespace of ours)?"""
        if self.private:
            return True
        with socket.socket() as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                s.bind(("127.255.255.254", 443))
            except OSError:
                return False
        return True

    def enter_current_thread(self) -> None:
        """Move the calling thread (and what it starts) into the world's network. Root only:
        the debugging path of running an implementation inside the judge's own process."""
        if not self.private:
            return
        if self.user_namespace:
            raise NetworkUnavailable(
                "a thread of this process cannot enter a user namespace (not root)", "thread"
            )
        syscalls.setns(self._ns_files[0], syscalls.CLONE_NEWNET)

    def close(self) -> None:
        if self._channel is not None:
            self._channel.close()
            self._channel = None
        for fd in self._ns_files:
            os.close(fd)
        self._ns_files = []
        if self._holder is not None:
            try:
                self._holder.wait(2)
            except subprocess.TimeoutExpired:
                self._holder.kill()
                self._holder.wait()
            self._holder = None


def open_network(
    mode: str = "auto", on_fallback: Callable[[NetworkUnavailable], None] | None = None
) -> NetworkSetup:
    """A private namespace ("auto", "require") or the machine's loopback ("off", or "auto" where
    no namespace can be had; `on_fallback` hears why: the refusal, with its cause)."""
    if mode == "off":
        return _host("not tried (--conformance-netns=off)")
    try:
        return _private()
    except NetworkUnavailable as e:
        if mode == "require":
            raise
        if on_fallback is not None:
            on_fallback(e)
        return _host(e.reason)


def _host(why: str) -> NetworkSetup:
    return NetworkSetup(private=False, ipv6=False, detail=f"no private namespace: {why}")


def _private() -> NetworkSetup:
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    with ours, theirs:
        holder = subprocess.Popen(
            [sys.executable, "-m", "matrix_resolver_harness.netns_holder", str(theirs.fileno())],
            pass_fds=(theirs.fileno(),),
            stdin=subprocess.DEVNULL,
            close_fds=True,
        )
        theirs.close()
        ours.settimeout(HOLDER_START_TIMEOUT)
        try:
            message, fds, _, _ = socket.recv_fds(ours, 4096, 2)
        except OSError as e:  # includes the timeout
            holder.kill()
            holder.wait()
            raise NetworkUnavailable(f"the namespace holder did not start: {e}", "other") from None
        ours.settimeout(None)
        state = json.loads(message or b'{"ok": false, "reason": "it exited", "cause": "other"}')
        if not state.get("ok"):
            holder.wait()
            raise NetworkUnavailable(state["reason"], state["cause"])
        channel = ours.dup()
    return NetworkSetup(
        private=True,
        ipv6=bool(state["ipv6"]),
        detail=state["detail"],
        user_namespace=bool(state["user"]),
        _channel=channel,
        _holder=holder,
        _ns_files=list(fds),
    )
