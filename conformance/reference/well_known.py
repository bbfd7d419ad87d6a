"""Step 3's `GET https://<hostname>/.well-known/matrix/server`, its validation and cache.

Any failure here (transport, status, body, redirects) is one outcome: "the
well-known is invalid", which sends discovery to step 4
(docs/spec-history.md#gap-well-known-failure, #gap-m-server-invalid). Redirect
rules the spec leaves open (docs/spec-history.md#gap-redirects) are fixed here:
at most 5 hops, no loops, https only.
"""

from __future__ import annotations

import asyncio
import email.utils
import json
import ssl
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any
from urllib.parse import urldefrag, urljoin, urlsplit

from matrix_resolver_conformance.reference.dns_client import DnsClient, DnsLookupError
from matrix_resolver_conformance.reference.server_name import (
    InvalidServerName,
    ServerName,
    format_host_header,
    parse_server_name,
)
from matrix_resolver_conformance.wire.https_client import FetchError, Response, connect_first

__all__ = [
    "WellKnownCache",
    "WellKnownError",
    "WellKnownResult",
    "cache_ttl",
    "fetch_well_known",
    "parse_well_known_body",
]

WELL_KNOWN_PATH = "/.well-known/matrix/server"
MAX_BODY = 64 * 1024
MAX_REDIRECTS = 5
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
DEFAULT_TTL = 24 * 3600.0
MAX_TTL = 48 * 3600.0
ERROR_TTL = 3600.0


class WellKnownError(Exception):
    """The well-known response was unusable; discovery goes on at step 4."""


class InvalidBody(WellKnownError):
    """A 200 response whose body is unusable (texts before 6421582b abort discovery on it)."""


@dataclass(frozen=True)
class WellKnownResult:
    """Either the delegated server name or the reason there is none, and for how long."""

    server: ServerName | None
    error: str | None
    ttl: float
    invalid_body: bool = False  # a 200 whose body was unusable (not a failed request)


def _no_constants(name: str) -> object:
    raise ValueError(f"{name} is not JSON (RFC 8259 has no NaN or Infinity)")


def _unique_names(pairs: list[tuple[str, object]]) -> dict[str, object]:
    names = [name for name, _ in pairs]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:  # RFC 8259: behaviour unpredictable; I-JSON (RFC 7493): MUST NOT
        raise ValueError(f"an object repeats the name(s) {', '.join(map(repr, twice))}")
    return dict(pairs)


def parse_well_known_body(body: bytes) -> ServerName:
    """`m.server` from a 200 body, read as strict JSON (no NaN/Infinity, no repeated names)
    whatever the Content-Type."""
    try:
        document = json.loads(body, parse_constant=_no_constants, object_pairs_hook=_unique_names)
    except ValueError as exc:  # also UnicodeDecodeError
        raise WellKnownError(f"body is not JSON: {exc}") from None
    if not isinstance(document, dict):
        raise WellKnownError(f"body is JSON {type(document).__name__}, not an object")
    if "m.server" not in document:
        raise WellKnownError("body has no m.server property")
    value = document["m.server"]
    if not isinstance(value, str):
        raise WellKnownError(f"m.server is {type(value).__name__}, not a string")
    try:
        return parse_server_name(value)
    except InvalidServerName as exc:
        raise WellKnownError(f"m.server is not a valid server name: {exc}") from None


def cache_ttl(headers: list[tuple[str, str]], now: float | None = None) -> float:
    """Seconds to keep a valid answer: `max-age` capped at 48 h, else `Expires`, else 24 h.

    `no-store` and `no-cache` give 0 (not cached: we never revalidate). A malformed
    `max-age` is ignored. `Expires` counts only without `max-age` (RFC 9111 5.3); an invalid
    date, such as `0`, means already expired.
    """
    directives: dict[str, str | None] = {}
    for name, value in headers:
        if name.lower() != "cache-control":
            continue
        for item in value.split(","):
            key, sep, arg = item.strip().partition("=")
            key = key.strip().lower()
            if key and key not in directives:
                directives[key] = arg.strip().strip('"') if sep else None
    if "no-store" in directives or "no-cache" in directives:
        return 0.0
    max_age = directives.get("max-age")
    if max_age is not None and max_age.isascii() and max_age.isdigit():
        return min(float(max_age), MAX_TTL)
    expires = next((v for k, v in headers if k.lower() == "expires"), None)
    if expires is not None:
        return min(max(_seconds_until(expires, now), 0.0), MAX_TTL)
    return DEFAULT_TTL


def _seconds_until(http_date: str, now: float | None) -> float:
    try:
        when = email.utils.parsedate_to_datetime(http_date).timestamp()
    except (TypeError, ValueError, IndexError, OverflowError):
        return 0.0  # "0" and other invalid dates: already expired
    return when - (time.time() if now is None else now)


class WellKnownCache:
    """Per-resolver memory of well-known outcomes, by hostname as written."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._entries: dict[str, tuple[float, WellKnownResult]] = {}

    def get(self, hostname: str) -> WellKnownResult | None:
        entry = self._entries.get(hostname)
        if entry is None:
            return None
        expires, result = entry
        if self._clock() >= expires:
            del self._entries[hostname]
            return None
        return result

    def put(self, hostname: str, result: WellKnownResult) -> None:
        if result.ttl > 0:
            self._entries[hostname] = (self._clock() + result.ttl, result)

    def clear(self) -> None:
        self._entries.clear()


async def fetch_well_known(
    hostname: str,
    *,
    dns: DnsClient,
    ssl_context: ssl.SSLContext,
    port: int,
    timeout: float,
    follow_redirects: bool = True,
) -> WellKnownResult:
    """Fetch and validate; never raises for a bad well-known, it returns the reason."""
    fetch = _fetch(hostname, dns=dns, ssl_context=ssl_context, port=port, timeout=timeout,
                   follow_redirects=follow_redirects)  # fmt: skip
    return await result_within(fetch, timeout)


async def result_within(
    fetch: Coroutine[Any, Any, tuple[ServerName, float]], timeout: float
) -> WellKnownResult:
    """`fetch` (-> the delegation and how long to keep it) as a result: a failure, an invalid
    body or no answer within `timeout` becomes the reason, kept for ERROR_TTL."""
    try:
        server, ttl = await asyncio.wait_for(fetch, timeout)
    except (asyncio.TimeoutError, TimeoutError):
        return WellKnownResult(None, f"no answer within {timeout}s", ERROR_TTL)
    except InvalidBody as exc:
        return WellKnownResult(None, str(exc), ERROR_TTL, invalid_body=True)
    except (WellKnownError, FetchError, DnsLookupError) as exc:
        return WellKnownResult(None, str(exc), ERROR_TTL)
    return WellKnownResult(server, None, ttl)


async def _fetch(
    hostname: str,
    *,
    dns: DnsClient,
    ssl_context: ssl.SSLContext,
    port: int,
    timeout: float,
    follow_redirects: bool,
) -> tuple[ServerName, float]:
    url = f"https://{hostname}{WELL_KNOWN_PATH}"
    visited = {url}
    for hop in range(MAX_REDIRECTS + 1):
        response = await _get(url, dns=dns, ssl_context=ssl_context, port=port, timeout=timeout)
        if response.status in REDIRECT_STATUSES and follow_redirects:
            location = response.header("location")
            if not location:
                raise WellKnownError(f"{url}: {response.status} redirect without Location")
            if hop == MAX_REDIRECTS:
                raise WellKnownError(f"{url}: more than {MAX_REDIRECTS} redirects")
            try:
                url = urldefrag(urljoin(url, location)).url
            except ValueError as exc:  # e.g. "Invalid IPv6 URL": an unusable Location
                raise WellKnownError(f"{url}: bad redirect Location {location!r}: {exc}") from None
            if url in visited:
                raise WellKnownError(f"redirect loop back to {url}")
            visited.add(url)
            continue
        if response.status != 200:
            raise WellKnownError(f"{url}: status {response.status}, not 200")
        try:
            return parse_well_known_body(response.body), cache_ttl(response.headers)
        except WellKnownError as exc:
            raise InvalidBody(f"{url}: {exc}") from None
    raise AssertionError("unreachable")  # pragma: no cover


async def _get(
    url: str, *, dns: DnsClient, ssl_context: ssl.SSLContext, port: int, timeout: float
) -> Response:
    """One hop: connect to the URL's host exactly as the URL says (never downgrade)."""
    try:
        parts = urlsplit(url)
    except ValueError as exc:  # "Invalid IPv6 URL": an unbalanced bracket
        raise WellKnownError(f"bad URL {url!r}: {exc}") from None
    if parts.scheme.lower() != "https":
        raise WellKnownError(f"refusing non-https URL {url}")
    if "@" in parts.netloc:
        raise WellKnownError(f"refusing URL with user info {url}")
    try:
        target = parse_server_name(parts.netloc)
    except InvalidServerName as exc:
        raise WellKnownError(f"bad host in URL {url}: {exc}") from None
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    if not path.isascii() or any(ch <= " " or ch == "\x7f" for ch in path):
        raise WellKnownError(f"URL path is not plain ASCII: {url!r}")
    addresses = [target.address] if target.is_ip else await dns.addresses(target.host)
    return await connect_first(
        addresses,
        target.port if target.port is not None else port,
        tls_name=target.tls_name,
        host_header=format_host_header(target.host, target.port),
        path=path,
        ssl_context=ssl_context,
        timeout=timeout,
        max_body=MAX_BODY,
    )
