"""Server names as the spec's appendix defines them: `hostname [":" port]`.

The reference resolver refuses an invalid name before any network traffic, so
parsing is strict where the ABNF is loose (docs/spec-history.md#gap-grammar-loose): IPv4
octets must be 0..255, IPv6 literals must be real addresses, ports 1..65535,
and DNS names must be names that DNS can actually look up.
"""

from __future__ import annotations

import ipaddress
import re
import string
from dataclasses import dataclass
from typing import Literal

__all__ = ["InvalidServerName", "ServerName", "format_host_header", "parse_server_name"]

Kind = Literal["ipv4", "ipv6", "dns"]

_PORT_RE = re.compile(r"[0-9]{1,5}")
# Four all-digit parts: an IPv4 literal, or nothing (RFC 1123 §2.1: a host name is
# never of the form #.#.#.#), so such a name must pass the IPv4 range checks.
_IPV4_SHAPE_RE = re.compile(r"[0-9]+(\.[0-9]+){3}\.?")
_IPV4_RE = re.compile(r"[0-9]{1,3}(\.[0-9]{1,3}){3}")
_IPV6_CHARS = frozenset(string.hexdigits + ":.")
_DNS_CHARS = frozenset(string.ascii_letters + string.digits + "-.")
MAX_DNS_NAME = 255
MAX_LABEL = 63


class InvalidServerName(ValueError):
    """The text is not a server name the resolver may act on."""


@dataclass(frozen=True)
class ServerName:
    """A parsed server name; `host` is kept as written (IPv6 without its brackets)."""

    host: str
    port: int | None
    kind: Kind

    @property
    def is_ip(self) -> bool:
        """True for IP literals (steps 1 and 3.1), which skip all DNS."""
        return self.kind != "dns"

    @property
    def address(self) -> str:
        """Canonical IP text to connect to; `01.2.3.4` is decimal, never octal."""
        if self.kind == "ipv4":
            return ".".join(str(int(part)) for part in self.host.split("."))
        if self.kind == "ipv6":
            return str(ipaddress.IPv6Address(self.host))
        raise ValueError(f"{self.host!r} is not an IP literal")

    @property
    def tls_name(self) -> str:
        """The name the certificate must match (also the SNI for DNS names).

        An IP gives its canonical text (Python's ssl then sends no SNI and checks
        the IP SAN); a DNS name loses a trailing dot, which SNI does not allow.
        """
        if self.is_ip:
            return self.address
        return self.host[:-1] if self.host.endswith(".") else self.host

    def __str__(self) -> str:
        return format_host_header(self.host, self.port)


def format_host_header(host: str, port: int | None) -> str:
    """The `Host` value for `host` (IPv6 in brackets), with `:port` only when given."""
    text = f"[{host}]" if ":" in host else host
    return text if port is None else f"{text}:{port}"


def parse_server_name(text: str) -> ServerName:
    """Parse and validate `text`, raising `InvalidServerName` with the reason."""
    if not isinstance(text, str):
        raise InvalidServerName(f"server name must be a string, not {type(text).__name__}")
    if not text:
        raise InvalidServerName("server name is empty")
    if not text.isascii():
        raise InvalidServerName(f"{text!r}: server names are ASCII only (no IDNA U-labels)")
    if text.startswith("["):
        end = text.find("]")
        if end < 0:
            raise InvalidServerName(f"{text!r}: '[' without closing ']'")
        host, rest = text[1:end], text[end + 1 :]
        _check_ipv6(text, host)
        if rest and not rest.startswith(":"):
            raise InvalidServerName(f"{text!r}: unexpected {rest!r} after ']'")
        port = _parse_port(text, rest[1:]) if rest else None
        return ServerName(host, port, "ipv6")
    host, sep, port_text = text.partition(":")
    if ":" in port_text:
        raise InvalidServerName(f"{text!r}: an IPv6 literal must be in brackets")
    port = _parse_port(text, port_text) if sep else None
    if not host:
        raise InvalidServerName(f"{text!r}: hostname is empty")
    if _IPV4_SHAPE_RE.fullmatch(host):
        _check_ipv4(text, host)
        return ServerName(host, port, "ipv4")
    _check_dns_name(text, host)
    return ServerName(host, port, "dns")


def _parse_port(text: str, port_text: str) -> int:
    """`port = 1*5DIGIT`, and a value a TCP port can have."""
    if not _PORT_RE.fullmatch(port_text):
        raise InvalidServerName(f"{text!r}: port {port_text!r} is not 1 to 5 digits")
    port = int(port_text)
    if not 1 <= port <= 65535:
        raise InvalidServerName(f"{text!r}: port {port} is out of range 1..65535")
    return port


def _check_ipv4(text: str, host: str) -> None:
    if not _IPV4_RE.fullmatch(host):
        raise InvalidServerName(f"{text!r}: {host!r} looks like an IPv4 address but is not one")
    for part in host.split("."):
        if int(part) > 255:
            raise InvalidServerName(f"{text!r}: IPv4 part {part} is out of range 0..255")


def _check_ipv6(text: str, host: str) -> None:
    if not 2 <= len(host) <= 45 or not set(host) <= _IPV6_CHARS:
        raise InvalidServerName(f"{text!r}: {host!r} is not an IPv6 address (no zone ids)")
    try:
        ipaddress.IPv6Address(host)
    except ValueError as exc:
        raise InvalidServerName(f"{text!r}: {host!r} is not an IPv6 address: {exc}") from None


def _check_dns_name(text: str, host: str) -> None:
    if len(host) > MAX_DNS_NAME:
        raise InvalidServerName(f"{text!r}: DNS name is longer than {MAX_DNS_NAME} characters")
    bad = sorted(set(host) - _DNS_CHARS)
    if bad:
        raise InvalidServerName(f"{text!r}: character(s) {''.join(bad)!r} not allowed in a name")
    labels = host[:-1].split(".") if host.endswith(".") else host.split(".")
    for label in labels:
        if not label:
            raise InvalidServerName(f"{text!r}: empty DNS label")
        if len(label) > MAX_LABEL:
            raise InvalidServerName(f"{text!r}: DNS label longer than {MAX_LABEL} characters")
