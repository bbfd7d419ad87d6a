"""The recording HTTPS sites log exactly what a client did, and behave as their spec says.

Covered, with real sockets and TLS against `SiteServer`s started directly: the Connection record
(site label, address, port, SNI or its absence for IP literals, handshake completed or refused
with a reason, plain HTTP, silent sites); the HttpRequest record (method, path and Host exactly as
sent, no Host at all); well-known behaviours (default 404, 200 body, custom status and headers,
hang, huge padded bodies read fully or abandoned); the federation answer naming its site; and a
clean `stop()` (prompt, no tasks left, ports free). Why: verdicts are computed from this log
alone, so a site that misrecords or misbehaves would turn a wrong resolver into a passing one.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import ssl
import time
from collections.abc import AsyncIterator

import pytest

from matrix_resolver_harness.https_server import (
    WELL_KNOWN_PATH,
    ListenerLayout,
    SiteServer,
    WellKnownBehaviour,
)
from matrix_resolver_harness.netns import bound_socket
from matrix_resolver_harness.observations import ObservationLog
from matrix_resolver_harness.pki import CertRequest

FED_PATH = "/_matrix/key/v2/server"
PORT = 8448


@pytest.fixture
def rt(conformance_runtime):
    return conformance_runtime


def raw(path: str, host: str | None = "origin.test", version: str = "1.1") -> bytes:
    host_line = "" if host is None else f"Host: {host}\r\n"
    close = "Connection: close\r\n" if version == "1.1" else ""
    return f"GET {path} HTTP/{version}\r\n{host_line}{close}\r\n".encode()


def parse(data: bytes) -> tuple[int, dict[str, str], bytes]:
    head, _, body = data.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, v in (h.split(":", 1) for h in header_lines)}
    return int(status_line.split()[1]), headers, body


async def connect(rt, address: str, hostname: str | None, tls: bool = True):
    ctx = ssl.create_default_context(cafile=rt.pki.ca_file) if tls else None
    return await asyncio.wait_for(
        asyncio.open_connection(address, PORT, ssl=ctx, server_hostname=hostname), 2.0
    )


async def fetch(rt, address: str, request: bytes, hostname="origin.test", tls=True):
    reader, writer = await connect(rt, address, hostname, tls)
    try:
        writer.write(request)
        return parse(await asyncio.wait_for(reader.read(), 5.0))
    finally:
        writer.close()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(writer.wait_closed(), 1.0)


async def until(predicate, timeout: float = 1.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "the server never recorded it"
        await asyncio.sleep(0.005)


async def disconnected(reader: asyncio.StreamReader) -> None:
    """Wait (a second at most) until the server has closed or reset the connection."""
    with contextlib.suppress(ConnectionError):
        await asyncio.wait_for(reader.read(), 1.0)


@contextlib.asynccontextmanager
async def serving(rt, *specs: ListenerLayout) -> AsyncIterator[ObservationLog]:
    """Start sites; on exit stop them and check nothing raised or was left behind."""
    loop = asyncio.get_running_loop()
    errors: list[dict] = []
    old_handler = loop.get_exception_handler()
    loop.set_exception_handler(lambda _loop, context: errors.append(context))
    log = ObservationLog()
    servers = [SiteServer(spec, rt.pki, log) for spec in specs]
    try:
        for server in servers:
            await server.start()
        yield log
        started = time.monotonic()
        await asyncio.gather(*(s.stop() for s in servers))
        assert time.monotonic() - started < 1.0, "stop() was slow"
        await asyncio.sleep(0)
        assert asyncio.all_tasks() == {asyncio.current_task()}
        for spec in specs:
            bound_socket(spec.address, spec.port).close()  # the listener is gone
        assert errors == []
    finally:
        await asyncio.gather(*(s.stop() for s in servers), return_exceptions=True)
        loop.set_exception_handler(old_handler)


def site(rt, names=("origin.test",), address: str | None = None, **kw) -> ListenerLayout:
    cert = None if names is None else CertRequest(names)
    return ListenerLayout(f"origin:{PORT}", address or rt.pool.v4(), PORT, cert, **kw)


def test_tls_request_is_recorded_as_sent(rt) -> None:
    spec = site(rt)
    other = ListenerLayout("target:8448", rt.pool.v4(), PORT, CertRequest(("target.test",)))

    async def body() -> None:
        async with serving(rt, other, spec) as log:  # only the site contacted records anything
            status, _, content = await fetch(rt, spec.address, raw(FED_PATH, "Origin.Test:8448"))
            assert status == 200
            assert json.loads(content)["answered_by"] == "origin:8448"
            (conn,) = log.connections()
            assert (conn.site, conn.address, conn.port) == ("origin:8448", spec.address, PORT)
            assert (conn.tls, conn.client_hello, conn.established) == (True, True, True)
            assert conn.sni == "origin.test" and conn.error is None
            (req,) = log.requests()
            assert req.connection is conn
            assert (req.method, req.path, req.status) == ("GET", FED_PATH, 200)
            assert req.host == "Origin.Test:8448"  # exactly as sent, case preserved

    rt.loop.run_until_complete(body())


def _hello_sent_before_accept(rt, address: str) -> ssl.SSLSocket:
    """A TLS client whose ClientHello is in the server's socket before the server accepts.

    Called on the loop's thread, so the site cannot accept until it returns: the kernel
    completes the TCP handshake and buffers the ClientHello meanwhile.
    """
    sock = socket.create_connection((address, PORT), timeout=2.0)
    ctx = ssl.create_default_context(cafile=rt.pki.ca_file)
    tls = ctx.wrap_socket(sock, server_hostname="origin.test", do_handshake_on_connect=False)
    tls.setblocking(False)
    with contextlib.suppress(ssl.SSLWantReadError):
        tls.do_handshake()  # sends the ClientHello, then would wait for the ServerHello
    return tls


def _finish(tls: ssl.SSLSocket) -> bytes:
    """Finish the handshake and one request (blocking, on a worker thread)."""
    with tls:
        tls.settimeout(2.0)
        tls.do_handshake()
        tls.sendall(raw(FED_PATH))
        data = b""
        while chunk := tls.recv(65536):
            data += chunk
        return data


def test_client_hello_buffered_before_accept_is_not_lost(rt) -> None:
    """Early ClientHellos (here several at once) all reach the TLS side (CPython 3.10 once
    dropped them: a plain transport read them before the TLS protocol took over)."""
    spec = site(rt)

    async def body() -> None:
        async with serving(rt, spec) as log:
            clients = [_hello_sent_before_accept(rt, spec.address) for _ in range(8)]
            answers = await asyncio.gather(*(asyncio.to_thread(_finish, c) for c in clients))
            assert [parse(a)[0] for a in answers] == [200] * len(clients)
            conns = log.connections()
            assert len(conns) == len(clients)
            assert all(c.established and c.sni == "origin.test" for c in conns)

    rt.loop.run_until_complete(body())


@pytest.mark.parametrize("family", ["v4", "v6"])
def test_ip_literal_client_sends_no_sni(rt, family: str) -> None:
    if family == "v6" and not rt.network.ipv6:
        pytest.skip(f"no IPv6 test addresses: {rt.network.describe()}")
    address = rt.pool.v4() if family == "v4" else rt.pool.v6()
    spec = site(rt, (address,), address)

    async def body() -> None:
        async with serving(rt, spec) as log:
            status, _, _ = await fetch(rt, address, raw(FED_PATH, address), hostname=address)
            assert status == 200
            (conn,) = log.connections()
            assert conn.address == address and conn.sni is None
            assert conn.client_hello and conn.established
            assert log.requests()[0].host == address

    rt.loop.run_until_complete(body())


def test_http10_request_without_host_records_none(rt) -> None:
    spec = site(rt)

    async def body() -> None:
        async with serving(rt, spec) as log:
            status, _, _ = await fetch(rt, spec.address, raw("/some/path?x=1", None, "1.0"))
            assert status == 200
            (req,) = log.requests()
            assert (req.method, req.path, req.host) == ("GET", "/some/path?x=1", None)
            assert "no Host header" in req.describe()

    rt.loop.run_until_complete(body())


def test_refused_certificate_leaves_a_failed_handshake(rt) -> None:
    spec = site(rt)

    async def body() -> None:
        async with serving(rt, spec) as log:
            with pytest.raises(ssl.SSLCertVerificationError):
                await connect(rt, spec.address, "other.test")
            (conn,) = log.connections()
            await until(lambda: conn.error is not None)
            assert conn.client_hello and conn.sni == "other.test" and not conn.established
            assert isinstance(conn.error, str) and conn.error
            assert log.requests() == []

    rt.loop.run_until_complete(body())


def test_plain_http_site_records_no_tls(rt) -> None:
    spec = site(rt, None)

    async def body() -> None:
        async with serving(rt, spec) as log:
            status, _, _ = await fetch(rt, spec.address, raw(FED_PATH), None, tls=False)
            assert status == 200
            (conn,) = log.connections()
            assert not conn.tls and not conn.client_hello and conn.sni is None
            assert "plain TCP" in conn.describe()
            assert log.requests()[0].connection is conn

    rt.loop.run_until_complete(body())


def test_silent_site_accepts_and_never_answers(rt) -> None:
    spec = site(rt, silent=True)

    async def body() -> None:
        async with serving(rt, spec) as log:
            reader, writer = await connect(rt, spec.address, None, tls=False)
            writer.write(raw(FED_PATH))
            with pytest.raises(asyncio.TimeoutError):
                await asyncio.wait_for(reader.read(1), 0.2)
            with pytest.raises(asyncio.TimeoutError):  # nor does it ever finish a handshake
                await asyncio.wait_for(connect(rt, spec.address, "origin.test"), 0.2)
            assert len(log.connections()) == 2
            assert all("silent" in (c.error or "") for c in log.connections())
            assert all(not c.client_hello for c in log.connections())
            assert log.requests() == []
        await disconnected(reader)  # stop() closed the connection the client kept open
        writer.close()

    rt.loop.run_until_complete(body())


DELEGATION = '{"m.server": "t.test:443"}'
ELSEWHERE = "https://Elsewhere.test/x"
MOVED = WellKnownBehaviour(302, "", (("Location", ELSEWHERE),))
BEHAVIOURS = {
    "default-404": (WellKnownBehaviour(), 404, ("content-type", "application/json"), b"NOT_FOUND"),
    "200-body": (WellKnownBehaviour(200, DELEGATION), 200, None, DELEGATION.encode()),
    "302-location": (MOVED, 302, ("location", ELSEWHERE), b""),
}


@pytest.mark.parametrize(
    ("behaviour", "status", "header", "content"), BEHAVIOURS.values(), ids=BEHAVIOURS.keys()
)
def test_well_known_behaviours(rt, behaviour, status, header, content) -> None:
    spec = site(rt, well_known=behaviour)

    async def body() -> None:
        async with serving(rt, spec) as log:
            got_status, headers, got = await fetch(rt, spec.address, raw(WELL_KNOWN_PATH))
            assert got_status == status
            assert content in got if content else got == b""
            if header is not None:
                assert headers[header[0]] == header[1]
            (req,) = log.requests()
            assert (req.path, req.status) == (WELL_KNOWN_PATH, status)

    rt.loop.run_until_complete(body())


def test_hanging_well_known_never_answers_and_stops_promptly(rt) -> None:
    spec = site(rt, well_known=WellKnownBehaviour(200, "{}", hang=True))

    async def body() -> None:
        async with serving(rt, spec) as log:
            reader, writer = await connect(rt, spec.address, "origin.test")
            writer.write(raw(WELL_KNOWN_PATH))
            with pytest.raises(asyncio.TimeoutError):
                await asyncio.wait_for(reader.read(1), 0.2)
            (req,) = log.requests()
            assert req.status == 0  # read, never answered
            # the client is still connected: serving() times stop() and checks it cleaned up
        await disconnected(reader)
        writer.close()

    rt.loop.run_until_complete(body())


def test_padded_well_known_streams_the_whole_body(rt) -> None:
    size = 5_000_000
    spec = site(rt, well_known=WellKnownBehaviour(200, DELEGATION, pad_to=size))

    async def body() -> None:
        async with serving(rt, spec):
            status, headers, got = await fetch(rt, spec.address, raw(WELL_KNOWN_PATH))
            assert status == 200
            assert int(headers["content-length"]) == size
            assert len(got) == size
            assert got.startswith(DELEGATION.encode()) and got.rstrip(b" ") == DELEGATION.encode()

    rt.loop.run_until_complete(body())


@pytest.mark.parametrize("client", ["closes", "stalls"])
def test_abandoned_padded_body_neither_raises_nor_hangs(rt, client: str) -> None:
    spec = site(rt, well_known=WellKnownBehaviour(200, "{}", pad_to=5_000_000))

    async def body() -> None:
        async with serving(rt, spec) as log:
            reader, writer = await connect(rt, spec.address, "origin.test")
            writer.write(raw(WELL_KNOWN_PATH))
            await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 2.0)
            await asyncio.wait_for(reader.readexactly(64 * 1024), 2.0)
            if client == "closes":
                writer.close()
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(writer.wait_closed(), 1.0)
            await asyncio.sleep(0.05)  # the server runs into the closed (or full) socket
            assert log.requests()[0].status == 200
        writer.close()  # "stalls": stop() above ran with the client still connected

    rt.loop.run_until_complete(body())
