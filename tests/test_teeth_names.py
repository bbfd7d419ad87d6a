"""Teeth of the server-name, step 1/2 and TLS scenarios (fixtures/grammar.toml, step1.toml,
step2.toml, tls.toml): each broken resolver is the reference with one behaviour changed, and must
fail the scenarios of the rule it breaks."""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import re
import ssl
from dataclasses import replace
from typing import Any
from urllib.parse import unquote

import dns.name
import dns.resolver
import pytest

from matrix_resolver_conformance.reference import resolver as ref
from matrix_resolver_conformance.reference.dns_client import DnsLookupError
from matrix_resolver_conformance.reference.server_name import ServerName, parse_server_name
from matrix_resolver_conformance.reference.well_known import WellKnownResult, parse_well_known_body
from matrix_resolver_conformance.wire.https_client import ConnectError, Response
from matrix_resolver_harness.https_server import WELL_KNOWN_PATH

# -- a lax server-name parser: repairs what it should refuse -------------------------------------


def _lax_port(text: str) -> int | None:
    """Leading digits as an integer parser would read them, kept to 5 digits and 16 bits."""
    m = re.match(r"\s*\+?([0-9]+)", text)
    if not m:
        return None
    return (int(m.group(1)[:5]) & 0xFFFF) or None


def lax_parse(text: str) -> ServerName:
    t = unquote(text).strip()
    t = t.split("://", 1)[-1].split("/", 1)[0].rsplit("@", 1)[-1]
    if t.startswith("["):
        host, _, rest = t[1:].partition("]")
        host, port = host.split("%")[0], _lax_port(rest.lstrip(":"))
    elif t.count(":") > 1:  # a bare IPv6 address, perhaps followed by ":port"
        host, _, p = t.rpartition(":")
        try:
            ipaddress.ip_address(host)
            port = _lax_port(p)
        except ValueError:
            host, port = t, None
    else:
        host, _, p = t.partition(":")
        port = _lax_port(p.split(":")[0])
    host = ".".join(label for label in host.split(".") if label)
    try:
        return ServerName(host, port, "ipv4" if ipaddress.ip_address(host).version == 4 else "ipv6")
    except ValueError:
        pass
    with contextlib.suppress(UnicodeError):
        host = host.encode("idna").decode("ascii")
    return ServerName(host, port, "dns")


class LaxServerName(ref.ReferenceResolver):
    """Repairs invalid server names (trims, strips URL parts, wraps ports, ...) instead of
    refusing them (grammar.*)."""

    async def __call__(self, server_name: str) -> Response:
        saved = ref.parse_server_name
        ref.parse_server_name = lax_parse
        try:
            return await super().__call__(server_name)
        finally:
            ref.parse_server_name = saved


class LowerCasesName(ref.ReferenceResolver):
    """Lower-cases the server name, so the Host header is rewritten (grammar.9)."""

    async def __call__(self, server_name: str) -> Response:
        return await super().__call__(server_name.lower())


class StrictNameLimits(ref.ReferenceResolver):
    """Refuses valid names: longer than the 230-character advice, or without a dot (grammar.4)."""

    async def __call__(self, server_name: str) -> Response:
        name = parse_server_name(server_name)
        if not name.is_ip and (len(name.host) > 230 or "." not in name.host):
            raise ValueError(f"refusing {server_name!r}")
        return await super().__call__(server_name)


class NarrowPortRange(ref.ReferenceResolver):
    """Refuses ports outside 1024..32767 (a privileged-port check, a signed 16-bit port)."""

    async def __call__(self, server_name: str) -> Response:
        port = parse_server_name(server_name).port
        if port is not None and not 1024 <= port <= 32767:
            raise ValueError(f"refusing port {port}")
        return await super().__call__(server_name)


class DefaultPortDropped(ref.ReferenceResolver):
    """Leaves an explicit :8448 or :443 out of the Host header (steps 1, 2)."""

    async def _request(self, step, addresses, port, name, host_header):
        if name.port in (443, 8448):
            host_header = str(replace(name, port=None))
        return await super()._request(step, addresses, port, name, host_header)


class WellKnownForIpLiteral(ref.ReferenceResolver):
    """Fetches https://<ip>/.well-known/matrix/server for a port-less IP literal (step 1)."""

    async def __call__(self, server_name: str) -> Response:
        name = parse_server_name(server_name)
        if name.is_ip and name.port is None:
            delegated = (await self._well_known(str(name))).server
            if delegated is not None and delegated.is_ip:
                return await self._connect_ip("3.1", delegated, str(delegated))
            if delegated is not None:
                port = delegated.port or ref.DEFAULT_PORT
                return await self._connect_name("3.2", delegated, port, str(delegated))
        return await super().__call__(server_name)


class ExplicitPortViaSrv(ref.ReferenceResolver):
    """Looks up SRV records for a hostname with a port too, and follows them (step 2)."""

    async def _connect_name(self, step, name, port, host_header):
        if step == "2":
            for service in ref.SRV_SERVICES:
                try:
                    records = await self._dns.srv(service + name.host)
                except DnsLookupError as exc:
                    raise ref.DiscoveryError(step, str(exc)) from exc
                if records:
                    return await self._connect_srv(step, service + name.host, records, name, "")
        return await super()._connect_name(step, name, port, host_header)


class FallsThroughWithoutAddress(ref.ReferenceResolver):
    """When a hostname with a port has no address, carries on with SRV and 8448 (step 2)."""

    async def _connect_name(self, step, name, port, host_header):
        try:
            return await super()._connect_name(step, name, port, host_header)
        except ref.DiscoveryError as exc:
            if step != "2" or not isinstance(exc.__cause__, DnsLookupError):
                raise
            return await self._srv_or_default(("4", "5", "6"), replace(name, port=None), "")


class CnameTargetAsTlsName(ref.ReferenceResolver):
    """Checks the certificate (and sends SNI) for the CNAME target, not the name (step 2)."""

    async def _connect_name(self, step, name, port, host_header):
        resolver = self._dns._resolver
        for rdtype in ("A", "AAAA"):
            try:
                answer = await resolver.resolve(dns.name.from_text(name.host), rdtype, search=False)
            except dns.resolver.NoAnswer:
                continue
            name = replace(name, host=answer.canonical_name.to_text(omit_final_dot=True))
            break
        return await super()._connect_name(step, name, port, host_header)


class IgnoresCertificateName(ref.ReferenceResolver):
    """Checks the CA and dates but not whose certificate it is (1.2, 2.3)."""

    def __init__(self, env: Any) -> None:
        super().__init__(env)
        self._ssl.check_hostname = False


class NoCertificateValidation(ref.ReferenceResolver):
    """Accepts any certificate: unknown CA, expired, any name (tls.2, 2.3)."""

    def __init__(self, env: Any) -> None:
        super().__init__(env)
        self._ssl = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        self._ssl.check_hostname = False
        self._ssl.verify_mode = ssl.CERT_NONE


async def _plain_get(address: str, port: int, host: str, path: str, timeout: float) -> Response:
    reader, writer = await asyncio.wait_for(asyncio.open_connection(address, port), timeout)
    try:
        writer.write(f"GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode())
        data = await asyncio.wait_for(reader.read(), timeout)
    finally:
        writer.close()
    head, _, body = data.partition(b"\r\n\r\n")
    return Response(int(head.split(b" ", 2)[1]), [], body, address, port)


class PlainHttpFallback(ref.ReferenceResolver):
    """Retries over plain http:// where TLS fails, for the well-known and the request (tls.1)."""

    async def _request(self, step, addresses, port, name, host_header):
        try:
            return await super()._request(step, addresses, port, name, host_header)
        except ref.DiscoveryError as exc:
            if not isinstance(exc.__cause__, ConnectError):
                raise
            for address in addresses:
                try:
                    return await _plain_get(
                        address, port, host_header, self._env.path, self._env.timeout
                    )
                except (OSError, ValueError, IndexError, asyncio.TimeoutError):
                    continue
            raise

    async def _well_known(self, hostname: str) -> WellKnownResult:
        result = await super()._well_known(hostname)
        if result.server is not None:
            return result
        try:
            address = (await self._dns.addresses(hostname))[0]
            port, timeout = self._env.well_known_port, self._env.timeout
            response = await _plain_get(address, port, hostname, WELL_KNOWN_PATH, timeout)
            if response.status == 200:
                return WellKnownResult(parse_well_known_body(response.body), None, 0.0)
        except Exception:  # a broken resolver: any failure of the downgrade is ignored
            pass
        return result


# broken resolver -> scenarios that must fail against it
MUST_FAIL: dict[type, list[str]] = {
    LaxServerName: [
        "grammar-empty-server-name-refused",
        "grammar-empty-hostname-with-port-refused",
        "grammar-colon-without-port-refused",
        "grammar-ip-literal-colon-without-port-refused",
        "grammar-two-ports-refused",
        "grammar-url-with-scheme-refused",
        "grammar-path-after-name-refused",
        "grammar-userinfo-refused",
        "grammar-port-with-letter-refused",
        "grammar-port-with-sign-refused",
        "grammar-port-six-digits-refused",
        "grammar-port-zero-refused",
        "grammar-port-65536-refused",
        "grammar-port-99999-refused",
        "grammar-port-wrapping-to-8449-refused",
        "grammar-ip-literal-port-65536-refused",
        "grammar-unbracketed-ipv6-refused",
        "grammar-unbracketed-ipv6-with-port-refused",
        "grammar-unclosed-bracket-refused",
        "grammar-bracketed-dns-name-refused",
        "grammar-bracketed-ipv4-refused",
        "grammar-ipv6-zone-id-refused",
        "grammar-ipv4-octet-out-of-range-refused",
        "grammar-underscore-refused",
        "grammar-space-refused",
        "grammar-trailing-whitespace-refused",
        "grammar-percent-encoding-refused",
        "grammar-non-ascii-name-refused",
        "grammar-empty-label-refused",
        "grammar-leading-dot-refused",
        "grammar-trailing-newline-refused",
        "grammar-closing-bracket-without-opening-refused",
        "grammar-named-port-refused",
        "grammar-ipv4-literal-port-with-letters-refused",
        "grammar-ipv6-literal-port-with-letter-refused",
        "grammar-ipv6-literal-port-six-digits-refused",
        "grammar-ipv6-literal-trailing-character-refused",
        "grammar-ipv6-seven-groups-refused",
    ],
    LowerCasesName: [
        "grammar-upper-case-name-host-as-given",
        "grammar-upper-case-name-without-port-host-as-given",
    ],
    StrictNameLimits: [
        "grammar-dns-name-of-253-characters-resolves",
        "grammar-single-label-name-resolves",
    ],
    NarrowPortRange: [
        "step1-ipv4-literal-port-1",
        "step1-ipv4-literal-port-65535",
        "step1-ipv6-literal-port-1",
        "step1-ipv6-literal-port-65535",
        "step2-explicit-port-1",
        "step2-explicit-port-65535",
        "step1-ipv4-literal-port-443-kept-in-host",
        "step1-ipv6-literal-port-443-kept-in-host",
    ],
    DefaultPortDropped: [
        "step1-ipv4-literal-port-8448-kept-in-host",
        "step2-explicit-port-8448-kept-in-host",
        "step2-explicit-port-443-kept-in-host",
        "step1-ipv4-literal-port-443-kept-in-host",
        "step1-ipv6-literal-port-443-kept-in-host",
        "step3.1-delegated-ipv4-port-443-kept-in-host",
        "step3.1-delegated-ipv6-port-443-kept-in-host",
        "step3.2-delegated-port-443-kept-in-host",
    ],
    WellKnownForIpLiteral: [
        "step1-ip-literal-ignores-well-known",
        "step1-ipv6-literal-ignores-well-known",
    ],
    ExplicitPortViaSrv: [
        "step2-explicit-port-a-record",
        "step2-explicit-port-ignores-legacy-srv",
        "step2-explicit-port-srv-servfail-irrelevant",
        "step2-destination-refused-no-request",
    ],
    FallsThroughWithoutAddress: ["step2-explicit-port-nodata-no-srv-fallback"],
    CnameTargetAsTlsName: [
        "step2-explicit-port-cname-to-address",
        "step2-certificate-for-cname-target-refused",
    ],
    IgnoresCertificateName: [
        "step1-ipv6-literal-hostname-only-certificate-refused",
        "step1-ipv6-literal-certificate-for-other-address-refused",
        "step2-ip-address-only-certificate-refused",
        "step2-certificate-for-cname-target-refused",
    ],
    NoCertificateValidation: [
        "step2-untrusted-certificate-refused",
        "step2-expired-certificate-refused",
        "tls-untrusted-ca-at-ip-literal-refused",
        "tls-expired-certificate-at-ip-literal-refused",
    ],
    PlainHttpFallback: [
        "tls-plain-http-at-ip-literal-refused",
        "tls-plain-http-at-ipv6-literal-default-port-refused",
        "tls-plain-http-at-explicit-port-refused",
        "tls-plain-http-at-8448-refused",
        "tls-plain-http-well-known-ignored",
    ],
}


@pytest.mark.parametrize("broken", list(MUST_FAIL), ids=lambda c: c.__name__)
def test_broken_resolver_fails_its_rule(broken, catalog, run) -> None:
    survived = []
    for sid in MUST_FAIL[broken]:
        result = run(catalog[sid], broken)
        assert result.verdict is not None, f"{sid} skipped: {result.skipped}"
        if result.verdict.passed:
            survived.append(sid)
    assert not survived, f"{broken.__name__} passed scenarios it breaks: {survived}"


def test_lax_parser_repairs_what_the_reference_refuses() -> None:
    """The lax parser is really lax (so its teeth test means something)."""
    assert lax_parse("https://user@origin.test/x") == ServerName("origin.test", None, "dns")
    assert lax_parse("origin.test:99999").port == 34463
    assert lax_parse("[fd00::1%lo]:+8449") == ServerName("fd00::1", 8449, "ipv6")
    assert lax_parse("örigin.test").host == "xn--rigin-iua.test"
