"""Resolvers that get one well-known rule (step 3) wrong, for tests/test_teeth_wellknown.py: each
is the reference with one thing changed; most swap one name of
`matrix_resolver_conformance.reference.well_known` for the duration of the step-3 lookup."""

from __future__ import annotations

import asyncio
import json
import re
import ssl
from typing import Any
from urllib.parse import urljoin, urlsplit

from matrix_resolver_conformance.reference import resolver as ref
from matrix_resolver_conformance.reference import well_known as wk
from matrix_resolver_conformance.reference.server_name import (
    InvalidServerName,
    ServerName,
    format_host_header,
    parse_server_name,
)
from matrix_resolver_conformance.reference.well_known import WellKnownResult
from matrix_resolver_conformance.wire.https_client import Response


class _Patched(ref.ReferenceResolver):
    """The reference, with `patches` ((name, replacement) in well_known) applied during step 3."""

    patches: tuple[tuple[str, Any], ...] = ()

    async def _well_known(self, hostname: str) -> WellKnownResult:
        saved = {name: getattr(wk, name) for name, _ in self.patches}
        for name, value in self.patches:
            setattr(wk, name, value)
        try:
            return await super()._well_known(hostname)
        finally:
            for name, value in saved.items():
                setattr(wk, name, value)


_REAL_GET = wk._get
_REAL_PARSE_BODY = wk.parse_well_known_body


class DiscoveryFailed(Exception):
    """Not a FetchError: escapes step 3 and ends discovery."""


# -- the broken rules ----------------------------------------------------------------------------


def _abort_on_bad_body(body: bytes) -> ServerName:
    try:
        return _REAL_PARSE_BODY(body)
    except wk.WellKnownError as exc:
        raise DiscoveryFailed(f"invalid well-known: {exc}") from None


class AbortsOnInvalidBody(_Patched):
    """r0.1.0's schema: a body that fails to parse or validate ends discovery (no step 4)."""

    patches = (("parse_well_known_body", _abort_on_bad_body),)


class AbortsOnAnyWellKnownFailure(ref.ReferenceResolver):
    """Any failure of step 3 (status, transport, TLS, size, redirects) ends discovery."""

    async def _well_known(self, hostname: str) -> WellKnownResult:
        result = await super()._well_known(hostname)
        if result.error is not None:
            raise DiscoveryFailed(result.error)
        return result


async def _get_any_status_is_200(url: str, **kwargs: Any) -> Response:
    response = await _REAL_GET(url, **kwargs)
    if response.header("location") is None:
        response.status = 200
    return response


class UsesBodyOfAnyStatus(_Patched):
    """Reads the delegation from any response that is not a followable redirect (404, 500, 201)."""

    patches = (("_get", _get_any_status_is_200),)


class NoRedirects(_Patched):
    """Treats a 30x as a non-200 response."""

    patches = (("REDIRECT_STATUSES", frozenset()),)


async def _get_allowing_http(url: str, *, dns: Any, port: int, **kwargs: Any) -> Response:
    parts = urlsplit(url)
    if parts.scheme != "http":
        return await _REAL_GET(url, dns=dns, port=port, **kwargs)
    address = (await dns.addresses(parts.hostname))[0]
    reader, writer = await asyncio.open_connection(address, parts.port or 80)
    writer.write(
        f"GET {parts.path} HTTP/1.1\r\nHost: {parts.netloc}\r\nConnection: close\r\n\r\n".encode()
    )
    raw = await reader.read()
    writer.close()
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = [(k.strip(), v.strip()) for k, _, v in (line.partition(":") for line in lines[1:])]
    return Response(int(lines[0].split()[1]), headers, body, address, parts.port or 80)


class FollowsRedirectToHttp(_Patched):
    """Follows a redirect to plain http:// (a downgrade)."""

    patches = (("_get", _get_allowing_http),)


async def _fetch_without_loop_check(
    hostname: str,
    *,
    dns: Any,
    ssl_context: ssl.SSLContext,
    port: int,
    timeout: float,
    follow_redirects: bool = True,
) -> tuple[ServerName, float]:
    url = f"https://{hostname}{wk.WELL_KNOWN_PATH}"
    deadline = asyncio.get_running_loop().time() + timeout
    while True:  # no loop detection, no hop limit: only step 3's timeout ends it
        if asyncio.get_running_loop().time() > deadline:
            raise wk.WellKnownError(f"still redirected after {timeout}s")
        response = await wk._get(url, dns=dns, ssl_context=ssl_context, port=port, timeout=timeout)
        location = response.header("location")
        if response.status in wk.REDIRECT_STATUSES and location:
            url = urljoin(url, location)
            continue
        if response.status != 200:
            raise wk.WellKnownError(f"status {response.status}")
        return wk.parse_well_known_body(response.body), wk.cache_ttl(response.headers)


class FollowsRedirectLoops(_Patched):
    """Follows redirects blindly until the step's timeout stops it."""

    patches = (("_fetch", _fetch_without_loop_check),)


class WellKnownWithoutCertificateCheck(ref.ReferenceResolver):
    """Accepts any certificate for the well-known (every hop); federation requests still check."""

    async def _well_known(self, hostname: str) -> WellKnownResult:
        checked = self._ssl
        self._ssl = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        self._ssl.check_hostname = False
        self._ssl.verify_mode = ssl.CERT_NONE
        try:
            return await super()._well_known(hostname)
        finally:
            self._ssl = checked


async def _get_json_type_only(url: str, **kwargs: Any) -> Response:
    response = await _REAL_GET(url, **kwargs)
    kind = (response.header("content-type") or "").split(";")[0].strip().lower()
    if response.status == 200 and kind != "application/json":
        response.status = 415
    return response


class RequiresJsonContentType(_Patched):
    """Rejects a body whose Content-Type is not application/json."""

    patches = (("_get", _get_json_type_only),)


def _lax_server_name(text: str) -> ServerName:
    """What a resolver without grammar checks makes of a string: scheme, path, spaces and a bad
    port dropped, a missing bracket forgiven, anything else taken as a DNS name."""
    text = text.strip().split("://")[-1].split("/")[0]
    if text.startswith("["):
        return ServerName(text[1:].split("]")[0], None, "ipv6")
    host, _, port = text.partition(":")
    ok = port.isdigit() and 0 < int(port) < 65536
    return ServerName(host, int(port) if ok else None, "dns")


class NoServerNameCheck(_Patched):
    """Uses any m.server string without checking it against the server-name grammar."""

    patches = (("parse_server_name", _lax_server_name),)


def _first_m_server_in_text(body: bytes) -> ServerName:
    match = re.search(rb'"m\.server"\s*:\s*"([^"]*)"', body)
    if match is None:
        return _REAL_PARSE_BODY(body)
    return parse_server_name(match.group(1).decode())


class SearchesBodyForMServer(_Patched):
    """Finds `"m.server": "..."` anywhere in the text instead of parsing the JSON object."""

    patches = (("parse_well_known_body", _first_m_server_in_text),)


def _permissive_json(body: bytes) -> ServerName:
    """Python's json.loads as it comes: NaN and Infinity accepted, the last repeated name wins."""
    document = json.loads(body)
    if not isinstance(document, dict) or not isinstance(document.get("m.server"), str):
        raise wk.WellKnownError("no m.server string")
    try:
        return parse_server_name(document["m.server"])
    except InvalidServerName as exc:
        raise wk.WellKnownError(str(exc)) from None


class PermissiveJson(_Patched):
    """Parses the body with a lenient JSON parser (NaN, Infinity, repeated names)."""

    patches = (("parse_well_known_body", _permissive_json),)


def _string_decoded_again(body: bytes) -> ServerName:
    document = json.loads(body)
    if isinstance(document, str):  # "a JSON document in a string": decode it once more
        return _REAL_PARSE_BODY(document.encode())
    return _REAL_PARSE_BODY(body)


class DecodesStringBodyAgain(_Patched):
    """Takes a body that is a JSON string for a document encoded twice and decodes it again."""

    patches = (("parse_well_known_body", _string_decoded_again),)


_REAL_CACHE_TTL = wk.cache_ttl


def _ttl_without_expires(headers: list[tuple[str, str]], now: float | None = None) -> float:
    return _REAL_CACHE_TTL([(k, v) for k, v in headers if k.lower() != "expires"], now)


class IgnoresExpires(_Patched):
    """Reads Cache-Control only: an `Expires` header is never consulted."""

    patches = (("cache_ttl", _ttl_without_expires),)


def _lower_case_only(text: str) -> ServerName:
    if text != text.lower():
        raise InvalidServerName(f"{text!r}: upper case")
    return parse_server_name(text)


class RejectsUpperCase(_Patched):
    """Refuses an m.server with upper-case letters (grammar.11's advice taken as a rule)."""

    patches = (("parse_server_name", _lower_case_only),)


class NeverCaches(ref.ReferenceResolver):
    """Fetches the well-known on every request."""

    async def _well_known(self, hostname: str) -> WellKnownResult:
        self._well_knowns.clear()
        return await super()._well_known(hostname)


class CachesEverything(_Patched):
    """Caches every answer for 24 h whatever its Cache-Control says."""

    patches = (("cache_ttl", lambda headers: wk.DEFAULT_TTL),)


class WellKnownForIpLiterals(ref.ReferenceResolver):
    """Asks an IP literal's well-known too, and follows a delegation with a port."""

    async def __call__(self, server_name: str) -> Response:
        name = parse_server_name(server_name)
        if name.is_ip:
            found = (await self._well_known(format_host_header(name.host, None))).server
            if found is not None and found.port is not None:
                return await self._connect_name("3.2", found, found.port, str(found))
        return await super().__call__(server_name)


class RecursiveWellKnown(ref.ReferenceResolver):
    """Asks the delegated name's well-known again (uncached) before its SRV lookup."""

    async def _srv_or_default(self, steps, name, context):
        if steps[0] == "3.3":
            self._well_knowns.clear()
            await self._well_known(name.host)
        return await super()._srv_or_default(steps, name, context)


# broken resolver -> scenarios of its rule that must fail against it
