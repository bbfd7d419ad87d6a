"""A minimal HTTPS/1.1 GET that connects exactly as told.

Discovery decides the address, port, TLS name and `Host` separately, and a
general HTTP library would re-derive some of them from a URL (and resolve names
itself). This client takes each of them verbatim, sends one fixed request and
always closes its socket, so it doubles as a "connect exactly as told" helper.
"""

from __future__ import annotations

import asyncio
import re
import ssl
from dataclasses import dataclass

__all__ = ["ConnectError", "FetchError", "Response", "connect_first", "https_get"]

USER_AGENT = "matrix-resolver-conformance-reference"
MAX_HEADER_BYTES = 64 * 1024
MAX_HEADERS = 100
CLOSE_TIMEOUT = 0.5
_STATUS_RE = re.compile(rb"HTTP/1\.[0-9] ([0-9]{3})(?: [^\r\n]*)?\r?\n")
_DIGITS_RE = re.compile(r"[0-9]+")
_HEX_RE = re.compile(rb"[0-9A-Fa-f]+")


class FetchError(Exception):
    """No HTTP response could be obtained; the message says where and why."""


class ConnectError(FetchError):
    """Failure before the request was sent (TCP connect or TLS): try the next address."""


@dataclass
class Response:
    """An HTTP response, with the address and port it came from."""

    status: int
    headers: list[tuple[str, str]]
    body: bytes
    address: str
    port: int

    def header(self, name: str) -> str | None:
        """The first value of header `name` (case-insensitive), or None."""
        lname = name.lower()
        return next((v for k, v in self.headers if k.lower() == lname), None)


def _where(address: str, port: int) -> str:
    return f"[{address}]:{port}" if ":" in address else f"{address}:{port}"


async def https_get(
    address: str,
    port: int,
    *,
    tls_name: str,
    host_header: str,
    path: str,
    ssl_context: ssl.SSLContext,
    timeout: float,
    max_body: int = 1 << 20,
) -> Response:
    """GET `path` from `address:port` over TLS checked against `tls_name`.

    Connect and handshake failures raise `ConnectError`; anything after (a bad,
    oversized or late response) raises `FetchError`. `timeout` bounds the whole
    exchange.
    """
    where = _where(address, port)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    try:
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection(
                address,
                port,
                ssl=ssl_context,
                server_hostname=tls_name,
                ssl_handshake_timeout=timeout,
            ),
            timeout,
        )
    except (asyncio.TimeoutError, TimeoutError):
        raise ConnectError(f"{where}: connect/TLS timeout after {timeout}s") from None
    except ssl.SSLError as exc:
        raise ConnectError(f"{where}: TLS handshake failed ({tls_name!r}): {exc}") from exc
    except OSError as exc:
        raise ConnectError(f"{where}: connect failed: {exc}") from exc
    try:
        request = (
            f"GET {path} HTTP/1.1\r\nHost: {host_header}\r\nUser-Agent: {USER_AGENT}\r\n"
            "Accept: application/json\r\nConnection: close\r\n\r\n"
        )
        writer.write(request.encode("ascii"))
        remaining = max(deadline - loop.time(), 0.0)
        status, headers, body = await asyncio.wait_for(_read_response(reader, max_body), remaining)
        return Response(status, headers, body, address, port)
    except (asyncio.TimeoutError, TimeoutError):
        raise FetchError(f"{where}: no complete response within {timeout}s") from None
    except (OSError, EOFError, ValueError, asyncio.LimitOverrunError) as exc:
        raise FetchError(f"{where}: bad or broken response: {exc}") from exc
    finally:
        await _close(writer)


async def _close(writer: asyncio.StreamWriter) -> None:
    """Close politely (TLS close_notify) but briefly, then drop the socket regardless."""
    # Already closing: the peer's close_notify or a lost connection got there first. Closing
    # again would make the SSL transport drop its protocol, and early 3.11 releases (e.g. 3.11.2,
    # not 3.11.7) then raise AttributeError from abort(), which lacks a None check there.
    if not writer.is_closing():
        writer.close()
    try:
        await asyncio.wait_for(writer.wait_closed(), CLOSE_TIMEOUT)
    except (asyncio.TimeoutError, OSError):
        pass
    finally:
        writer.transport.abort()  # no-op once closed; frees a peer that never answers


async def connect_first(
    addresses: list[str],
    port: int,
    *,
    tls_name: str,
    host_header: str,
    path: str,
    ssl_context: ssl.SSLContext,
    timeout: float,
    max_body: int = 1 << 20,
) -> Response:
    """`https_get` on each address in order until one connects.

    Only `ConnectError` moves on; a response of any status, or a failure after
    the request went out, ends the attempt.
    """
    failures: list[str] = []
    for address in addresses:
        try:
            return await https_get(
                address,
                port,
                tls_name=tls_name,
                host_header=host_header,
                path=path,
                ssl_context=ssl_context,
                timeout=timeout,
                max_body=max_body,
            )
        except ConnectError as exc:
            failures.append(str(exc))
    if not failures:
        raise ConnectError(f"no addresses to connect to on port {port}")
    raise ConnectError("; ".join(failures))


async def _read_line(reader: asyncio.StreamReader, budget: list[int]) -> bytes:
    """One header-section line, charged to a shared byte budget."""
    line = await reader.readuntil(b"\n")
    budget[0] -= len(line)
    if budget[0] < 0:
        raise ValueError(f"response head larger than {MAX_HEADER_BYTES} bytes")
    return line


async def _read_headers(reader: asyncio.StreamReader, budget: list[int]) -> list[tuple[str, str]]:
    headers: list[tuple[str, str]] = []
    while True:
        line = await _read_line(reader, budget)
        if line in (b"\r\n", b"\n"):
            return headers
        name, sep, value = line.decode("latin-1").partition(":")
        if not sep or not name or name != name.strip():
            raise ValueError(f"malformed header line {line[:80]!r}")
        headers.append((name, value.strip()))
        if len(headers) > MAX_HEADERS:
            raise ValueError(f"more than {MAX_HEADERS} headers")


async def _read_response(
    reader: asyncio.StreamReader, max_body: int
) -> tuple[int, list[tuple[str, str]], bytes]:
    """Status, headers and body; interim 1xx responses are skipped."""
    budget = [MAX_HEADER_BYTES]
    while True:
        line = await _read_line(reader, budget)
        match = _STATUS_RE.fullmatch(line)
        if not match:
            raise ValueError(f"malformed status line {line[:80]!r}")
        status = int(match.group(1))
        headers = await _read_headers(reader, budget)
        if not 100 <= status < 200:
            break
    fields = {k.lower(): v for k, v in headers}
    if status in (204, 304):
        return status, headers, b""
    if "chunked" in fields.get("transfer-encoding", "").lower():
        return status, headers, await _read_chunked(reader, max_body, budget)
    if "content-length" in fields:
        text = fields["content-length"]
        if not _DIGITS_RE.fullmatch(text):
            raise ValueError(f"bad Content-Length {text!r}")
        length = int(text)
        if length > max_body:
            raise ValueError(f"body of {length} bytes exceeds the {max_body}-byte limit")
        return status, headers, await reader.readexactly(length)
    body = b""
    while len(body) <= max_body:
        more = await reader.read(max_body + 1 - len(body))
        if not more:
            return status, headers, body
        body += more
    raise ValueError(f"body exceeds the {max_body}-byte limit")


async def _read_chunked(reader: asyncio.StreamReader, max_body: int, budget: list[int]) -> bytes:
    body = b""
    while True:
        size_line = await _read_line(reader, budget)
        size_text = size_line.split(b";", 1)[0].strip()
        if not _HEX_RE.fullmatch(size_text):
            raise ValueError(f"bad chunk size {size_line[:40]!r}")
        size = int(size_text, 16)
        if size == 0:
            await _read_headers(reader, budget)  # trailers
            return body
        if len(body) + size > max_body:
            raise ValueError(f"body exceeds the {max_body}-byte limit")
        body += await reader.readexactly(size)
        if await reader.readexactly(2) != b"\r\n":
            raise ValueError("chunk not followed by CRLF")
