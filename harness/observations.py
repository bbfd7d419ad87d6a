"""What the fake world saw: every DNS query, connection, TLS handshake and HTTP request, in order.

The verdict is computed from this log alone, never from what a resolver says about itself, so
every event carries the facts a judge needs (where, with which name, whether it completed) and a
one-line rendering for failure messages.
"""

from __future__ import annotations

import itertools
import time
from dataclasses import dataclass, field

from matrix_resolver_harness.addresses import endpoint

RAW_PREFIX = 48  # bytes of an unreadable message kept for the log


@dataclass
class DnsQuery:
    """One message received by the fake authoritative DNS server: a query, or bytes that are
    not one (`readable` False: then `raw` holds their start, hex, and `size` their length)."""

    name: str
    rtype: str
    transport: str  # "udp" or "tcp"
    outcome: str = ""  # "NOERROR 2 answers", "NXDOMAIN", "SERVFAIL", "no answer (timeout)", ...
    readable: bool = True
    size: int = 0
    raw: str = ""

    def describe(self) -> str:
        if not self.readable:
            what = f"unreadable message ({self.size} bytes: {self.raw}...)"
            return f"DNS {self.transport.upper()} {what} -> {self.outcome}"
        return f"DNS {self.transport.upper()} {self.rtype} {self.name} -> {self.outcome}"


def unreadable(transport: str, data: bytes, outcome: str) -> DnsQuery:
    return DnsQuery("?", "?", transport, outcome, False, len(data), data[:RAW_PREFIX].hex())


@dataclass
class Connection:
    """One TCP connection accepted by a fake server, and its TLS handshake if the site is TLS.

    Mutable: the handshake completes (or fails) after the connection is logged.
    """

    id: int
    site: str  # the site label, e.g. "target:8449"
    address: str
    port: int
    tls: bool
    client_hello: bool = False
    sni: str | None = None
    established: bool = False
    error: str | None = None
    received: int = 0  # bytes of HTTP (after TLS, if any) the client sent
    first_bytes: bytes = b""  # their start (or, before TLS, of what came instead of a hello)
    requests: int = 0  # HTTP requests read from them

    @property
    def endpoint(self) -> str:
        return endpoint(self.address, self.port)

    def unread(self) -> str:
        """What the client sent that was no request, if anything: ", then 12 bytes that are not
        an HTTP request: b'garbage...'"."""
        if self.received and not self.requests:
            return (
                f", then {self.received} byte(s) that are not an HTTP request: "
                f"{self.first_bytes[:RAW_PREFIX]!r}"
            )
        return ""

    def describe(self) -> str:
        where = f"connect {self.site} ({self.endpoint})"
        if not self.tls:
            state = f": {self.error}" if self.error else ""
            return f"{where} plain TCP, no TLS{state}{self.unread()}"
        if not self.client_hello:
            tls = "no TLS ClientHello" if not self.error else f"TLS not started: {self.error}"
        else:
            sni = f"SNI {self.sni}" if self.sni is not None else "no SNI"
            if self.established:
                state = "handshake completed"
            elif self.error:
                state = f"handshake failed: {self.error}"
            else:
                state = "handshake not completed"
            tls = f"TLS {sni}, {state}"
        return f"{where} {tls}{self.unread()}"


@dataclass
class HttpRequest:
    """One HTTP request received on a connection."""

    connection: Connection
    method: str
    path: str
    host: str | None
    status: int = 0
    well_known: bool = False  # for a delegation document (the well-known path, or another
    # path the site serves one at, e.g. a redirect's target), not a federation request

    @property
    def site(self) -> str:
        return self.connection.site

    @property
    def sni(self) -> str | None:
        return self.connection.sni

    def describe(self) -> str:
        host = "no Host header" if self.host is None else f"Host {self.host!r}"
        sni = ""
        if self.connection.tls:
            sni = f", SNI {self.sni}" if self.sni is not None else ", no SNI"
        scheme = "https" if self.connection.tls else "http"
        return (
            f"{scheme} {self.method} {self.path} at {self.site} ({self.connection.endpoint}), "
            f"{host}{sni} -> {self.status or 'no response'}"
        )


Event = DnsQuery | Connection | HttpRequest


@dataclass
class ObservationLog:
    """The ordered record of one world's life."""

    events: list[tuple[float, Event]] = field(default_factory=list)
    _ids: itertools.count = field(default_factory=itertools.count)
    _t0: float = field(default_factory=time.monotonic)

    def add(self, event: Event) -> Event:
        self.events.append((time.monotonic() - self._t0, event))
        return event

    def new_connection(self, site: str, address: str, port: int, tls: bool) -> Connection:
        conn = Connection(next(self._ids), site, address, port, tls)
        self.add(conn)
        return conn

    def dns_queries(self) -> list[DnsQuery]:
        return [e for _, e in self.events if isinstance(e, DnsQuery)]

    def connections(self) -> list[Connection]:
        return [e for _, e in self.events if isinstance(e, Connection)]

    def requests(self) -> list[HttpRequest]:
        return [e for _, e in self.events if isinstance(e, HttpRequest)]

    def describe(self) -> list[str]:
        """The whole log, one line per event, with milliseconds since the world started."""
        return [f"{t * 1000:8.1f} ms  {e.describe()}" for t, e in self.events]
