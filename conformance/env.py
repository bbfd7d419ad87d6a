"""The `env` handed to a resolver factory: everything it may know about the fake world.

This is product surface (README "The plug-in contract"): add attributes only compatibly.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass

FEDERATION_PATH = "/_matrix/federation/v1/version"


@dataclass(frozen=True)
class Env:
    """One scenario's view of the world, as the plug-in contract defines it."""

    dns_server: tuple[str, int]
    """(host, port) of the fake authoritative DNS server (UDP and TCP): the only DNS to use."""
    ca_file: str
    """PEM file of the fake world's certificate authority: the only trust root."""
    path: str = FEDERATION_PATH
    """The federation path to request with GET."""
    timeout: float = 1.0
    """Seconds after which the resolver should give up on any one step."""
    well_known_port: int = 443
    """The port of `https://<hostname>/.well-known/matrix/server` (the spec's 443)."""
    spec: str = "v1.19"
    """The rule set the run judges by (`--spec`); resolvers may ignore it."""

    def ssl_context(self) -> ssl.SSLContext:
        """A client context that trusts only `ca_file` and checks host names."""
        # With cafile given, create_default_context loads no system roots.
        return ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=self.ca_file)
