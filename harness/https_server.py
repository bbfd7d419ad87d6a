"""Fake HTTPS servers that record every connection, handshake and request (aiohttp for HTTP).

Each listening site accepts plain TCP first and upgrades to TLS itself (`loop.start_tls`) with a
context made for that one connection, so the SNI callback, the handshake's outcome and the
requests are attributed to the exact connection, including handshakes a client aborts because
it refused the certificate. Requests are handled by aiohttp's low-level server.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from dataclasses import dataclass, field
from functools import partial

from aiohttp import web

from harness.netns import bindable_socket
from harness.observations import Connection, HttpRequest, ObservationLog
from harness.pki import CertificateAuthority, CertSpec

WELL_KNOWN_PATH = "/.well-known/matrix/server"
_CHUNK = 64 * 1024


@dataclass(frozen=True)
class WellKnownBehaviour:
    """How a site answers `GET /.well-known/matrix/server`."""

    status: int = 404
    body: str = '{"errcode": "M_NOT_FOUND", "error": "no well-known here"}'
    headers: tuple[tuple[str, str], ...] = (("Content-Type", "application/json"),)
    hang: bool = False  # read the request, never answer
    pad_to: int = 0  # >0: stream a body of this many bytes (the JSON followed by spaces)


@dataclass(frozen=True)
class ListenSpec:
    """One listening socket of a site (a site has one per address family of its host)."""

    label: str  # "target:8449"
    address: str
    port: int
    cert: CertSpec | None  # None: plain HTTP, no TLS
    silent: bool = False  # accept TCP and never say anything
    well_known: WellKnownBehaviour = field(default_factory=WellKnownBehaviour)


class _Handoff(asyncio.Protocol):
    """Stands in for the aiohttp handler until the TLS handshake is done, keeping early bytes.

    asyncio may deliver decrypted data before `start_tls` returns, i.e. before aiohttp's handler
    has seen `connection_made`; this shim holds those bytes and replays them.
    """

    def __init__(self, inner: asyncio.Protocol) -> None:
        self.inner = inner
        self.early: list[bytes] = []
        self.eof = False
        self.lost: tuple[Exception | None] | None = None

    def data_received(self, data: bytes) -> None:
        self.early.append(data)

    def eof_received(self) -> bool:
        self.eof = True
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = (exc,)

    def attach(self, transport: asyncio.Transport) -> None:
        transport.set_protocol(self.inner)
        self.inner.connection_made(transport)
        for data in self.early:
            self.inner.data_received(data)  # type: ignore[attr-defined]
        if self.eof:
            self.inner.eof_received()  # type: ignore[attr-defined]
        if self.lost is not None:
            self.inner.connection_lost(self.lost[0])


class SiteServer:
    """One listening socket: records connections, handshakes and requests into the log."""

    def __init__(
        self,
        spec: ListenSpec,
        pki: CertificateAuthority,
        log: ObservationLog,
        handshake_timeout: float = 10.0,
    ) -> None:
        self.spec = spec
        self._pki = pki
        self._log = log
        self._handshake_timeout = handshake_timeout
        self._server: asyncio.AbstractServer | None = None
        self._transports: list[asyncio.BaseTransport] = []
        self._tasks: set[asyncio.Task] = set()
        self._web_servers: list[web.Server] = []
        self._stopping = asyncio.Event()

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        sock = bindable_socket(self.spec.address, self.spec.port)
        try:
            sock.listen(64)
            self._server = await loop.create_server(partial(_Accept, self), sock=sock)
        except BaseException:
            sock.close()
            raise

    async def stop(self) -> None:
        self._stopping.set()
        if self._server is not None:
            self._server.close()
        for task in list(self._tasks):
            task.cancel()
        for transport in self._transports:
            transport.abort()
        for srv in self._web_servers:
            await srv.shutdown(0.05)
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()

    # -- connection handling ------------------------------------------------------------------

    def accepted(self, transport: asyncio.Transport) -> None:
        """A TCP connection arrived: log it, then speak TLS/HTTP (or nothing, if silent)."""
        self._transports.append(transport)
        conn = self._log.new_connection(
            self.spec.label, self.spec.address, self.spec.port, tls=self.spec.cert is not None
        )
        if self.spec.silent:
            conn.error = "the server is silent: accepted TCP, never answered"
            transport.pause_reading()
            return
        handler = self._http_handler(conn)
        if self.spec.cert is None:
            transport.set_protocol(handler)
            handler.connection_made(transport)
            return
        transport.pause_reading()
        task = asyncio.get_running_loop().create_task(self._upgrade(transport, conn, handler))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _upgrade(
        self, transport: asyncio.Transport, conn: Connection, handler: asyncio.Protocol
    ) -> None:
        assert self.spec.cert is not None
        ctx = self._pki.server_context(self.spec.cert)

        def on_client_hello(_sslobj: ssl.SSLObject, name: str | None, _ctx: ssl.SSLContext) -> None:
            conn.client_hello = True
            conn.sni = name

        ctx.sni_callback = on_client_hello
        handoff = _Handoff(handler)
        loop = asyncio.get_running_loop()
        try:
            tls = await loop.start_tls(
                transport,
                handoff,
                ctx,
                server_side=True,
                ssl_handshake_timeout=self._handshake_timeout,
            )
            self._pki.release(self.spec.cert, ctx)  # the handshake is over: reusable
        except asyncio.CancelledError:
            conn.error = conn.error or "world stopped during the handshake"
            transport.abort()
            raise
        except (OSError, asyncio.TimeoutError, ConnectionError) as exc:
            conn.error = _describe_tls_error(exc, conn)
            transport.abort()
            return
        if tls is None:  # the client went away mid-handshake
            conn.error = "connection closed during the handshake"
            return
        conn.established = True
        self._transports.append(tls)
        handoff.attach(tls)

    def _http_handler(self, conn: Connection) -> asyncio.Protocol:
        server = web.Server(partial(self._handle, conn), access_log=None)
        self._web_servers.append(server)
        return server()

    async def _handle(self, conn: Connection, request: web.BaseRequest) -> web.StreamResponse:
        record = HttpRequest(conn, request.method, request.raw_path, request.headers.get("Host"))
        self._log.add(record)
        if request.path == WELL_KNOWN_PATH:
            return await self._well_known(record, request)
        record.status = 200
        body = {
            "server": {"name": "matrix-resolver-conformance", "version": self.spec.label},
            "answered_by": self.spec.label,
        }
        return web.json_response(body)

    async def _well_known(
        self, record: HttpRequest, request: web.BaseRequest
    ) -> web.StreamResponse:
        wk = self.spec.well_known
        if wk.hang:
            await self._stopping.wait()
            raise asyncio.CancelledError
        record.status = wk.status
        body = wk.body.encode()
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


def _open(request: web.BaseRequest) -> bool:
    transport = request.transport
    return transport is not None and not transport.is_closing()


class _Accept(asyncio.Protocol):
    """Receives the raw TCP connection and hands it to its site."""

    def __init__(self, site: SiteServer) -> None:
        self.site = site

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.site.accepted(transport)  # type: ignore[arg-type]


def _describe_tls_error(exc: BaseException, conn: Connection) -> str:
    if isinstance(exc, asyncio.TimeoutError):
        return "no TLS handshake within the server's timeout" + (
            "" if conn.client_hello else " (no ClientHello)"
        )
    if isinstance(exc, ssl.SSLError):
        return exc.reason or exc.strerror or str(exc)
    if isinstance(exc, (ConnectionResetError, BrokenPipeError)):
        return "the client aborted the handshake (e.g. it refused the certificate)"
    return f"{type(exc).__name__}: {exc}"
