"""A plain HTTP/1.1 exchange with the homeserver under test, from inside the world's network.

The server listens in the world's namespace, which the judge's process is not in: the socket is
made there (`NetworkSetup.new_socket`) and connected from here. One request per connection, a
bounded answer; anything else is an `HttpFailure` saying what went wrong.
"""

from __future__ import annotations

import asyncio
import socket

from matrix_resolver_harness.netns import NetworkSetup

MAX_ANSWER = 1 << 20


class HttpFailure(Exception):
    """No usable HTTP answer: refused, timed out, or not HTTP."""


async def http_request(
    network: NetworkSetup,
    where: tuple[str, int],
    method: str,
    path: str,
    body: bytes = b"",
    timeout: float = 10.0,
) -> tuple[int, bytes]:
    """(status, body) of `method path` at `where`."""
    family = socket.AF_INET6 if ":" in where[0] else socket.AF_INET
    sock = network.new_socket(family, socket.SOCK_STREAM)
    sock.setblocking(False)
    loop = asyncio.get_running_loop()
    try:
        return await asyncio.wait_for(_exchange(loop, sock, where, method, path, body), timeout)
    except (asyncio.TimeoutError, TimeoutError):
        raise HttpFailure(f"no answer to {method} {path} within {timeout:g} s") from None
    except OSError as e:
        raise HttpFailure(f"{method} {path}: {e.strerror or e}") from None
    finally:
        sock.close()


async def _exchange(
    loop: asyncio.AbstractEventLoop,
    sock: socket.socket,
    where: tuple[str, int],
    method: str,
    path: str,
    body: bytes,
) -> tuple[int, bytes]:
    await loop.sock_connect(sock, where)
    head = (
        f"{method} {path} HTTP/1.1\r\nHost: {where[0]}:{where[1]}\r\nConnection: close\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    await loop.sock_sendall(sock, head.encode() + body)
    data = b""
    while len(data) <= MAX_ANSWER:
        chunk = await loop.sock_recv(sock, 65536)
        if not chunk:
            break
        data += chunk
    status_line, _, rest = data.partition(b"\r\n")
    parts = status_line.split(b" ", 2)
    if len(parts) < 2 or not parts[0].startswith(b"HTTP/1.") or not parts[1].isdigit():
        raise HttpFailure(f"{method} {path}: not an HTTP answer: {data[:80]!r}")
    return int(parts[1]), rest.partition(b"\r\n\r\n")[2]
