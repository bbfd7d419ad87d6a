"""Resolvers that get one SRV, DNS or Host/TLS-identity rule wrong, for tests/test_teeth_srv.py:
each is the reference with one method (or its DNS client) changed."""

from __future__ import annotations

import contextlib
from dataclasses import replace
from typing import Any

import dns.exception
import dns.name
import dns.resolver

from matrix_resolver_conformance.reference import resolver as ref
from matrix_resolver_conformance.reference.dns_client import DnsClient, DnsLookupError, SrvRecord
from matrix_resolver_conformance.reference.server_name import parse_server_name
from matrix_resolver_conformance.wire.https_client import Response

SRV_STEPS = ("3.3", "3.4", "4", "5")
DELEGATED_NAME_STEPS = ("3.2", "3.3", "3.4", "3.5")


# -- SRV selection ------------------------------------------------------------------------------


class SrvLastRecordFirst(ref.ReferenceResolver):
    """Ignores priority and weight: tries the targets from the last record of the answer up."""

    async def _connect_srv(self, step, qname, records, name, context):
        flat = [replace(r, priority=0, weight=0) for r in reversed(records)]
        return await super()._connect_srv(step, qname, flat, name, context)


class SrvByWeightOnly(ref.ReferenceResolver):
    """Orders targets by weight alone (heaviest first), ignoring priority."""

    async def _connect_srv(self, step, qname, records, name, context):
        heavy = sorted(records, key=lambda r: -r.weight)
        flat = [replace(r, priority=0, weight=0) for r in heavy]
        return await super()._connect_srv(step, qname, flat, name, context)


class SrvNoFailover(ref.ReferenceResolver):
    """Tries only the first target in RFC 2782 order; its failure ends discovery."""

    async def _connect_srv(self, step, qname, records, name, context):
        usable = [r for r in records if not r.unavailable]
        first = ref.order_srv(usable, self._rng)[:1] if usable else records
        return await super()._connect_srv(step, qname, first, name, context)


# -- what counts as "not found" -----------------------------------------------------------------


class _DotAsAbsentDns(DnsClient):
    async def srv(self, name: str) -> list[SrvRecord]:
        return [r for r in await super().srv(name) if not r.unavailable]


class _ServfailAsAbsentDns(DnsClient):
    async def srv(self, name: str) -> list[SrvRecord]:
        try:
            return await super().srv(name)
        except DnsLookupError:
            return []


class _NodataAsFailureDns(DnsClient):
    async def srv(self, name: str) -> list[SrvRecord]:
        try:
            await self._resolver.resolve(dns.name.from_text(name), "SRV", search=False)
        except dns.resolver.NoAnswer as exc:
            raise DnsLookupError("NODATA taken for a failure") from exc
        except dns.exception.DNSException:
            pass
        return await super().srv(name)


class _AnyFailureFatalDns(DnsClient):
    async def addresses(self, name: str) -> list[str]:
        for rdtype in ("AAAA", "A"):
            await self._query(name, rdtype)  # a failed family raises DnsLookupError
        return await super().addresses(name)


class _NoCnameDns(DnsClient):
    async def addresses(self, name: str) -> list[str]:
        if await self._query(name, "CNAME"):
            raise DnsLookupError(f"{name} is a CNAME: refused")
        return await super().addresses(name)


class _OnlyADns(DnsClient):
    async def addresses(self, name: str) -> list[str]:
        found = await self._query(name, "A")
        if not found:
            raise DnsLookupError(f"no A record for {name}")
        return [r.address for r in found]


def with_dns(name: str, client_class: type[DnsClient], doc: str) -> type[ref.ReferenceResolver]:
    """The reference with its DNS client swapped for `client_class`."""

    class WithDns(ref.ReferenceResolver):
        def __init__(self, env: Any) -> None:
            super().__init__(env)
            self._dns = client_class(env.dns_server, env.timeout)

    WithDns.__doc__ = doc
    WithDns.__name__ = WithDns.__qualname__ = name
    return WithDns


DotTargetAsAbsent = with_dns(
    "DotTargetAsAbsent", _DotAsAbsentDns, "Drops '.' targets, then sees 'no record'."
)
ServfailAsAbsent = with_dns(
    "ServfailAsAbsent", _ServfailAsAbsentDns, "Takes a failed SRV query for NXDOMAIN."
)
NodataAsFailure = with_dns(
    "NodataAsFailure", _NodataAsFailureDns, "Takes an SRV NODATA answer for a failure."
)
NoCname = with_dns("NoCname", _NoCnameDns, "Refuses names that are CNAMEs (pre-v1.6 reading).")
OnlyA = with_dns("OnlyA", _OnlyADns, "Asks only for A records, never AAAA.")
AnyFailureFatal = with_dns(
    "AnyFailureFatal", _AnyFailureFatalDns, "Gives up when the AAAA or the A query fails."
)


class SrvFailureFallsThrough(ref.ReferenceResolver):
    """When no SRV target can be reached, goes on to the name's own addresses at 8448."""

    async def _connect_srv(self, step, qname, records, name, context):
        try:
            return await super()._connect_srv(step, qname, records, name, context)
        except ref.DiscoveryError:
            fallback = "3.5" if step in DELEGATED_NAME_STEPS else "6"
            return await self._connect_name(fallback, name, ref.DEFAULT_PORT, name.host)


class LegacyAlwaysQueried(ref.ReferenceResolver):
    """Asks `_matrix._tcp` up front as well (and ignores the answer unless needed)."""

    async def _srv_or_default(self, steps, name, context):
        with contextlib.suppress(DnsLookupError):
            await self._dns.srv("_matrix._tcp." + name.host)
        return await super()._srv_or_default(steps, name, context)


# -- Host and TLS identity ----------------------------------------------------------------------


class PortInHost(ref.ReferenceResolver):
    """Puts the port it connects to (SRV port or 8448) into a Host the spec gives without one."""

    async def _request(self, step, addresses, port, name, host_header):
        if step in (*SRV_STEPS, "3.5", "6"):
            host_header = f"{host_header}:{port}"
        return await super()._request(step, addresses, port, name, host_header)


class TlsNameIsOrigin(ref.ReferenceResolver):
    """After delegation, checks the certificate (and sends SNI) for the original server name."""

    async def __call__(self, server_name: str) -> Response:
        self._origin = parse_server_name(server_name)
        return await super().__call__(server_name)

    async def _request(self, step, addresses, port, name, host_header):
        if step in DELEGATED_NAME_STEPS:
            name = replace(self._origin, port=None)
        return await super()._request(step, addresses, port, name, host_header)


class TlsNameIsCanonical(ref.ReferenceResolver):
    """Checks the certificate for the end of the name's CNAME chain instead of the name."""

    async def _connect_name(self, step, name, port, host_header):
        addresses = await self._addresses(step, name.host)
        answer = await self._dns._resolver.resolve(name.host, "A", search=False)
        canonical = replace(name, host=answer.canonical_name.to_text(omit_final_dot=True))
        return await self._request(step, addresses, port, canonical, host_header)


class DelegationFailureFallsBack(ref.ReferenceResolver):
    """When the delegated name leads nowhere, starts again at step 4 with the original name."""

    async def __call__(self, server_name: str) -> Response:
        try:
            return await super().__call__(server_name)
        except ref.DiscoveryError as exc:
            if exc.step not in DELEGATED_NAME_STEPS:
                raise
            name = parse_server_name(server_name)
            return await self._srv_or_default(("4", "5", "6"), name, "delegation failed")


# broken resolver -> scenarios it must fail
