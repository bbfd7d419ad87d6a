"""Fake HTTPS servers that record every connection, handshake and request (aiohttp for HTTP).

Each listening site accepts TCP itself and gives every accepted socket to asyncio with a TLS
context made for that one connection (`loop.connect_accepted_socket(ssl=...)`), so the SNI
callback, the handshake's outcome and the requests are attributed to the exact connection,
including handshakes a client aborts because it refused the certificate. Requests are handled
by aiohttp's low-level server.

Why not a plain server plus `loop.start_tls`: the plain transport starts reading before
`start_tls` takes over, and CPython 3.10 ignores `pause_reading()` in `connection_made` (its
transport adds the reader afterwards regardless), so an early ClientHello could be read by the
plain side and lost. Here the TLS protocol is the socket's first and only reader.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl
from dataclasses import dataclass, field
from functools import partial

from aiohttp import web

from matrix_resolver_harness.netns import SocketFactory, bound_socket
from matrix_resolver_harness.observations import (
    RAW_PREFIX,
    Connection,
    HttpRequest,
    ObservationLog,
)
from matrix_resolver_harness.pki import CertificateAuthority, CertRequest

WELL_KNOWN_PATH = "/.well-known/matrix/server"
_CHUNK = 64 * 1024
TLS_HANDSHAKE = b"\x16"  # the first byte of every TLS ClientHello record


async def _peek(sock: socket.socket) -> bytes:
    """The client's first bytes, left in the socket (b"" when it closed without any)."""
    loop = asyncio.get_running_loop()
    readable: asyncio.Future[None] = loop.create_future()

    def ready() -> None:
        if not readable.done():
            readable.set_result(None)

    loop.add_reader(sock.fileno(), ready)
    try:
        await readable
    finally:
        loop.remove_reader(sock.fileno())
    try:
        return sock.recv(RAW_PREFIX, socket.MSG_PEEK)
    except OSError:  # reset before a byte arrived
        return b""


def _describe_unserved(sock: socket.socket, conn: Connection) -> None:
    """At the end, for a connection nobody served: what the client sent, if anything."""
    if conn.error and "silent" not in conn.error:
        return
    try:
        data = sock.recv(RAW_PREFIX, socket.MSG_PEEK | socket.MSG_DONTWAIT)
    except OSError:
        data = b""
    what = f"the client sent {data!r}" if data else "the client sent nothing"
    conn.first_bytes = conn.first_bytes or data
    conn.error = f"{conn.error}; {what}" if conn.error else what


@dataclass(frozen=True)
class WellKnownBehaviour:
    """How a site answers `GET /.well-known/matrix/server`."""

    status: int = 404
    body: str = '{"errcode": "M_NOT_FOUND", "error": "no well-known here"}'
    headers: tuple[tuple[str, str], ...] = (("Content-Type", "application/json"),)
    hang: bool = False  # read the request, never answer
    pad_to: int = 0  # >0: stream a body of this many bytes (the JSON followed by spaces)
    chunks: int = 0  # >1: send the body chunked, in this many pieces ...
    chunk_delay: float = 0.0  # ... this many seconds apart
    endless: bool = False  # send the body's start, then spaces, for ever (chunked)


@dataclass(frozen=True)
class ListenerLayout:
    """One listening socket of a site (a site has one per address family of its host)."""

    label: str  # "target:8449"
    address: str
    port: int
    cert: CertRequest | None  # None: plain HTTP, no TLS
    silent: bool = False  # accept TCP and never say anything
    well_known: WellKnownBehaviour = field(default_factory=WellKnownBehaviour)
    documents: tuple[tuple[str, WellKnownBehaviour], ...] = ()  # more paths served the same way


class _Established(asyncio.Protocol):
    """The TLS connection's first application protocol, standing in for the HTTP handler.

    asyncio calls its `connection_made` exactly when the handshake has succeeded, before any
    decrypted byte is delivered; it records that and hands the connection to the handler.
    """

    def __init__(self, conn: Connection, handler: asyncio.Protocol) -> None:
        self.conn = conn
        self.handler = handler

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.conn.established = True
        transport.set_protocol(self.handler)
        self.handler.connection_made(transport)


class _Recording(asyncio.Protocol):
    """Passes a connection's bytes to the HTTP handler, counting them and keeping their start:
    bytes that never make a request (garbage, a half request) are then still in the log."""

    def __init__(self, conn: Connection, inner: asyncio.Protocol) -> None:
        self.conn = conn
        self.inner = inner

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.inner.connection_made(transport)

    def data_received(self, data: bytes) -> None:
        if len(self.conn.first_bytes) < RAW_PREFIX:
            self.conn.first_bytes += data[: RAW_PREFIX - len(self.conn.first_bytes)]
        self.conn.received += len(data)
        self.inner.data_received(data)

    def eof_received(self) -> bool | None:
        return self.inner.eof_received()

    def connection_lost(self, exc: Exception | None) -> None:
        self.inner.connection_lost(exc)

    def pause_writing(self) -> None:
        self.inner.pause_writing()

    def resume_writing(self) -> None:
        self.inner.resume_writing()


class SiteServer:
    """One listening socket: records connections, handshakes and requests into the log."""

    def __init__(
        self,
        layout: ListenerLayout,
        pki: CertificateAuthority,
        log: ObservationLog,
        handshake_timeout: float = 10.0,
        bind: SocketFactory = bound_socket,
    ) -> None:
        self.layout = layout
        self._bind = bind
        self._pki = pki
        self._log = log
        self._handshake_timeout = handshake_timeout
        self._accepting: asyncio.Task | None = None
        # accepted, never given to asyncio: ours to close (and to describe, if they sent nothing)
        self._idle: dict[socket.socket, Connection] = {}
        self._transports: list[tuple[socket.socket, asyncio.Transport]] = []
        self._tasks: set[asyncio.Task] = set()
        self._web_servers: list[web.Server] = []
        self._stopping = asyncio.Event()

    async def start(self) -> None:
        sock = self._bind(self.layout.address, self.layout.port, socket.SOCK_STREAM)
        try:
            sock.listen(64)
        except BaseException:
            sock.close()
            raise
        self._accepting = asyncio.get_running_loop().create_task(self._accept(sock))

    async def stop(self) -> None:
        self._stopping.set()
        tasks = [self._accepting] if self._accepting is not None else []
        tasks += self._tasks
        for task in tasks:
            task.cancel()  # a handshake cancelled here is aborted by asyncio itself
        results = await asyncio.gather(*tasks, return_exceptions=True)
        for sock, conn in self._idle.items():  # silent sites', and those that never spoke
            _describe_unserved(sock, conn)
            sock.close()
        for sock, transport in self._transports:
            # abort(), not close(): a client that never answers close_notify must not keep the
            # socket. Only while the socket is open (fileno() is -1 once asyncio closed it): an
            # SSL transport closed twice (aiohttp may close a lost connection) forgets its
            # protocol, and CPython 3.11.2's abort() then raises AttributeError.
            if sock.fileno() != -1:
                transport.abort()
        for srv in self._web_servers:
            await srv.shutdown(0.05)
        if results and isinstance(results[0], Exception):
            raise results[0]  # the accept loop failed: the site stopped accepting early

    # -- connection handling ------------------------------------------------------------------

    async def _accept(self, listener: socket.socket) -> None:
        """Accept until stopped, then close the listener."""
        loop = asyncio.get_running_loop()
        try:
            while True:
                try:
                    sock, _ = await loop.sock_accept(listener)
                except ConnectionAbortedError:
                    continue  # reset before it was accepted
                self._accepted(sock)
        finally:
            listener.close()

    def _accepted(self, sock: socket.socket) -> None:
        """A TCP connection arrived: log it, then speak TLS/HTTP (or nothing, if silent)."""
        conn = self._log.new_connection(
            self.layout.label,
            self.layout.address,
            self.layout.port,
            tls=self.layout.cert is not None,
        )
        self._idle[sock] = conn
        if self.layout.silent:
            conn.error = "the server is silent: accepted TCP, never answered"
            return  # nothing ever reads the socket; stop() closes it
        task = asyncio.get_running_loop().create_task(self._serve(sock, conn))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _serve(self, sock: socket.socket, conn: Connection) -> None:
        loop = asyncio.get_running_loop()
        handler = _Recording(conn, self._http_handler(conn))
        if self.layout.cert is None:
            del self._idle[sock]  # asyncio owns it now (and closes it if this fails)
            transport, _ = await loop.connect_accepted_socket(lambda: handler, sock)
            self._transports.append((sock, transport))
            return
        try:
            first = await asyncio.wait_for(_peek(sock), self._handshake_timeout)
        except asyncio.TimeoutError:
            conn.error = "no TLS handshake within the server's timeout (no ClientHello)"
            return  # stop() closes it

        if first[:1] != TLS_HANDSHAKE:  # a client that speaks no TLS at all: say what it sent
            conn.error = (
                "the client connected and closed without sending anything" if not first
                else f"the client sent bytes that are not a TLS ClientHello: {first!r}"
            )  # fmt: skip
            conn.first_bytes = first
            return  # stop() closes it
        ctx = self._pki.server_context(self.layout.cert)

        def on_client_hello(_sslobj: ssl.SSLObject, name: str | None, _ctx: ssl.SSLContext) -> None:
            conn.client_hello = True
            conn.sni = name

        ctx.sni_callback = on_client_hello
        del self._idle[sock]  # asyncio owns it now (and closes it if this fails)
        try:
            tls, _ = await loop.connect_accepted_socket(
                partial(_Established, conn, handler),
                sock,
                ssl=ctx,
                ssl_handshake_timeout=self._handshake_timeout,
            )
        except asyncio.CancelledError:
            conn.error = conn.error or "world stopped during the handshake"
            raise
        except (OSError, asyncio.TimeoutError, ConnectionError) as exc:
            conn.error = _describe_tls_error(exc, conn)
            return
        if not conn.established:  # the client went away mid-handshake
            conn.error = "connection closed during the handshake"
            return
        self._pki.release(self.layout.cert, ctx)  # the handshake is over: reusable
        self._transports.append((sock, tls))

    def _http_handler(self, conn: Connection) -> asyncio.Protocol:
        server = web.Server(partial(self._handle, conn), access_log=None)
        self._web_servers.append(server)
        return server()

    async def _handle(self, conn: Connection, request: web.BaseRequest) -> web.StreamResponse:
        conn.requests += 1
        document = self._document(request.path)
        record = HttpRequest(conn, request.method, request.raw_path, request.headers.get("Host"),
                             well_known=document is not None)  # fmt: skip
        self._log.add(record)
        if document is not None:
            return await self._serve_document(document, record, request)
        record.status = 200
        body = {
            "server": {"name": "matrix-resolver-conformance", "version": self.layout.label},
            "answered_by": self.layout.label,
        }
        return web.json_response(body)

    def _document(self, path: str) -> WellKnownBehaviour | None:
        if path == WELL_KNOWN_PATH:
            return self.layout.well_known
        return next((wk for p, wk in self.layout.documents if p == path), None)

    async def _serve_document(
        self, wk: WellKnownBehaviour, record: HttpRequest, request: web.BaseRequest
    ) -> web.StreamResponse:
        if wk.hang:
            await self._stopping.wait()
            raise asyncio.CancelledError
        record.status = wk.status
        body = wk.body.encode()
        if wk.chunks > 1 or wk.endless:
            return await self._stream(wk, body, request)
        if wk.pad_to <= len(body):
            return web.Response(status=wk.status, body=body, headers=list(wk.headers))
        response = web.StreamResponse(status=wk.status, headers=list(wk.headers))
        response.content_length = wk.pad_to
        await response.prepare(request)
        with contextlib.suppress(ConnectionError, OSError, RuntimeError):
            await response.write(body)
            left = wk.pad_to - len(body)
            # Stop as soon as the client hangs up: writing on into a closed transport would
            # make asyncio log "socket.send() raised exception." for every chunk.
            while left > 0 and not self._stopping.is_set() and _open(request):
                n = min(left, _CHUNK)
                await response.write(b" " * n)
                left -= n
                await asyncio.sleep(0)  # let a hang-up reach the transport before more writes
        return response

    async def _stream(
        self, wk: WellKnownBehaviour, body: bytes, request: web.BaseRequest
    ) -> web.StreamResponse:
        """Chunked transfer: the body in `chunks` pieces `chunk_delay` apart, or (endless) its
        start followed by spaces until the client hangs up or the world stops."""
        response = web.StreamResponse(status=wk.status, headers=list(wk.headers))
        response.enable_chunked_encoding()
        await response.prepare(request)
        with contextlib.suppress(ConnectionError, OSError, RuntimeError):
            if wk.endless:
                await response.write(body[: max(1, len(body) // 2)])
                while not self._stopping.is_set() and _open(request):
                    await response.write(b" " * _CHUNK)
                    await asyncio.sleep(0.005)
                return response
            size = -(-len(body) // wk.chunks)
            for i in range(0, len(body), size):
                if i:
                    await asyncio.sleep(wk.chunk_delay)
                await response.write(body[i : i + size])
            await response.write_eof()
        return response


def _open(request: web.BaseRequest) -> bool:
    transport = request.transport
    return transport is not None and not transport.is_closing()


def _describe_tls_error(exc: BaseException, conn: Connection) -> str:
    if isinstance(exc, asyncio.TimeoutError):
        return "no TLS handshake within the server's timeout" + (
            "" if conn.client_hello else " (no ClientHello)"
        )
    if isinstance(exc, ssl.SSLError):
        return exc.reason or exc.strerror or str(exc)
    if isinstance(exc, (ConnectionResetError, BrokenPipeError)):
        if conn.client_hello:
            return (
                "the client closed the connection after its ClientHello (e.g. it refused "
                "the certificate)"
            )
        return "the client closed the connection in the middle of its ClientHello"
    return f"{type(exc).__name__}: {exc}"
