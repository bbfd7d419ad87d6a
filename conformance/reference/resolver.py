"""The reference resolver: the current text's discovery steps 1-6 (v1.8+), one request per call.

Each step is written out where the spec has it, so a failure message can name
the step ("step 4: SRV _matrix-fed._tcp.origin.test: SERVFAIL") and a reader
can check the code against the numbered text. Where an older text says something
else, the place is a small method (`_step1_host`, `_srv_services`, ...) that
`older_texts.OlderTextResolver` overrides; this file reads as the current text.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from matrix_resolver_conformance.reference.dns_client import (
    DnsClient,
    DnsLookupError,
    SrvRecord,
    order_srv,
)
from matrix_resolver_conformance.reference.server_name import (
    ServerName,
    parse_server_name,
)
from matrix_resolver_conformance.reference.well_known import (
    WellKnownCache,
    WellKnownResult,
    fetch_well_known,
)
from matrix_resolver_conformance.wire.https_client import (
    ConnectError,
    FetchError,
    Response,
    connect_first,
)

if TYPE_CHECKING:  # the suite's Env; only its documented attributes are used
    from matrix_resolver_conformance.env import Env

__all__ = ["DEFAULT_PORT", "SRV_SERVICES", "DiscoveryError", "ReferenceResolver"]

DEFAULT_PORT = 8448
SRV_SERVICES = ("_matrix-fed._tcp.", "_matrix._tcp.")  # step 3.3/4, then deprecated 3.4/5


class DiscoveryError(FetchError):
    """Discovery or the federation request failed at a given step."""

    def __init__(self, step: str, message: str) -> None:
        super().__init__(f"step {step}: {message}")
        self.step = step
        self.detail = message


class ReferenceResolver:
    """Callable `fetch(server_name) -> Response` following the current spec."""

    follow_redirects = True  # step 3's redirects (absent from the earliest draft)

    def __init__(
        self,
        env: Env,
        *,
        rng: random.Random | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._env = env
        self._ssl = env.ssl_context()
        self._dns = DnsClient(env.dns_server, env.timeout)
        self._rng = rng if rng is not None else random.Random()
        self._well_knowns = WellKnownCache(clock)

    async def __call__(self, server_name: str) -> Response:
        """One `GET env.path` to the homeserver `server_name`, discovery included."""
        name = self._explicit_port(parse_server_name(server_name))  # invalid: no traffic
        if name.is_ip:
            return await self._connect_ip("1", name, self._step1_host(name))
        if name.port is not None:
            return await self._connect_name("2", name, name.port, self._step2_host(name))
        well_known = await self._well_known(name.host)
        delegated = well_known.server
        if delegated is None:
            self._on_invalid_well_known(well_known)
            return await self._srv_or_default(
                ("4", "5", "6"), name, f"well-known: {well_known.error}"
            )
        if delegated.is_ip:
            return await self._connect_ip("3.1", delegated, self._step31_host(delegated))
        if delegated.port is not None:
            host = self._step32_host(delegated)
            return await self._connect_name("3.2", delegated, delegated.port, host)
        return await self._srv_or_default(("3.3", "3.4", "3.5"), delegated, f"m.server {delegated}")

    # -- the places where older texts differ (see older_texts.py) ---------------------------------

    def _explicit_port(self, name: ServerName) -> ServerName:
        """A port in the server name is used as given (step 2)."""
        return name

    def _step1_host(self, name: ServerName) -> str:
        """Step 1's Host: the server name, including the port if it included one."""
        return str(name)

    def _step2_host(self, name: ServerName) -> str:
        """Step 2's Host: the original server name (with port)."""
        return str(name)

    def _on_invalid_well_known(self, result: WellKnownResult) -> None:
        """Any well-known failure, an invalid body included, goes on to step 4."""

    def _step31_host(self, delegated: ServerName) -> str:
        """Step 3.1's Host: the delegated server name, including the port if one was provided."""
        return str(delegated)

    def _step32_host(self, delegated: ServerName) -> str:
        """Step 3.2's Host: `<delegated_hostname>:<delegated_port>`."""
        return str(delegated)

    def _srv_services(self, steps: tuple[str, str, str]) -> list[tuple[str, str]]:
        """(step, service) to ask in order: `_matrix-fed._tcp`, then the deprecated
        `_matrix._tcp`."""
        return list(zip(steps[:2], SRV_SERVICES, strict=True))

    def _cache_well_known(self, hostname: str, result: WellKnownResult) -> None:
        self._well_knowns.put(hostname, result)

    async def aclose(self) -> None:
        """Forget cached well-knowns; no sockets or tasks outlive a call."""
        self._well_knowns.clear()

    async def _well_known(self, hostname: str) -> WellKnownResult:
        """Step 3's fetch, answered from the cache when an outcome is still fresh."""
        cached = self._well_knowns.get(hostname)
        if cached is not None:
            return cached
        result = await fetch_well_known(
            hostname,
            dns=self._dns,
            ssl_context=self._ssl,
            port=self._env.well_known_port,
            timeout=self._env.timeout,
            follow_redirects=self.follow_redirects,
        )
        self._cache_well_known(hostname, result)
        return result

    async def _connect_ip(self, step: str, name: ServerName, host_header: str) -> Response:
        """Steps 1 and 3.1: the literal, its port or 8448; certificate for the IP."""
        port = name.port if name.port is not None else DEFAULT_PORT
        return await self._request(step, [name.address], port, name, host_header)

    async def _connect_name(
        self, step: str, name: ServerName, port: int, host_header: str
    ) -> Response:
        """Steps 2, 3.2, 3.5 and 6: AAAA/A of the name itself, `port`, certificate for it."""
        addresses = await self._addresses(step, name.host)
        return await self._request(step, addresses, port, name, host_header)

    async def _srv_or_default(
        self, steps: tuple[str, str, str], name: ServerName, context: str
    ) -> Response:
        """Steps 3.3-3.5 (delegated name) or 4-6 (original hostname).

        `_matrix._tcp` is asked only when `_matrix-fed._tcp` is absent (NXDOMAIN or
        NODATA), and the A/AAAA fallback only when both are; a failed query stops.
        """
        for step, service in self._srv_services(steps):
            qname = service + name.host
            try:
                records = await self._dns.srv(qname)
            except DnsLookupError as exc:
                raise DiscoveryError(step, f"SRV {qname}: {exc} ({context})") from exc
            if records:
                return await self._connect_srv(step, qname, records, name, context)
        try:
            return await self._connect_name(steps[2], name, DEFAULT_PORT, name.host)
        except DiscoveryError as exc:
            raise DiscoveryError(exc.step, f"{exc.detail} ({context})") from exc.__cause__

    async def _connect_srv(
        self, step: str, qname: str, records: list[SrvRecord], name: ServerName, context: str
    ) -> Response:
        """Targets in RFC 2782 order; a target that cannot be reached gives way to the next.

        TLS name and `Host` are always `name` (never the target, never a port).
        """
        if len(records) == 1 and records[0].unavailable:
            raise DiscoveryError(
                step, f"SRV {qname}: service decidedly not available ('.') ({context})"
            )
        failures: list[str] = []
        for record in order_srv([r for r in records if not r.unavailable], self._rng):
            where = f"{record.target}:{record.port}"
            try:
                addresses = await self._dns.addresses(record.target)
            except DnsLookupError as exc:
                failures.append(f"{where}: {exc}")
                continue
            try:
                return await self._request(step, addresses, record.port, name, name.host)
            except DiscoveryError as exc:
                if not isinstance(exc.__cause__, ConnectError):
                    raise
                failures.append(f"{where}: {exc.__cause__}")
        reasons = "; ".join(failures)
        raise DiscoveryError(step, f"SRV {qname}: no target reachable: {reasons} ({context})")

    async def _addresses(self, step: str, host: str) -> list[str]:
        try:
            return await self._dns.addresses(host)
        except DnsLookupError as exc:
            raise DiscoveryError(step, str(exc)) from exc

    async def _request(
        self, step: str, addresses: list[str], port: int, name: ServerName, host_header: str
    ) -> Response:
        """The federation request itself, on the first address that connects."""
        try:
            return await connect_first(
                addresses,
                port,
                tls_name=name.tls_name,
                host_header=host_header,
                path=self._env.path,
                ssl_context=self._ssl,
                timeout=self._env.timeout,
            )
        except FetchError as exc:
            raise DiscoveryError(step, f"{name.tls_name} port {port}: {exc}") from exc
