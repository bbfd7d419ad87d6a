"""A whole fake internet for one scenario: hosts on fresh loopback addresses, an authoritative DNS
server, and recording HTTPS sites. Knows nothing about the Matrix spec.

Strings in a world description may name host addresses as `${label.v4}` / `${label.v6}`; they are
filled in when the world starts and its addresses are known (`World.render`).
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass, field, replace

from matrix_resolver_harness.addresses import AddressPool
from matrix_resolver_harness.dns_server import DnsServer, Record, Zone
from matrix_resolver_harness.https_server import ListenerLayout, SiteServer, WellKnownBehaviour
from matrix_resolver_harness.netns import NetworkSetup
from matrix_resolver_harness.observations import ObservationLog
from matrix_resolver_harness.pki import CertificateAuthority, CertRequest

TEMPLATE = re.compile(r"\$\{([A-Za-z0-9_-]+)\.(v4|v6)\}")


class WorldUnavailable(RuntimeError):
    """This machine cannot host the world (e.g. it needs IPv6 test addresses)."""


@dataclass(frozen=True)
class HostLayout:
    """A fake machine: a fresh address per family it has."""

    label: str
    v4: bool = True
    v6: bool = False


@dataclass(frozen=True)
class SiteLayout:
    """A server on every address of `host` at `port`. `cert=None` means plain HTTP."""

    host: str
    port: int
    cert: CertRequest | None
    silent: bool = False
    well_known: WellKnownBehaviour = field(default_factory=WellKnownBehaviour)
    documents: tuple[tuple[str, WellKnownBehaviour], ...] = ()  # more paths, served the same way

    @property
    def label(self) -> str:
        return f"{self.host}:{self.port}"


@dataclass(frozen=True)
class WorldLayout:
    hosts: tuple[HostLayout, ...] = ()
    records: tuple[Record, ...] = ()
    servfail: frozenset[str] = frozenset()
    silent: frozenset[str] = frozenset()
    faults: tuple[tuple[str, str], ...] = ()  # ("name [TYPE]", one of dns_server.FAULTS)
    sites: tuple[SiteLayout, ...] = ()


class World:
    """Start with `async with World(...)`; everything it opened is closed on exit."""

    def __init__(
        self,
        layout: WorldLayout,
        pki: CertificateAuthority,
        pool: AddressPool,
        network: NetworkSetup,
        dns_port: int = 53,
        dns_host: str | None = None,
    ) -> None:
        self.layout = layout
        self.pki = pki
        self.log = ObservationLog()
        self._pool = pool
        self._network = network
        self.dns_port = dns_port  # 53 by default: resolv.conf cannot name another port
        self.dns_host = dns_host  # None: a fresh address; else a fixed one (resolv.conf)
        self.addresses: dict[str, dict[str, str]] = {}
        self._dns: DnsServer | None = None
        self._sites: list[SiteServer] = []

    # -- addresses and templates ----------------------------------------------------------------

    def render(self, text: str) -> str:
        """Replace `${label.v4}` / `${label.v6}` with the addresses of this world."""

        def sub(match: re.Match[str]) -> str:
            label, family = match.groups()
            try:
                return self.addresses[label][family]
            except KeyError:
                raise KeyError(f"host {label!r} has no {family} address in this world") from None

        return TEMPLATE.sub(sub, text)

    def _allocate(self) -> None:
        if any(h.v6 for h in self.layout.hosts) and not self._network.ipv6:
            raise WorldUnavailable(f"needs IPv6 test addresses: {self._network.describe()}")
        for host in self.layout.hosts:
            fam: dict[str, str] = {}
            if host.v4:
                fam["v4"] = self._pool.v4()
            if host.v6:
                fam["v6"] = self._pool.v6()
            self.addresses[host.label] = fam

    @property
    def dns_server(self) -> tuple[str, int]:
        assert self._dns is not None, "world not started"
        return self._dns.address

    @property
    def ca_file(self) -> str:
        return self.pki.ca_file

    # -- life cycle -----------------------------------------------------------------------------

    async def __aenter__(self) -> World:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def start(self) -> None:
        self._allocate()
        zone = Zone(
            records=[replace(r, value=self.render(r.value)) for r in self.layout.records],
            servfail=set(self.layout.servfail),
            silent=set(self.layout.silent),
            faults=dict(self.layout.faults),
        )
        try:
            self._dns = DnsServer(
                zone,
                self.log,
                self.dns_host or self._pool.v4(),
                self.dns_port,
                bind=self._network.bound_socket,
            )
            await self._dns.start()
            for site in self.layout.sites:
                for address in self.addresses[site.host].values():
                    listen = self._listener(site, address)
                    if listen.cert is not None:  # issue now: a bad name fails here, loudly
                        self.pki.chain_file(listen.cert)
                    server = SiteServer(listen, self.pki, self.log, bind=self._network.bound_socket)
                    self._sites.append(server)
                    await server.start()
        except BaseException:
            await self.stop()
            raise

    def _listener(self, site: SiteLayout, address: str) -> ListenerLayout:
        cert = site.cert
        if cert is not None:
            cert = replace(cert, names=tuple(self.render(n) for n in cert.names))
        return ListenerLayout(
            site.label,
            address,
            site.port,
            cert,
            site.silent,
            self._render_document(site.well_known),
            tuple((path, self._render_document(d)) for path, d in site.documents),
        )

    def _render_document(self, document: WellKnownBehaviour) -> WellKnownBehaviour:
        return replace(
            document,
            body=self.render(document.body),
            headers=tuple((k, self.render(v)) for k, v in document.headers),
        )

    async def stop(self) -> None:
        sites, self._sites = self._sites, []
        await asyncio.gather(*(s.stop() for s in sites), return_exceptions=True)
        if self._dns is not None:
            dns, self._dns = self._dns, None
            await dns.stop()
