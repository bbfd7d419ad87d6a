"""The reference's HTTPS client closes every connection, whoever closes first, and frees it.

Covered, with real TLS on loopback: a server that closes first (its close_notify reaches the
client before the client closes; CPython 3.11.2 then raised AttributeError from the client's
`abort()`), and a server that never answers the client's close_notify (the client must still drop
the socket, promptly). Why: `https_get` is the reference's and `request_by_plan`'s only way out.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
import threading
import time

import pytest

from matrix_resolver_conformance.wire.https_client import CLOSE_TIMEOUT, https_get
from matrix_resolver_harness.netns import bound_socket
from matrix_resolver_harness.pki import CertRequest

PORT = 8448
CERT = CertRequest(("origin.test",))


@pytest.fixture
def rt(conformance_runtime):
    return conformance_runtime


async def get(rt, address: str):
    return await https_get(
        address,
        PORT,
        tls_name="origin.test",
        host_header="origin.test",
        path="/x",
        ssl_context=ssl.create_default_context(cafile=rt.pki.ca_file),
        timeout=2.0,
    )


def test_server_that_closes_first(rt) -> None:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nbody")  # ends at close
        writer.close()

    async def body() -> None:
        ctx = rt.pki.server_context(CERT)
        listener = bound_socket(rt.pool.v4(), PORT)
        server = await asyncio.start_server(handle, sock=listener, ssl=ctx)
        try:
            # The body ends at the server's close_notify, so the client's transport is already
            # closing when the client closes it.
            response = await get(rt, listener.getsockname()[0])
            assert (response.status, response.body) == (200, b"body")
        finally:
            server.close()
            await server.wait_closed()

    rt.loop.run_until_complete(body())


def _mute_server(listener: socket.socket, ctx: ssl.SSLContext, dropped: list[float]) -> None:
    """Answer one request over TLS, then never answer close_notify: read raw TCP until the
    client drops the connection, and note when."""
    listener.setblocking(True)
    listener.settimeout(5.0)
    conn, _ = listener.accept()
    with conn:
        conn.settimeout(5.0)
        incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
        tls = ctx.wrap_bio(incoming, outgoing, server_side=True)

        def step(operation) -> bytes:
            while True:
                try:
                    return operation()
                except ssl.SSLWantReadError:
                    conn.sendall(outgoing.read())
                    data = conn.recv(65536)
                    if not data:
                        raise ConnectionError("client left early") from None
                    incoming.write(data)

        step(tls.do_handshake)
        request = b""
        while b"\r\n\r\n" not in request:
            request += step(lambda: tls.read(65536))
        tls.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
        conn.sendall(outgoing.read())
        try:
            while conn.recv(65536):  # the client's close_notify, never answered
                pass
        except ConnectionResetError:
            pass
        except TimeoutError:
            return  # still connected after 5 s
        dropped.append(time.monotonic())


def test_peer_that_never_answers_close_notify_is_dropped(rt) -> None:
    async def body() -> None:
        listener = bound_socket(rt.pool.v4(), PORT)
        listener.listen(1)
        dropped: list[float] = []
        args = (listener, rt.pki.server_context(CERT), dropped)
        thread = threading.Thread(target=_mute_server, args=args, daemon=True)
        thread.start()
        try:
            response = await get(rt, listener.getsockname()[0])
            returned = time.monotonic()
            assert (response.status, response.body) == (200, b"ok")
            await asyncio.to_thread(thread.join, 6.0)
        finally:
            listener.close()
        assert dropped, "the client kept the connection open"
        assert dropped[0] - returned < CLOSE_TIMEOUT  # https_get returned with it already gone

    rt.loop.run_until_complete(body())
