"""A fake authoritative DNS server for the test worlds, on asyncio UDP and TCP.

Resolvers under test must be judged on the queries they really send, so the server records every
query (name as asked, type, transport, outcome) in the world's ObservationLog. dnslib is used only
to parse and build packets: its own DNSServer is threaded and logs, which does not fit the loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from dataclasses import dataclass, field, replace

from dnslib import (
    AAAA,
    CNAME,
    EDNS0,
    QTYPE,
    RCODE,
    RR,
    SOA,
    SRV,
    A,
    DNSHeader,
    DNSQuestion,
    DNSRecord,
)

from matrix_resolver_harness.netns import SocketFactory, bound_socket
from matrix_resolver_harness.observations import DnsQuery, ObservationLog, unreadable

SUPPORTED_TYPES = ("A", "AAAA", "CNAME", "SRV")
_UDP_DEFAULT_LIMIT = 512
_OUR_EDNS_PAYLOAD = 1232  # the usual "DNS flag day" size, advertised in our OPT records
# Negative answers carry an SOA so caching clients know how long to remember them. Its owner is
# the root: always an ancestor of the query name, whatever names a world invents.
_NEGATIVE_SOA = RR(
    ".", QTYPE.SOA, rdata=SOA("ns.invalid", "hostmaster.invalid", (1, 3600, 600, 86400, 60)), ttl=60
)


def _norm(name: str) -> str:
    """Names compare case-insensitively and with or without the trailing dot."""
    return name.rstrip(".").lower()


@dataclass(frozen=True)
class Record:
    """One resource record of the zone; SRV value is "priority weight port target"."""

    name: str
    rtype: str
    value: str
    ttl: int = 60

    def __post_init__(self) -> None:
        # Fail when the world is built, not with a confusing SERVFAIL in the middle of a test.
        if self.rtype.upper() not in SUPPORTED_TYPES:
            raise ValueError(f"unsupported record type {self.rtype!r} for {self.name}")
        if self.rtype.upper() == "SRV" and len(self.value.split()) != 4:
            raise ValueError(f"SRV value must be 'priority weight port target': {self.value!r}")


FAULTS = ("SERVFAIL", "NOTIMP", "REFUSED", "FORMERR", "SILENT", "TRUNCATED", "WRONG-QUESTION")


@dataclass
class Answer:
    """What the server will send for one question."""

    rcode: str  # "NOERROR" | "NXDOMAIN" | "SERVFAIL" | "NOTIMP" | "REFUSED" | "FORMERR"
    records: list[Record] = field(default_factory=list)  # answer section, CNAME chain first
    silent: bool = False  # True: send nothing, the client times out
    truncated: bool = False  # over UDP: TC set and no records; over TCP: no answer at all
    wrong_question: bool = False  # the reply's question (and answers) are for another name


@dataclass
class Zone:
    """The records the server is authoritative for, plus names that fail on purpose.

    `servfail` and `silent` entries are "name" (any type) or "name TYPE" (that type only);
    `faults` maps such an entry to one of FAULTS (e.g. {"_matrix-fed._tcp.a.test SRV": "NOTIMP"}).
    """

    records: list[Record] = field(default_factory=list)
    servfail: set[str] = field(default_factory=set)
    silent: set[str] = field(default_factory=set)
    faults: dict[str, str] = field(default_factory=dict)

    @staticmethod
    def _matches(entry: str, name: str, qtype: str) -> bool:
        parts = entry.split()
        return (
            bool(parts)
            and _norm(parts[0]) == name
            and (len(parts) == 1 or parts[1].upper() == qtype)
        )

    def _failure(self, name: str, qtype: str) -> Answer | None:
        if any(self._matches(e, name, qtype) for e in self.silent):
            return Answer("NOERROR", [], silent=True)
        if any(self._matches(e, name, qtype) for e in self.servfail):
            return Answer("SERVFAIL", [])
        fault = next((f for e, f in self.faults.items() if self._matches(e, name, qtype)), None)
        if fault is None:
            return None
        if fault == "SILENT":
            return Answer("NOERROR", [], silent=True)
        if fault == "TRUNCATED":
            return Answer("NOERROR", [], truncated=True)
        if fault == "WRONG-QUESTION":
            return None  # answered as usual, then sent for another question (see _reply)
        return Answer(fault, [])

    def wrong_question(self, name: str, qtype: str) -> bool:
        return any(
            f == "WRONG-QUESTION" and self._matches(e, _norm(name), qtype.upper())
            for e, f in self.faults.items()
        )

    def answer(self, qname: str, qtype: str) -> Answer:
        """Authoritative answer for (qname, qtype); pure, so worlds can be checked without I/O."""
        qtype = qtype.upper()
        key = _norm(qname)
        failure = self._failure(key, qtype)
        if failure is not None:
            return failure
        names = {_norm(r.name) for r in self.records}
        if key not in names:
            # An ancestor of a zone name exists as an empty non-terminal: NODATA, not NXDOMAIN.
            if key == "" or any(n.endswith("." + key) for n in names):
                return Answer("NOERROR", [])
            return Answer("NXDOMAIN", [])

        out: list[Record] = []
        visited: set[str] = set()
        while True:
            visited.add(key)
            here = [r for r in self.records if _norm(r.name) == key]
            if not out:  # the first hop answers with the name as the client spelt it
                here = [replace(r, name=qname.rstrip(".")) for r in here]
            cname = next((r for r in here if r.rtype.upper() == "CNAME"), None)
            if cname is None or qtype == "CNAME":
                return Answer("NOERROR", out + [r for r in here if r.rtype.upper() == qtype])
            out.append(cname)
            key = _norm(cname.value)
            # Stop on loops and at names outside the zone (the client chases those itself), and
            # before a target meant to fail, so the client's own query for it hits the failure.
            if key in visited or key not in names or self._failure(key, qtype):
                return Answer("NOERROR", out)


def _rdata(record: Record) -> A | AAAA | CNAME | SRV:
    rtype = record.rtype.upper()
    if rtype == "A":
        return A(record.value)
    if rtype == "AAAA":
        return AAAA(record.value)
    if rtype == "CNAME":
        return CNAME(record.value)
    priority, weight, port, target = record.value.split()
    return SRV(int(priority), int(weight), int(port), target)


def _outcome(answer: Answer) -> str:
    if answer.rcode != "NOERROR":
        return answer.rcode
    n = len(answer.records)
    return "NOERROR no data" if n == 0 else f"NOERROR {n} answer{'s' if n != 1 else ''}"


def _header_only(data: bytes, rcode: int) -> bytes | None:
    """A reply with no sections echoing the id, or None when not even the id (or QR=0) is
    readable."""
    if len(data) < 3 or data[2] & 0x80:  # never answer something that claims to be a response
        return None
    header = DNSHeader(id=int.from_bytes(data[:2], "big"), qr=1, rcode=rcode)
    return DNSRecord(header).pack()


def _formerr(data: bytes) -> bytes | None:
    return _header_only(data, RCODE.FORMERR)


class _UdpProtocol(asyncio.DatagramProtocol):
    def __init__(self, server: DnsServer) -> None:
        self._server = server
        self.transport: asyncio.DatagramTransport | None = None
        self.closed: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # asyncio passes the base type

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        wire, _ = self._server._respond(data, "udp")
        if wire is not None and self.transport is not None and not self.transport.is_closing():
            self.transport.sendto(wire, addr)

    def error_received(self, exc: Exception) -> None:
        pass  # e.g. ICMP port unreachable from a client that gave up: nothing to do

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.closed.done():
            self.closed.set_result(None)


class DnsServer:
    """Serves a Zone on one address over UDP and TCP (same port), logging every query.

    `bind` makes its bound sockets (the world passes its network's, so they live in the world's
    namespace); port 0 picks a port free for both transports."""

    def __init__(
        self,
        zone: Zone,
        log: ObservationLog,
        host: str,
        port: int = 53,
        bind: SocketFactory = bound_socket,
    ) -> None:
        self.zone = zone
        self.log = log
        self.host = host
        self.port = port
        self._bind = bind
        self._udp: _UdpProtocol | None = None
        self._tcp: asyncio.Server | None = None
        self._clients: set[asyncio.Task[None]] = set()
        self._stopping = False

    @property
    def address(self) -> tuple[str, int]:
        return (self.host, self.port)

    async def start(self) -> None:
        """Bind UDP then TCP on the same port; with port 0, retry until one is free for both."""
        loop = asyncio.get_running_loop()
        self._stopping = False
        for _ in range(10):
            udp_sock = self._bind(self.host, self.port, socket.SOCK_DGRAM)
            _, udp = await loop.create_datagram_endpoint(lambda: _UdpProtocol(self), sock=udp_sock)
            port = udp_sock.getsockname()[1]
            try:
                tcp_sock = self._bind(self.host, port, socket.SOCK_STREAM)
            except OSError:
                assert udp.transport is not None
                udp.transport.close()
                await udp.closed
                if self.port != 0:
                    raise
                continue
            tcp_sock.listen(64)
            self._tcp = await asyncio.start_server(self._serve_tcp, sock=tcp_sock)
            self._udp, self.port = udp, port
            return
        raise OSError(f"no port free for both UDP and TCP on {self.host}")

    async def stop(self) -> None:
        """Close both sockets and every client connection, and wait until they are gone."""
        self._stopping = True
        if self._udp is not None and self._udp.transport is not None:
            self._udp.transport.close()
            await self._udp.closed
        self._udp = None
        tcp, self._tcp = self._tcp, None
        if tcp is not None:
            tcp.close()
        # Clients first: since 3.12.1 Server.wait_closed() waits for every connection, and an
        # idle client would hold it forever. A connection accepted just before close() takes a
        # few loop turns to reach its handler: keep turning and cancelling until all are gone.
        for _ in range(5):
            await asyncio.sleep(0)
            clients = list(self._clients)
            for task in clients:
                task.cancel()
            await asyncio.gather(*clients, return_exceptions=True)
        if tcp is not None:
            await tcp.wait_closed()

    async def _serve_tcp(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """One TCP connection: length-prefixed queries until EOF, garbage, or stop(). The
        connection itself is logged, and so is anything it sends that is not a query."""
        task = asyncio.current_task()
        assert task is not None
        self._clients.add(task)
        peer = writer.get_extra_info("sockname") or (self.host, self.port)
        self.log.new_connection("dns", peer[0], peer[1], tls=False)
        pending = b""
        try:
            while not self._stopping:
                pending = await reader.read(2)
                while len(pending) < 2:
                    more = await reader.read(2 - len(pending))
                    if not more:
                        raise EOFError
                    pending += more
                size = int.from_bytes(pending, "big")
                message = await reader.readexactly(size)
                pending = b""
                wire, ok = self._respond(message, "tcp")
                if wire is not None:
                    writer.write(len(wire).to_bytes(2, "big") + wire)
                    await writer.drain()
                if not ok:
                    break
        except asyncio.IncompleteReadError as e:  # EOF mid-message: bytes that are no query
            self.log.add(unreadable("tcp", pending + e.partial, "incomplete message, no answer"))
        except EOFError:
            if pending:
                self.log.add(unreadable("tcp", pending, "incomplete length prefix, no answer"))
        except OSError:
            pass  # the client went away
        finally:
            self._clients.discard(task)
            writer.close()
            with contextlib.suppress(Exception, asyncio.CancelledError):
                await writer.wait_closed()

    def _respond(self, data: bytes, transport: str) -> tuple[bytes | None, bool]:
        """The reply to one message (None: send nothing), and whether it was well-formed.

        The message is logged before anything else can fail, so nothing received goes
        unrecorded (a name dnslib can parse but not encode again, over 255 octets, included)."""
        try:
            query = DNSRecord.parse(data)
            if query.header.qr or query.header.opcode != 0 or len(query.questions) != 1:
                raise ValueError("not a standard query with one question")
            name = str(query.q.qname).rstrip(".")
            rtype = QTYPE[query.q.qtype]
        except Exception:
            wire = _formerr(data)
            outcome = "FORMERR" if wire is not None else "no answer (not a query)"
            self.log.add(unreadable(transport, data, outcome))
            return wire, False
        event = DnsQuery(name, rtype, transport, "(being answered)", size=len(data))
        self.log.add(event)
        try:
            answer = self.zone.answer(name, rtype)
        except Exception as exc:  # a bad record value: fail this query visibly, keep serving
            answer, note = Answer("SERVFAIL"), f" (server error: {exc})"
        else:
            note = ""
        if answer.silent:
            event.outcome = "no answer (timeout)"
            return None, True
        if answer.truncated and transport == "tcp":
            event.outcome = "no answer over TCP (truncated over UDP)"
            return None, False
        try:
            reply = self._reply(query, answer, self.zone.wrong_question(name, rtype))
            wire, outcome = reply.pack(), _outcome(answer) + note
        except Exception as exc:  # e.g. a name too long to encode: a header-only answer
            wire = _header_only(data, RCODE.SERVFAIL)
            reply, outcome = None, f"SERVFAIL (the answer cannot be encoded: {exc})"
        if answer.truncated:
            outcome = "NOERROR truncated (TC), no records"
        elif answer.wrong_question:
            outcome += ", for another question"
        if transport == "udp" and reply is not None and wire is not None:
            opt = next((rr for rr in query.ar if rr.rtype == QTYPE.OPT), None)
            limit = max(_UDP_DEFAULT_LIMIT, opt.rclass) if opt is not None else _UDP_DEFAULT_LIMIT
            if len(wire) > limit:
                reply.rr, reply.auth = [], []
                reply.header.tc = 1
                wire = reply.pack()
                outcome += ", truncated"
        event.outcome = outcome
        return wire, True

    @staticmethod
    def _reply(query: DNSRecord, answer: Answer, wrong_question: bool = False) -> DNSRecord:
        rcode = getattr(RCODE, answer.rcode)
        header = DNSHeader(id=query.header.id, qr=1, aa=1, rd=query.header.rd, ra=0, rcode=rcode)
        header.tc = 1 if answer.truncated else 0
        question = query.q
        if wrong_question:  # the same answer, but for a name nobody asked about
            question = DNSQuestion(f"wrong-question.{question.qname}", question.qtype)
        reply = DNSRecord(header, q=question)
        for record in answer.records:
            rtype = getattr(QTYPE, record.rtype.upper())
            owner = f"wrong-question.{record.name}" if wrong_question else record.name
            reply.add_answer(RR(owner, rtype, rdata=_rdata(record), ttl=record.ttl))
        if answer.rcode == "NXDOMAIN" or (answer.rcode == "NOERROR" and not answer.records):
            reply.add_auth(_NEGATIVE_SOA)
        if any(rr.rtype == QTYPE.OPT for rr in query.ar):
            reply.add_ar(EDNS0(udp_len=_OUR_EDNS_PAYLOAD))
        return reply
