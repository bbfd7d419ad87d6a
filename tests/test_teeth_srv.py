"""Teeth of the SRV, delegation and address-record scenarios (steps 3.1-3.5, 4, 5, 6).

Each broken resolver is the reference with one behaviour changed, a plausible bug of a real
implementation; it must fail every scenario listed for it (not necessarily only those).
"""

from __future__ import annotations

import contextlib
from dataclasses import replace
from typing import Any

import dns.exception
import dns.name
import dns.resolver
import pytest

from matrix_resolver_conformance.reference import resolver as ref
from matrix_resolver_conformance.reference.dns_client import DnsClient, DnsLookupError, SrvRecord
from matrix_resolver_conformance.reference.server_name import parse_server_name
from matrix_resolver_conformance.wire.https_client import Response
from tests import broken_resolvers as broken

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


def _with_dns(name: str, client_class: type[DnsClient], doc: str) -> type[ref.ReferenceResolver]:
    """The reference with its DNS client swapped for `client_class`."""

    class WithDns(ref.ReferenceResolver):
        def __init__(self, env: Any) -> None:
            super().__init__(env)
            self._dns = client_class(env.dns_server, env.timeout)

    WithDns.__doc__ = doc
    WithDns.__name__ = WithDns.__qualname__ = name
    return WithDns


DotTargetAsAbsent = _with_dns(
    "DotTargetAsAbsent", _DotAsAbsentDns, "Drops '.' targets, then sees 'no record'."
)
ServfailAsAbsent = _with_dns(
    "ServfailAsAbsent", _ServfailAsAbsentDns, "Takes a failed SRV query for NXDOMAIN."
)
NodataAsFailure = _with_dns(
    "NodataAsFailure", _NodataAsFailureDns, "Takes an SRV NODATA answer for a failure."
)
NoCname = _with_dns("NoCname", _NoCnameDns, "Refuses names that are CNAMEs (pre-v1.6 reading).")
OnlyA = _with_dns("OnlyA", _OnlyADns, "Asks only for A records, never AAAA.")
AnyFailureFatal = _with_dns(
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
MUST_FAIL: dict[Any, list[str]] = {
    SrvLastRecordFirst: [
        "step3.3-srv-priority-lowest-first",
        "step4-srv-priority-lowest-first",
        "step5-legacy-priority-lowest-first",
        "step3.3-srv-priority-lowest-first-mirrored",
        "step3.4-legacy-priority-lowest-first",
        "step3.4-legacy-priority-lowest-first-mirrored",
        "step4-srv-priority-lowest-first-mirrored",
        "step5-legacy-priority-lowest-first-mirrored",
        "step4-srv-weight-decides-within-priority-mirrored",
        "step3.3-srv-weight-decides-within-priority-mirrored",
    ],
    SrvByWeightOnly: [
        "step3.3-srv-priority-lowest-first",
        "step3.3-srv-same-priority-weighted",
        "step4-srv-same-priority-weighted",
        "step3.3-srv-same-priority-weighted-mirrored",
        "step3.4-legacy-priority-lowest-first",
        "step4-srv-priority-lowest-first-mirrored",
        "step4-srv-same-priority-weighted-mirrored",
    ],
    SrvNoFailover: [
        "step3.3-srv-failover-connection-refused",
        "step3.3-srv-failover-after-tls-failure",
        "step3.3-srv-failover-target-without-addresses",
        "step3.4-legacy-failover-connection-refused",
        "step4-srv-failover-connection-refused",
        "step4-srv-failover-after-tls-failure",
        "step4-srv-failover-target-without-addresses",
        "step3.3-srv-failover-connection-refused-mirrored",
        "step3.3-srv-failover-after-tls-failure-mirrored",
        "step3.3-srv-failover-target-without-addresses-mirrored",
        "step3.3-srv-failover-backup-chosen-by-weight",
        "step3.4-legacy-failover-connection-refused-mirrored",
        "step3.4-legacy-failover-backup-chosen-by-weight",
        "step4-srv-failover-connection-refused-mirrored",
        "step4-srv-failover-after-tls-failure-mirrored",
        "step4-srv-failover-target-without-addresses-mirrored",
        "step4-srv-failover-backup-chosen-by-weight",
        "step5-legacy-failover-connection-refused",
        "step5-legacy-failover-connection-refused-mirrored",
        "step5-legacy-failover-backup-chosen-by-weight",
    ],
    SrvFailureFallsThrough: [
        "step3.3-srv-target-without-addresses",
        "step3.3-certificate-for-srv-target-refused",
        "step4-srv-target-without-addresses",
        "step4-certificate-for-srv-target-refused",
        "step3.4-legacy-target-without-addresses",
        "step3.4-matrix-fed-unreachable-no-legacy",
        "step4-srv-ip-literal-target",
        "step5-legacy-target-without-addresses",
        "step5-matrix-fed-unreachable-no-legacy",
    ],
    DotTargetAsAbsent: [
        "step3.3-srv-dot-target-no-request",
        "step3.4-matrix-fed-dot-target-stops-legacy",
        "step3.5-legacy-dot-target-no-request",
        "step4-srv-dot-target-no-request",
        "step5-matrix-fed-dot-target-no-legacy",
        "step6-legacy-dot-target-no-request",
    ],
    ServfailAsAbsent: [
        "step3.3-srv-servfail-no-request",
        "step3.5-legacy-servfail-no-request",
        "step4-srv-servfail-no-request",
        "step5-matrix-fed-servfail-no-legacy",
        "step6-legacy-servfail-no-request",
        "step4-srv-refused-no-request",
        "step4-srv-formerr-no-request",
        "step4-srv-truncated-no-request",
        "step4-srv-wrong-question-no-request",
    ],
    NodataAsFailure: [
        "step3.4-legacy-after-matrix-fed-nodata",
        "step3.5-srv-nodata-falls-back-to-8448",
        "step5-legacy-after-matrix-fed-nodata",
        "step5-legacy-after-matrix-fed-empty-non-terminal",
        "step6-srv-nodata-falls-back-to-8448",
        "step3.4-legacy-after-matrix-fed-nodata-mirrored",
        "step5-legacy-after-matrix-fed-nodata-mirrored",
    ],
    LegacyAlwaysQueried: [
        "step3.4-legacy-not-queried-when-matrix-fed-found",
        "step5-legacy-not-queried-when-matrix-fed-found",
        "step3.4-legacy-not-queried-when-matrix-fed-found-mirrored",
        "step5-legacy-not-queried-when-matrix-fed-found-mirrored",
    ],
    broken.legacy_srv_first: [
        "step3.4-legacy-not-queried-when-matrix-fed-found",
        "step5-legacy-not-queried-when-matrix-fed-found",
        "step3.4-legacy-not-queried-when-matrix-fed-found-mirrored",
        "step5-legacy-not-queried-when-matrix-fed-found-mirrored",
    ],
    PortInHost: [
        "step3.3-host-without-srv-port",
        "step3.4-host-without-srv-port",
        "step3.5-aaaa-only-8448",
        "step4-host-without-srv-port",
        "step5-host-without-srv-port",
        "step6-a-and-aaaa-8448",
        "step4-srv-owner-cname-followed",
        "step5-legacy-srv-owner-cname-followed",
        "step6-unreachable-address-gives-way-to-other-family",
    ],
    NoCname: [
        "step3.2-delegated-hostname-cname",
        "step3.5-cname-chain-to-address",
        "step6-cname-chain-to-address",
    ],
    OnlyA: [
        "step3.2-delegated-hostname-aaaa-only",
        "step3.3-srv-target-aaaa-only",
        "step3.4-legacy-target-aaaa-only",
        "step3.5-aaaa-only-8448",
        "step5-legacy-target-aaaa-only",
        "step3-well-known-on-one-address-family-only-mirrored",
        "step3.2-aaaa-servfail-a-used-mirrored",
        "step6-aaaa-servfail-a-used-mirrored",
        "step6-unreachable-address-gives-way-to-other-family-mirrored",
    ],
    AnyFailureFatal: [
        "step6-aaaa-servfail-a-used",
        "step3.2-aaaa-servfail-a-used",
        "step3.2-aaaa-servfail-a-used-mirrored",
        "step3.2-aaaa-notimp-a-used",
        "step3.2-aaaa-notimp-a-used-mirrored",
        "step3.2-aaaa-refused-a-used",
        "step3.2-aaaa-refused-a-used-mirrored",
        "step3.2-aaaa-formerr-a-used",
        "step3.2-aaaa-formerr-a-used-mirrored",
        "step3.2-aaaa-truncated-a-used",
        "step3.2-aaaa-truncated-a-used-mirrored",
        "step6-aaaa-servfail-a-used-mirrored",
    ],
    TlsNameIsOrigin: [
        "step3.3-certificate-for-origin-only-refused",
        "step3.4-certificate-for-origin-only-refused",
        "step3.5-certificate-for-origin-only-refused",
        "step3.4-sni-is-delegated-hostname-not-legacy-target",
        "step3.5-sni-is-delegated-hostname",
        "step3.2-delegated-port-443-kept-in-host",
    ],
    TlsNameIsCanonical: [
        "step3.2-certificate-for-cname-target-refused",
        "step6-certificate-for-cname-target-refused",
    ],
    DelegationFailureFallsBack: [
        "step3.2-delegated-hostname-without-addresses",
        "step3.2-untrusted-certificate-refused",
        "step3.5-delegated-name-without-addresses",
        "step3.5-delegated-name-nodata",
        "step3.5-cname-loop-no-request",
        "step3.4-legacy-target-without-addresses",
        "step3.4-matrix-fed-unreachable-no-legacy",
    ],
    broken.srv_target_as_host: [
        "step3.3-srv-failover-after-tls-failure",
        "step3.4-certificate-for-legacy-target-refused",
        "step3.4-sni-is-delegated-hostname-not-legacy-target",
        "step4-srv-failover-after-tls-failure",
        "step5-certificate-for-legacy-target-refused",
        "step5-sni-is-hostname-not-legacy-target",
        "step3.3-srv-failover-after-tls-failure-mirrored",
        "step4-srv-failover-after-tls-failure-mirrored",
    ],
    broken.no_certificate_check: [
        "step3.1-untrusted-certificate-refused",
        "step3.1-expired-certificate-refused",
        "step3.2-expired-certificate-refused",
        "step3.3-expired-certificate-refused",
        "step3.4-expired-certificate-refused",
        "step3.5-untrusted-certificate-refused",
        "step4-expired-certificate-refused",
        "step4-untrusted-certificate-refused",
        "step6-untrusted-certificate-refused",
        "step6-expired-certificate-refused",
        "step3.3-srv-failover-after-tls-failure-mirrored",
        "step4-srv-failover-after-tls-failure-mirrored",
    ],
    broken.ipv6_host_unbracketed: [
        "step3.1-delegated-ipv6-default-port",
        "step3.1-delegated-ipv6-port-443-kept-in-host",
    ],
}


def _name(factory: Any) -> str:
    return factory.__name__


@pytest.mark.parametrize("factory", list(MUST_FAIL), ids=_name)
def test_broken_resolver_fails_its_rule(factory, catalog, run) -> None:
    survived = []
    for sid in MUST_FAIL[factory]:
        verdict = run(catalog[sid], factory).verdict
        if verdict is not None and verdict.passed:
            survived.append(sid)
    assert not survived, f"{_name(factory)} passed scenarios it breaks: {survived}"
