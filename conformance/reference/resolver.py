"""The reference resolver: the spec's discovery steps 1-6 (v1.8+), one request per call.

Each step is written out where the spec has it, so a failure message can name
the step ("step 4: SRV _matrix-fed._tcp.origin.test: SERVFAIL") and a reader
can check the code against the numbered text.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import astuple, replace
from typing import TYPE_CHECKING

from .. import __version__
from ..rulesets import LATEST, Rules, rules
from .dns_client import DnsClient, DnsLookupError, SrvRecord, order_srv
from .http_client import ConnectError, FetchError, Response, connect_first
from .server_name import ServerName, format_host_header, parse_server_name
from .well_known import WellKnownCache, WellKnownResult, fetch_well_known

if TYPE_CHECKING:  # the suite's Env; only its documented attributes are used
    from ..env import Env

__all__ = ["DiscoveryError", "ReferenceResolver", "factory"]

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

    def __init__(
        self,
        env: Env,
        *,
        rng: random.Random | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._env = env
        # The text to follow (`--spec`); envs from before the attribute existed mean the latest.
        self._rules: Rules = rules(getattr(env, "spec", LATEST))
        self._ssl = env.ssl_context()
        self._dns = DnsClient(env.dns_server, env.timeout)
        self._rng = rng if rng is not None else random.Random()
        self._well_knowns = WellKnownCache(clock)

    async def __call__(self, server_name: str) -> Response:
        """One `GET env.path` to the homeserver `server_name`, discovery included."""
        name = parse_server_name(server_name)  # invalid: raise before any traffic
        r = self._rules
        if name.is_ip:
            return await self._connect_ip("1", name, str(name) if r.ip_host_has_port else None)
        if name.port is not None and not r.explicit_port_step:
            name = replace(name, port=None)  # d2f012f4 ignores it ("port 443 exclusively")
        if name.port is not None:
            host = str(name) if r.explicit_port_host_has_port else name.host
            return await self._connect_name("2", name, name.port, host)
        well_known = await self._well_known(name.host)
        delegated = well_known.server
        if delegated is None:
            if well_known.invalid_body and r.invalid_well_known != "step4":
                raise DiscoveryError("3", f"invalid well-known, discovery aborted "
                                          f"({r.name}): {well_known.error}")
            return await self._srv_or_default(
                ("4", "5", "6"), name, f"well-known: {well_known.error}"
            )
        if delegated.is_ip:
            return await self._connect_ip("3.1", delegated, self._delegated_ip_host(delegated))
        if delegated.port is not None:
            host = str(delegated) if r.delegated_port_in_host else delegated.host
            return await self._connect_name("3.2", delegated, delegated.port, host)
        return await self._srv_or_default(("3.3", "3.4", "3.5"), delegated, f"m.server {delegated}")

    def _delegated_ip_host(self, delegated: ServerName) -> str:
        """Step 3.1's Host: "including the port if one was provided" since 6421582b; before,
        "without port" (b971bcee) and "with port" (39b71413, read as the port used)."""
        how = self._rules.delegated_ip_host
        if how == "without-port":
            return format_host_header(delegated.host, None)
        if how == "with-port":
            port = delegated.port if delegated.port is not None else DEFAULT_PORT
            return format_host_header(delegated.host, port)
        return str(delegated)

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
            follow_redirects=self._rules.follow_redirects,
        )
        if self._rules.caching:  # the caching paragraph arrived with 3c17a0e5
            self._well_knowns.put(hostname, result)
        return result

    async def _connect_ip(self, step: str, name: ServerName, host_header: str | None) -> Response:
        """Steps 1 and 3.1: the literal, its port or 8448; certificate for the IP. Host is
        `host_header`, or the bare literal when None."""
        port = name.port if name.port is not None else DEFAULT_PORT
        host = host_header if host_header is not None else format_host_header(name.host, None)
        return await self._request(step, [name.address], port, name, host)

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
        services = SRV_SERVICES if self._rules.matrix_fed else SRV_SERVICES[1:]
        srv_steps = steps[:2] if self._rules.matrix_fed else steps[:1]  # before v1.8: one SRV step
        for step, service in zip(srv_steps, services, strict=True):
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


def factory(env: Env) -> ReferenceResolver:
    """The plug-in entry point: one resolver (and one well-known cache) per scenario."""
    return ReferenceResolver(env)


def _spec_profile(spec: str) -> tuple[object, ...]:
    """What the reference's behaviour depends on under rule set `spec`: its rule flags (not the
    name), so rule sets with the same flags share runs under `--spec=all`."""
    return astuple(replace(rules(spec), name="", summary=""))


factory.spec_profile = _spec_profile  # type: ignore[attr-defined]
factory.version = lambda: f"reference (matrix-resolver-conformance {__version__})"  # type: ignore[attr-defined]
