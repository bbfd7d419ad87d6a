"""A World turns a description into a running fake internet on fresh addresses, and tears it down.

Covered: `${label.v4}` / `${label.v6}` templates are rendered with the world's own addresses (and
an unknown host or family is a KeyError, not a silent empty string); every world gets addresses
no other world has; the world's DNS server answers a real dnspython query with a rendered record
and logs it; a site's certificate names are rendered, so a client verifying the IP literal
succeeds; a world needing IPv6 where there is none is WorldUnavailable; `stop()` frees every port
and leaves no task; AddressPool and worker_index keep xdist workers apart. Why: every scenario is
built this way, and a template left unrendered or an address reused would silently test nothing.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import ssl

import dns.asyncquery
import dns.message
import dns.rcode
import pytest

from matrix_resolver_harness.addresses import AddressPool, worker_index
from matrix_resolver_harness.dns_server import Record
from matrix_resolver_harness.netns import IPV6_PREFIX, NetworkSetup, bound_socket
from matrix_resolver_harness.pki import CertRequest
from matrix_resolver_harness.world import (
    HostLayout,
    SiteLayout,
    World,
    WorldLayout,
    WorldUnavailable,
)


@pytest.fixture
def rt(conformance_runtime):
    return conformance_runtime


def make_spec(ipv6: bool) -> WorldLayout:
    return WorldLayout(
        hosts=(HostLayout("origin"), HostLayout("target", v4=True, v6=ipv6)),
        records=(
            Record("origin.test", "A", "${origin.v4}"),
            Record("target.test", "A", "${target.v4}"),
            *((Record("target.test", "AAAA", "${target.v6}"),) if ipv6 else ()),
            Record("_matrix-fed._tcp.origin.test", "SRV", "10 0 8448 target.test"),
        ),
        sites=(
            SiteLayout("target", 8448, CertRequest(("target.test", "${target.v4}"))),
            SiteLayout("origin", 8448, None),
        ),
    )


def all_addresses(world: World) -> set[str]:
    return {a for fam in world.addresses.values() for a in fam.values()} | {world.dns_server[0]}


def test_render_substitutes_and_rejects_unknown(rt) -> None:
    async def body() -> None:
        async with World(make_spec(rt.network.ipv6), rt.pki, rt.pool, rt.network) as world:
            v4 = world.addresses["origin"]["v4"]
            assert world.render("https://${origin.v4}:8448/") == f"https://{v4}:8448/"
            assert world.render("no templates ${here") == "no templates ${here"
            both = world.render("${origin.v4} ${target.v4}").split()
            assert both == [v4, world.addresses["target"]["v4"]] and both[0] != both[1]
            if rt.network.ipv6:
                v6 = world.render("[${target.v6}]")[1:-1]
                assert ipaddress.ip_address(v6) in ipaddress.ip_network(f"{IPV6_PREFIX}::/32")
            with pytest.raises(KeyError, match="nobody"):
                world.render("${nobody.v4}")
            with pytest.raises(KeyError, match="origin"):
                world.render("${origin.v6}")  # origin has no IPv6 address

    rt.loop.run_until_complete(body())


def test_addresses_are_fresh_per_world(rt) -> None:
    async def body() -> None:
        spec = make_spec(rt.network.ipv6)
        async with (
            World(spec, rt.pki, rt.pool, rt.network) as one,
            World(spec, rt.pki, rt.pool, rt.network) as two,
        ):
            a, b = all_addresses(one), all_addresses(two)
            assert len(a) == 3 + rt.network.ipv6 == len(b)  # distinct within each world
            assert a.isdisjoint(b)

    rt.loop.run_until_complete(body())


def test_dns_answers_rendered_record_and_logs_query(rt) -> None:
    async def body() -> None:
        async with World(make_spec(rt.network.ipv6), rt.pki, rt.pool, rt.network) as world:
            host, port = world.dns_server
            query = dns.message.make_query("Origin.Test", "A")
            reply = await dns.asyncquery.udp(query, host, port=port, timeout=2.0)
            assert reply.rcode() == dns.rcode.NOERROR
            (rrset,) = reply.answer
            assert [r.address for r in rrset] == [world.addresses["origin"]["v4"]]
            (logged,) = world.log.dns_queries()
            assert (logged.name, logged.rtype, logged.transport) == ("Origin.Test", "A", "udp")
            assert logged.outcome == "NOERROR 1 answer"
            if rt.network.ipv6:
                reply = await dns.asyncquery.tcp(
                    dns.message.make_query("target.test", "AAAA"), host, port=port, timeout=2.0
                )
                # compared as addresses: the pool spells worker 0's prefix "fd00:5e:0::"
                want = ipaddress.ip_address(world.addresses["target"]["v6"])
                assert [ipaddress.ip_address(r.address) for r in reply.answer[0]] == [want]

    rt.loop.run_until_complete(body())


def test_site_certificate_names_are_rendered(rt) -> None:
    async def body() -> None:
        async with World(make_spec(rt.network.ipv6), rt.pki, rt.pool, rt.network) as world:
            ip = world.addresses["target"]["v4"]
            ctx = ssl.create_default_context(cafile=world.ca_file)
            reader, writer = await asyncio.wait_for(
                asyncio.open_connection(ip, 8448, ssl=ctx, server_hostname=ip), 2.0
            )
            writer.write(f"GET /x HTTP/1.0\r\nHost: {ip}\r\n\r\n".encode())
            data = await asyncio.wait_for(reader.read(), 2.0)
            writer.close()
            assert data.startswith(b"HTTP/1.0 200") or data.startswith(b"HTTP/1.1 200")
            conn = world.log.connections()[0]
            assert (conn.site, conn.address, conn.sni) == ("target:8448", ip, None)
            assert conn.established

    rt.loop.run_until_complete(body())


def test_world_needing_ipv6_without_it_is_unavailable(rt) -> None:
    spec = WorldLayout(hosts=(HostLayout("v6only", v4=False, v6=True),))
    no_v6 = NetworkSetup(private=False, ipv6=False, detail="test")

    async def body() -> None:
        world = World(spec, rt.pki, rt.pool, no_v6)
        with pytest.raises(WorldUnavailable, match="IPv6"):
            await world.start()
        await world.stop()  # harmless after a failed start
        assert world.addresses == {}

    rt.loop.run_until_complete(body())


def test_stop_frees_every_port_and_leaves_no_task(rt) -> None:
    async def body() -> None:
        world = World(make_spec(rt.network.ipv6), rt.pki, rt.pool, rt.network)
        await world.start()
        bound = [(a, 8448) for fam in world.addresses.values() for a in fam.values()]
        dns_host, dns_port = world.dns_server
        with pytest.raises(OSError):  # sanity: a running world does hold its ports
            bound_socket(*bound[0]).close()
        # leave a TCP client connected to a site and to the DNS server: stop() must close them
        _, site_writer = await asyncio.open_connection(*bound[0])
        _, dns_writer = await asyncio.open_connection(dns_host, dns_port)
        await asyncio.sleep(0.01)
        await asyncio.wait_for(world.stop(), 1.0)
        await asyncio.sleep(0)
        assert asyncio.all_tasks() == {asyncio.current_task()}
        for address, port in bound:
            with bound_socket(address, port) as sock:
                sock.listen()
        bound_socket(dns_host, dns_port).close()
        bound_socket(dns_host, dns_port, socket.SOCK_DGRAM).close()
        site_writer.close()
        dns_writer.close()
        await world.stop()  # idempotent

    rt.loop.run_until_complete(body())


def test_address_pool_never_repeats_and_separates_workers() -> None:
    pools = [AddressPool(worker=w) for w in (0, 1, 7)]
    draws = [[p.v4() for _ in range(1000)] for p in pools]
    draws6 = [[p.v6() for _ in range(1000)] for p in pools]
    for v4s, v6s in zip(draws, draws6, strict=True):
        assert len(set(v4s)) == 1000, "an IPv4 address repeated within 1000 draws"
        assert len(set(v6s)) == 1000, "an IPv6 address repeated within 1000 draws"
        assert all(ipaddress.ip_address(a).is_loopback for a in v4s)
        net6 = ipaddress.ip_network(f"{IPV6_PREFIX}::/32")
        assert all(ipaddress.ip_address(a) in net6 for a in v6s)
    sets = [set(v4) | set(v6) for v4, v6 in zip(draws, draws6, strict=True)]
    assert sets[0].isdisjoint(sets[1]) and sets[0].isdisjoint(sets[2])
    assert sets[1].isdisjoint(sets[2])
    with pytest.raises(ValueError):
        AddressPool(worker=200)


def test_worker_index_reads_xdist_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PYTEST_XDIST_WORKER", "gw3")
    assert worker_index() == 3
    assert AddressPool().worker == 3
    assert AddressPool().v4().startswith("127.19.")
    monkeypatch.setenv("PYTEST_XDIST_WORKER", "gw12")
    assert worker_index() == 12
    monkeypatch.setenv("PYTEST_XDIST_WORKER", "master")
    assert worker_index() == 0
    monkeypatch.delenv("PYTEST_XDIST_WORKER")
    assert worker_index() == 0
