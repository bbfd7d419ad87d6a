"""What an implementation under test needs of each scenario's world, beyond the defaults."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class WorldNeeds:
    path: str | None = None  # the federation path its fetches request (None: env.path)
    dns_host: str | None = None  # a fixed address for the world's DNS server (resolv.conf)
    rename: bool = False  # fresh names per scenario: it remembers names between scenarios
    quiet: float = 0.0  # seconds without traffic before judging: requests may come late
    step_timeout: float | None = None  # seconds a fetch may take, by its own fixed timeouts
