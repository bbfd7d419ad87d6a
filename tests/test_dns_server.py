"""The fake DNS server answers like an authoritative server and logs exactly what it was asked."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
from collections.abc import AsyncIterator, Awaitable, Callable

import dns.asyncquery
import dns.asyncresolver
import dns.exception
import dns.flags
import dns.message
import dns.rcode
import dns.rdatatype
import dns.resolver
import pytest

from matrix_resolver_harness.dns_server import Answer, DnsServer, Record, Zone
from matrix_resolver_harness.observations import ObservationLog

HOST = "127.0.0.1"
TIMEOUT = 1.0


def make_zone() -> Zone:
    return Zone(
        records=[
            Record("origin.test", "A", "127.0.0.10"),
            Record("origin.test.", "AAAA", "fd00::10", ttl=30),
            Record("_matrix-fed._tcp.origin.test", "SRV", "10 5 8448 target.test."),
            Record("_matrix-fed._tcp.nosrv.test", "SRV", "0 0 0 ."),
            Record("target.test", "A", "127.0.0.11"),
            Record("alias.test", "CNAME", "Alias2.test"),
            Record("alias2.test", "CNAME", "origin.test"),
            Record("loop1.test", "CNAME", "loop2.test"),
            Record("loop2.test", "CNAME", "loop1.test"),
            Record("outside.test", "CNAME", "elsewhere.example"),
            Record("to-fail.test", "CNAME", "fail.test"),
            Record("fail.test", "A", "127.0.0.12"),
            Record("half.test", "A", "127.0.0.13"),
            Record("half.test", "AAAA", "fd00::13"),
            Record("quiet.test", "A", "127.0.0.14"),
            *[Record("big.test", "A", f"127.0.1.{i}") for i in range(40)],
        ],
        servfail={"fail.test", "half.test AAAA"},
        silent={"quiet.test"},
    )


@contextlib.asynccontextmanager
async def serving(zone: Zone | None = None) -> AsyncIterator[tuple[DnsServer, ObservationLog]]:
    log = ObservationLog()
    server = DnsServer(zone or make_zone(), log, HOST, 0)
    await server.start()
    try:
        yield server, log
    finally:
        await server.stop()


def run_with_server(body: Callable[[DnsServer, ObservationLog], Awaitable[None]]) -> None:
    """Plain async tests are unavailable here: run each body in its own event loop."""

    async def main() -> None:
        async with serving() as (server, log):
            await body(server, log)

    asyncio.run(main())


async def udp(server: DnsServer, name: str, rtype: str, **kw: object) -> dns.message.Message:
    query = dns.message.make_query(name, rtype, **kw)  # type: ignore[arg-type]  # kw: its flags
    return await dns.asyncquery.udp(query, HOST, timeout=TIMEOUT, port=server.address[1])


async def tcp(server: DnsServer, name: str, rtype: str) -> dns.message.Message:
    query = dns.message.make_query(name, rtype)
    return await dns.asyncquery.tcp(query, HOST, timeout=TIMEOUT, port=server.address[1])


def texts(response: dns.message.Message) -> list[str]:
    return [f"{rrset.name} {dns.rdatatype.to_text(rrset.rdtype)} {rr}" for rrset in
            response.answer for rr in rrset]  # fmt: skip


# --- Zone.answer, no I/O -------------------------------------------------------------------------


def test_zone_answer_semantics() -> None:
    zone = make_zone()
    assert zone.answer("ORIGIN.test.", "a") == Answer(
        "NOERROR", [Record("ORIGIN.test", "A", "127.0.0.10")]
    )
    chain = zone.answer("Alias.TEST", "A")
    assert [(r.name, r.rtype, r.value) for r in chain.records] == [
        ("Alias.TEST", "CNAME", "Alias2.test"),
        ("alias2.test", "CNAME", "origin.test"),
        ("origin.test", "A", "127.0.0.10"),
    ]
    assert zone.answer("alias.test", "CNAME").records == [
        Record("alias.test", "CNAME", "Alias2.test")
    ]
    assert len(zone.answer("loop1.test", "A").records) == 2
    assert zone.answer("outside.test", "A").rcode == "NOERROR"
    # The chain stops before a target meant to fail, so the client's own query meets the failure.
    assert [r.rtype for r in zone.answer("to-fail.test", "A").records] == ["CNAME"]
    assert zone.answer("nowhere.test", "A") == Answer("NXDOMAIN", [])
    assert zone.answer("_tcp.origin.test", "SRV") == Answer("NOERROR", [])
    assert zone.answer("test", "A") == Answer("NOERROR", [])
    assert zone.answer("target.test", "TXT") == Answer("NOERROR", [])
    assert zone.answer("half.test", "A").rcode == "NOERROR"
    assert zone.answer("half.test", "aaaa").rcode == "SERVFAIL"
    assert zone.answer("quiet.test", "SRV").silent


def test_record_rejects_bad_config() -> None:
    with pytest.raises(ValueError):
        Record("x.test", "TXT", "hello")
    with pytest.raises(ValueError):
        Record("x.test", "SRV", "10 5 target.test")


# --- on the wire ---------------------------------------------------------------------------------


def test_address_records_and_flags() -> None:
    async def body(server: DnsServer, log: ObservationLog) -> None:
        a = await udp(server, "Origin.Test", "A")
        assert a.rcode() == dns.rcode.NOERROR
        assert texts(a) == ["Origin.Test. A 127.0.0.10"]
        assert a.flags & dns.flags.AA and a.flags & dns.flags.QR and a.flags & dns.flags.RD
        assert not a.flags & dns.flags.RA
        aaaa = await udp(server, "origin.test", "AAAA")
        assert texts(aaaa) == ["origin.test. AAAA fd00::10"] and aaaa.answer[0].ttl == 30

    run_with_server(body)


def test_srv_records() -> None:
    async def body(server: DnsServer, log: ObservationLog) -> None:
        srv = await udp(server, "_matrix-fed._tcp.origin.test", "SRV")
        assert texts(srv) == ["_matrix-fed._tcp.origin.test. SRV 10 5 8448 target.test."]
        dot = await tcp(server, "_matrix-fed._tcp.nosrv.test", "SRV")
        assert texts(dot) == ["_matrix-fed._tcp.nosrv.test. SRV 0 0 0 ."]

    run_with_server(body)


def test_cname_chain_and_loop() -> None:
    async def body(server: DnsServer, log: ObservationLog) -> None:
        chain = await udp(server, "alias.test", "A")
        assert texts(chain) == [
            "alias.test. CNAME Alias2.test.",
            "alias2.test. CNAME origin.test.",
            "origin.test. A 127.0.0.10",
        ]
        resolver = dns.asyncresolver.Resolver(configure=False)
        resolver.nameservers, resolver.port, resolver.lifetime = [HOST], server.address[1], TIMEOUT
        result = await resolver.resolve("alias.test", "A")
        assert [rr.address for rr in result] == ["127.0.0.10"]
        loop = await udp(server, "loop1.test", "A")
        assert loop.rcode() == dns.rcode.NOERROR and len(texts(loop)) == 2

    run_with_server(body)


def test_negative_answers() -> None:
    async def body(server: DnsServer, log: ObservationLog) -> None:
        nx = await udp(server, "nowhere.test", "A")
        assert nx.rcode() == dns.rcode.NXDOMAIN and not nx.answer and nx.authority
        nodata = await udp(server, "target.test", "AAAA")
        assert nodata.rcode() == dns.rcode.NOERROR and not nodata.answer and nodata.authority
        ent = await udp(server, "_tcp.origin.test", "SRV")
        assert ent.rcode() == dns.rcode.NOERROR and not ent.answer
        for name, rtype in [("fail.test", "A"), ("fail.test", "SRV"), ("half.test", "AAAA")]:
            assert (await udp(server, name, rtype)).rcode() == dns.rcode.SERVFAIL
        assert (await udp(server, "half.test", "A")).answer

    run_with_server(body)


def test_silent_name_times_out() -> None:
    async def body(server: DnsServer, log: ObservationLog) -> None:
        query = dns.message.make_query("quiet.test", "A")
        with pytest.raises(dns.exception.Timeout):
            await dns.asyncquery.udp(query, HOST, timeout=0.2, port=server.address[1])
        assert log.dns_queries()[-1].outcome == "no answer (timeout)"

    run_with_server(body)


def test_truncation_then_tcp_retry() -> None:
    async def body(server: DnsServer, log: ObservationLog) -> None:
        truncated = await udp(server, "big.test", "A")
        assert truncated.flags & dns.flags.TC and not truncated.answer
        # A large enough EDNS0 payload lifts the 512-byte limit, and the reply carries an OPT.
        edns = await udp(server, "big.test", "A", use_edns=0, payload=1232)
        assert not edns.flags & dns.flags.TC and len(texts(edns)) == 40 and edns.edns == 0
        resolver = dns.asyncresolver.Resolver(configure=False)
        resolver.nameservers, resolver.port, resolver.lifetime = [HOST], server.address[1], TIMEOUT
        result = await resolver.resolve("big.test", "A")
        assert len(result) == 40
        assert [(q.transport, q.outcome) for q in log.dns_queries()] == [
            ("udp", "NOERROR 40 answers, truncated"),
            ("udp", "NOERROR 40 answers"),
            ("udp", "NOERROR 40 answers, truncated"),
            ("tcp", "NOERROR 40 answers"),
        ]

    run_with_server(body)


def frame(message: bytes) -> bytes:
    return struct.pack("!H", len(message)) + message


async def read_frame(reader: asyncio.StreamReader) -> bytes:
    size = struct.unpack("!H", await reader.readexactly(2))[0]
    return await reader.readexactly(size)


def test_tcp_two_queries_one_connection_with_partial_writes() -> None:
    async def body(server: DnsServer, log: ObservationLog) -> None:
        reader, writer = await asyncio.open_connection(*server.address)
        first = frame(dns.message.make_query("origin.test", "A").to_wire())
        second = frame(dns.message.make_query("target.test", "A").to_wire())
        for chunk in (first[:1], first[1:7], first[7:] + second[:3], second[3:]):
            writer.write(chunk)
            await writer.drain()
            await asyncio.sleep(0.01)
        answers = [dns.message.from_wire(await read_frame(reader)) for _ in range(2)]
        assert [texts(m) for m in answers] == [
            ["origin.test. A 127.0.0.10"],
            ["target.test. A 127.0.0.11"],
        ]
        writer.close()
        await writer.wait_closed()

    run_with_server(body)


def test_log_records_each_query_in_order() -> None:
    async def body(server: DnsServer, log: ObservationLog) -> None:
        await udp(server, "Origin.Test.", "A")
        await tcp(server, "_matrix-fed._tcp.origin.test", "SRV")
        await udp(server, "nowhere.test", "AAAA")
        await tcp(server, "target.test", "AAAA")
        await udp(server, "fail.test", "A")
        assert [(q.name, q.rtype, q.transport, q.outcome) for q in log.dns_queries()] == [
            ("Origin.Test", "A", "udp", "NOERROR 1 answer"),
            ("_matrix-fed._tcp.origin.test", "SRV", "tcp", "NOERROR 1 answer"),
            ("nowhere.test", "AAAA", "udp", "NXDOMAIN"),
            ("target.test", "AAAA", "tcp", "NOERROR no data"),
            ("fail.test", "A", "udp", "SERVFAIL"),
        ]

    run_with_server(body)


def test_malformed_packets_do_not_crash() -> None:
    async def body(server: DnsServer, log: ObservationLog) -> None:
        loop = asyncio.get_running_loop()
        replies: asyncio.Queue[bytes] = asyncio.Queue()

        class Client(asyncio.DatagramProtocol):
            def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
                replies.put_nowait(data)

        transport, _ = await loop.create_datagram_endpoint(Client, remote_addr=server.address)
        transport.sendto(b"\x00")  # not even an id: dropped
        transport.sendto(b"\xab\xcd\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\xff\xff")
        formerr = dns.message.from_wire(await asyncio.wait_for(replies.get(), TIMEOUT))
        assert formerr.id == 0xABCD and formerr.rcode() == dns.rcode.FORMERR
        transport.close()
        assert replies.empty()

        reader, writer = await asyncio.open_connection(*server.address)
        writer.write(frame(b"\x12\x34garbage"))
        assert dns.message.from_wire(await read_frame(reader)).rcode() == dns.rcode.FORMERR
        assert await reader.read() == b""  # the server hung up after the garbage
        writer.close()
        assert texts(await udp(server, "origin.test", "A"))  # still serving
        unread = [(q.readable, q.size, q.outcome) for q in log.dns_queries()[:3]]
        assert unread == [
            (False, 1, "no answer (not a query)"),  # logged although not even answerable
            (False, 14, "FORMERR"),
            (False, 9, "FORMERR"),
        ]
        assert [c.site for c in log.connections()] == ["dns"]  # the TCP connection itself

    run_with_server(body)


def test_stop_leaves_no_task_and_frees_the_port() -> None:
    async def main() -> int:
        server = DnsServer(make_zone(), ObservationLog(), HOST, 0)
        await server.start()
        host, port = server.address
        assert port != 0
        _, writer = await asyncio.open_connection(host, port)  # an idle client connection
        await asyncio.sleep(0.01)
        await server.stop()
        assert asyncio.all_tasks() - {asyncio.current_task()} == set()
        writer.close()
        return port

    port = asyncio.run(main())
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u:
        u.bind((HOST, port))
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as t:
        t.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        t.bind((HOST, port))
        t.listen()


def test_ipv6_host() -> None:
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as probe:
            probe.bind(("::1", 0))
    except OSError:
        pytest.skip("no IPv6 loopback")

    async def main() -> None:
        server = DnsServer(make_zone(), ObservationLog(), "::1", 0)
        await server.start()
        try:
            query = dns.message.make_query("origin.test", "AAAA")
            port = server.address[1]
            for send in (dns.asyncquery.udp, dns.asyncquery.tcp):
                reply = await send(query, "::1", timeout=TIMEOUT, port=port)
                assert texts(reply) == ["origin.test. AAAA fd00::10"]
        finally:
            await server.stop()

    asyncio.run(main())


@pytest.mark.parametrize("fault", ["SERVFAIL", "NOTIMP", "REFUSED", "FORMERR", "TRUNCATED"])
def test_faults_fail_the_query_promptly(fault: str) -> None:
    """Each fault makes the reference's DNS client report a failed lookup (not 'not found'),
    without waiting for a timeout."""
    from matrix_resolver_conformance.reference.dns_client import DnsClient, DnsLookupError

    zone = Zone(
        records=[Record("_matrix-fed._tcp.f.test", "SRV", "10 0 8448 t.test.")],
        faults={"_matrix-fed._tcp.f.test SRV": fault},
    )

    async def run() -> None:
        async with serving(zone) as (server, _):
            client = DnsClient(server.address, TIMEOUT)
            started = asyncio.get_running_loop().time()
            with pytest.raises(DnsLookupError):
                await client.srv("_matrix-fed._tcp.f.test")
            assert asyncio.get_running_loop().time() - started < TIMEOUT / 2

    asyncio.run(run())


@pytest.mark.parametrize("fault", ["SILENT", "WRONG-QUESTION"])
def test_one_unanswered_family_costs_only_the_resolution_delay(fault: str) -> None:
    """A family that never answers (or answers another question) gives way to the other after
    RESOLUTION_DELAY, not after the whole timeout; a mismatched reply is never used."""
    from matrix_resolver_conformance.reference.dns_client import RESOLUTION_DELAY, DnsClient

    zone = Zone(
        records=[Record("h.test", "A", "127.0.0.20"), Record("h.test", "AAAA", "fd00::20")],
        faults={"h.test AAAA": fault},
    )

    async def run() -> None:
        async with serving(zone) as (server, _):
            client = DnsClient(server.address, TIMEOUT)
            started = asyncio.get_running_loop().time()
            assert await client.addresses("h.test") == ["127.0.0.20"]
            elapsed = asyncio.get_running_loop().time() - started
            assert RESOLUTION_DELAY * 0.9 < elapsed < TIMEOUT * 0.75
            assert not [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]

    asyncio.run(run())
