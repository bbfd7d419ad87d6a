"""Deliberately broken resolvers: each breaks one rule of the spec (or of the contract), so the
suite's teeth can be tested. Each is the reference with one method changed, which keeps every
other behaviour right and makes the failure attributable to that one rule.
"""

from __future__ import annotations

import asyncio
import ssl
import time
from dataclasses import replace
from typing import Any

from matrix_resolver_conformance.reference import resolver as ref
from matrix_resolver_conformance.reference.server_name import ServerName, parse_server_name
from matrix_resolver_conformance.reference.well_known import WellKnownResult
from matrix_resolver_conformance.wire.https_client import Response


class SrvTargetAsHost(ref.ReferenceResolver):
    """Host header and TLS name are the SRV target (steps 3.3, 3.4, 4, 5)."""

    async def _connect_srv(self, step, qname, records, name, context):
        record = ref.order_srv([r for r in records if not r.unavailable], self._rng)[0]
        target = parse_server_name(record.target.rstrip("."))
        addresses = await self._dns.addresses(record.target)
        return await self._request(step, addresses, record.port, target, target.host)


class ExplicitPortIgnored(ref.ReferenceResolver):
    """Drops the explicit port of a hostname and carries on with discovery (step 2)."""

    async def __call__(self, server_name: str) -> Response:
        name = parse_server_name(server_name)
        if not name.is_ip and name.port is not None:
            server_name = name.host
        return await super().__call__(server_name)


class NoCertificateCheck(ref.ReferenceResolver):
    """Accepts any certificate (TLS rules in every step)."""

    def __init__(self, env: Any) -> None:
        super().__init__(env)
        self._ssl = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        self._ssl.check_hostname = False
        self._ssl.verify_mode = ssl.CERT_NONE


class LegacySrvFirst(ref.ReferenceResolver):
    """Asks the deprecated `_matrix._tcp` before `_matrix-fed._tcp` (steps 3.4, 5)."""

    async def _srv_or_default(self, steps, name, context):
        saved = ref.SRV_SERVICES
        ref.SRV_SERVICES = tuple(reversed(saved))
        try:
            return await super()._srv_or_default(steps, name, context)
        finally:
            ref.SRV_SERVICES = saved


class NoWellKnown(ref.ReferenceResolver):
    """Never asks the well-known: goes straight to SRV / 8448 (step 3)."""

    async def _well_known(self, hostname: str) -> WellKnownResult:
        return WellKnownResult(None, "skipped", 0.0)


class Ipv6HostUnbracketed(ref.ReferenceResolver):
    """Sends an IPv6 literal's Host header without brackets (steps 1, 3.1)."""

    async def _request(self, step, addresses, port, name, host_header):
        unbracketed = host_header.replace("[", "").replace("]", "")
        return await super()._request(step, addresses, port, name, unbracketed)


class PortlessHost(ref.ReferenceResolver):
    """Leaves the port out of the Host header where the spec puts it in (steps 1, 2, 3.1, 3.2)."""

    async def _request(self, step, addresses, port, name, host_header):
        portless = str(replace(name, port=None))
        return await super()._request(step, addresses, port, name, portless)


class RecursiveWellKnown(ref.ReferenceResolver):
    """Looks the delegated name up via its own well-known too (steps 3.3-3.5)."""

    async def _srv_or_default(self, steps, name: ServerName, context):
        if steps[0] == "3.3":
            again = await self._well_known(name.host)
            if again.server is not None:
                return await self._connect_name(
                    "3.2", again.server, again.server.port or 8448, str(again.server)
                )
        return await super()._srv_or_default(steps, name, context)


# The classes are factories themselves (called with env); snake_case names for the tables.
srv_target_as_host = SrvTargetAsHost
explicit_port_ignored = ExplicitPortIgnored
no_certificate_check = NoCertificateCheck
legacy_srv_first = LegacySrvFirst
no_well_known = NoWellKnown
ipv6_host_unbracketed = Ipv6HostUnbracketed
portless_host = PortlessHost
recursive_well_known = RecursiveWellKnown


# -- contract breakers: the harness must bound and report them ---------------------------------


def hangs(env: Any):
    def fetch(name: str) -> None:
        time.sleep(60)

    return fetch


def raises(env: Any):
    async def fetch(name: str) -> None:
        raise RuntimeError("the resolver under test blew up")

    return fetch


def returns_garbage(env: Any):
    return lambda name: {"status": 200, "body": "trust me"}


def leaks_a_task(env: Any):
    inner = ref.ReferenceResolver(env)

    async def fetch(name: str) -> Response:
        asyncio.get_running_loop().create_task(asyncio.sleep(3600))
        return await inner(name)

    return fetch


CLOSED: list[str] = []


def hangs_but_closes(env: Any):
    """Hangs in fetch; its aclose must still be awaited after the cancellation."""

    async def fetch(name: str) -> None:
        await asyncio.sleep(3600)

    async def aclose() -> None:
        CLOSED.append("aclose")

    fetch.aclose = aclose  # type: ignore[attr-defined]  # the contract's optional aclose()
    return fetch
