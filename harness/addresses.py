"""Loopback addresses for fake hosts: fresh ones for every host, distinct per xdist worker.

Why fresh: a resolver thread left hanging by one scenario can then never reach (or pollute the
log of) a later scenario's servers, and no TIME_WAIT or half-closed socket is ever reused.
"""

from __future__ import annotations

import ipaddress
import os
import re

IPV6_PREFIX = "fd00:5e"  # the IPv6 test range, fd00:5e::/32, routed to lo in the namespace


def endpoint(address: str, port: int) -> str:
    """`127.0.0.1:443`, `[fd00:5e::1]:443`: an address and port as URLs and logs write them."""
    return f"[{address}]:{port}" if ":" in address else f"{address}:{port}"


def worker_index() -> int:
    """0 for a plain run, N for pytest-xdist worker gwN."""
    match = re.fullmatch(r"gw(\d+)", os.environ.get("PYTEST_XDIST_WORKER", ""))
    return int(match.group(1)) if match else 0


class AddressPool:
    """Hands out never-repeating addresses: 127.<16+worker>.x.y and fd00:5e:<worker>::n."""

    def __init__(self, worker: int | None = None) -> None:
        self.worker = worker_index() if worker is None else worker
        if not 0 <= self.worker < 200:
            raise ValueError(f"worker index {self.worker} out of range 0..199")
        self._n4 = 0
        self._n6 = 0

    def v4(self) -> str:
        """Next IPv4 address (65 000 per worker before wrapping round)."""
        self._n4 = self._n4 % 65000 + 1
        n = self._n4 + (self._n4 - 1) // 255 + 256  # skip 127.W.0.x and every 127.W.x.0
        return f"127.{16 + self.worker}.{n // 256 % 256}.{n % 256 or 1}"

    def v6(self) -> str:
        """Next IPv6 test address, bindable only inside the private namespace."""
        self._n6 = self._n6 % 0xFFFF + 1
        # Canonical (RFC 5952) text, so a resolver that normalises literals sends the same Host.
        return str(ipaddress.IPv6Address(f"{IPV6_PREFIX}:{self.worker:x}::{self._n6:x}"))
