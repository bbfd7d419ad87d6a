"""Unit tests of the reference resolver's pure parts: no sockets, no DNS."""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from pathlib import Path

import pytest

from matrix_resolver_conformance.env import Env
from matrix_resolver_conformance.reference import factory
from matrix_resolver_conformance.reference.dns_client import SrvRecord, order_srv
from matrix_resolver_conformance.reference.server_name import (
    InvalidServerName,
    Kind,
    ServerName,
    format_host_header,
    parse_server_name,
)
from matrix_resolver_conformance.reference.well_known import (
    DEFAULT_TTL,
    MAX_TTL,
    WellKnownCache,
    WellKnownError,
    WellKnownResult,
    cache_ttl,
    parse_well_known_body,
)
from matrix_resolver_conformance.wire.https_client import _read_response

# fmt: off
VALID = [
    ("1.2.3.4", "1.2.3.4", None, "ipv4"), ("1.2.3.4:1234", "1.2.3.4", 1234, "ipv4"),
    ("0.0.0.0", "0.0.0.0", None, "ipv4"), ("255.255.255.255:8448", "255.255.255.255", 8448, "ipv4"),
    ("[1234:5678::abcd]", "1234:5678::abcd", None, "ipv6"),
    ("[1234:5678::abcd]:5678", "1234:5678::abcd", 5678, "ipv6"),
    ("[::1]", "::1", None, "ipv6"), ("[::ffff:1.2.3.4]:1", "::ffff:1.2.3.4", 1, "ipv6"),
    ("matrix.org", "matrix.org", None, "dns"), ("matrix.org:8888", "matrix.org", 8888, "dns"),
    ("MATRIX.org", "MATRIX.org", None, "dns"), ("x:1", "x", 1, "dns"),
    ("x:65535", "x", 65535, "dns"),
    ("localhost", "localhost", None, "dns"), ("matrix.org.", "matrix.org.", None, "dns"),
    ("xn--bcher-kva.test", "xn--bcher-kva.test", None, "dns"),
    ("a-b.c-d.test", "a-b.c-d.test", None, "dns"), ("1.2.3", "1.2.3", None, "dns"),
    ("123", "123", None, "dns"), ("x:08448", "x", 8448, "dns"),
]

INVALID = [
    "", "host:", ":8448", "1234:5678::abcd", "[1234:5678::abcd]:", "x:0", "x:65536", "x:99999",
    "x:123456", "x:12a", "x:-1", "x: 80", "a_b.test", "a b", " matrix.org", "matrix.org ",
    "héllo.test", "x" * 256, "999.1.1.1", "1.2.3.256", "1.2.3.4.", "1.2.3.0004", "[::1", "[::1]x",
    "[1.2.3.4]", "[fe80::1%eth0]", "[:::1]", "[]", "https://x", "x/", "user@x", "x?y", ".",
    ".matrix.org", "matrix..org", "matrix.org..", ("a" * 64) + ".test", "x:8448:1",
]

HOST_HEADERS = [
    ("matrix.org", None, "matrix.org"), ("matrix.org", 8448, "matrix.org:8448"),
    ("MATRIX.org", None, "MATRIX.org"), ("1.2.3.4", None, "1.2.3.4"),
    ("1.2.3.4", 1234, "1.2.3.4:1234"), ("1234:5678::abcd", None, "[1234:5678::abcd]"),
    ("1234:5678::abcd", 5678, "[1234:5678::abcd]:5678"),
]

BAD_BODIES = [
    b"", b"not json", b"<html></html>", b'{"m.server": "x"', b'["m.server", "x"]', b'"x"', b"null",
    b"{}", b'{"m.servers": "x"}', b'{"m.server": 8448}', b'{"m.server": null}', b'{"m.server": ""}',
    b'{"m.server": "https://x"}', b'{"m.server": "x/"}', b'{"m.server": "x:99999"}',
    b'{"m.server": ["x"]}', b'{"m.server": "\xff"}',
]

CC = "Cache-Control"
TTLS = [
    ([], DEFAULT_TTL), ([("Content-Type", "application/json")], DEFAULT_TTL),
    ([(CC, "max-age=600")], 600.0), ([("cache-control", "public, max-age=3600")], 3600.0),
    ([(CC, 'max-age="60"')], 60.0), ([(CC, "max-age=999999999")], MAX_TTL),
    ([(CC, "max-age=0")], 0.0), ([(CC, "no-store")], 0.0), ([(CC, "max-age=600, no-store")], 0.0),
    ([(CC, "no-cache")], 0.0), ([(CC, "public"), (CC, "max-age=5")], 5.0),
    ([(CC, "max-age=abc")], DEFAULT_TTL), ([(CC, "max-age=-5")], DEFAULT_TTL),
]

OK = b"HTTP/1.1 200 OK\r\n"
BAD_RESPONSES = [
    OK + b"Content-Length: 11\r\n\r\n0123456789a",
    OK + b"Transfer-Encoding: chunked\r\n\r\n20\r\n" + b"x" * 32 + b"\r\n0\r\n\r\n",
    OK + b"\r\n" + b"x" * 11, b"SPDY/3 200 OK\r\n\r\n", b"HTTP/1.1 2000 OK\r\n\r\n",
    OK + b"no colon\r\n\r\n", OK + b"Content-Length: 5\r\n\r\nabc",
    OK + b"Transfer-Encoding: chunked\r\n\r\n0x5\r\nabcde\r\n0\r\n\r\n",
]
# fmt: on


@pytest.mark.parametrize(("text", "host", "port", "kind"), VALID)
def test_valid_server_names(text: str, host: str, port: int | None, kind: Kind) -> None:
    assert parse_server_name(text) == ServerName(host, port, kind)


@pytest.mark.parametrize("text", INVALID)
def test_invalid_server_names(text: str) -> None:
    with pytest.raises(InvalidServerName):
        parse_server_name(text)


def test_invalid_server_name_is_value_error_with_reason() -> None:
    with pytest.raises(ValueError, match="out of range"):
        parse_server_name("x:65536")


def test_dns_name_length_limits() -> None:
    name = ".".join(["a" * 63] * 4)  # 255 characters
    assert len(name) == 255
    assert parse_server_name(name).kind == "dns"
    assert parse_server_name(name + ":1").port == 1
    with pytest.raises(InvalidServerName):
        parse_server_name(name + "a")


def test_ip_address_and_tls_name() -> None:
    assert parse_server_name("010.1.1.1").address == "10.1.1.1"  # decimal, never octal
    assert parse_server_name("[1234:5678:0::ABCD]").address == "1234:5678::abcd"
    assert parse_server_name("[::1]:8").tls_name == "::1"
    assert parse_server_name("Matrix.org.").tls_name == "Matrix.org"
    with pytest.raises(ValueError):
        _ = parse_server_name("matrix.org").address


@pytest.mark.parametrize(("host", "port", "header"), HOST_HEADERS)
def test_format_host_header(host: str, port: int | None, header: str) -> None:
    assert format_host_header(host, port) == header


@pytest.mark.parametrize("text", ["[1234:5678::abcd]:5678", "1.2.3.4", "MATRIX.org:8888"])
def test_server_name_str_round_trips(text: str) -> None:
    assert str(parse_server_name(text)) == text


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (b'{"m.server": "delegated.test"}', ServerName("delegated.test", None, "dns")),
        (b'{"m.server": "delegated.test:443", "x": [1]}', ServerName("delegated.test", 443, "dns")),
        (b'\xef\xbb\xbf{"m.server": "[::1]"}', ServerName("::1", None, "ipv6")),
    ],
)
def test_well_known_body_valid(body: bytes, expected: ServerName) -> None:
    assert parse_well_known_body(body) == expected


@pytest.mark.parametrize("body", BAD_BODIES)
def test_well_known_body_invalid(body: bytes) -> None:
    with pytest.raises(WellKnownError):
        parse_well_known_body(body)


def _srv(priority: int, weight: int, target: str) -> SrvRecord:
    return SrvRecord(priority, weight, 8448, target)


def test_srv_priorities_ascending() -> None:
    records = [_srv(20, 5, "c."), _srv(10, 0, "a."), _srv(30, 100, "d."), _srv(10, 50, "b.")]
    for seed in range(20):
        ordered = order_srv(records, random.Random(seed))
        assert [r.priority for r in ordered] == [10, 10, 20, 30]
        assert sorted(ordered, key=lambda r: r.target) == sorted(records, key=lambda r: r.target)


def test_srv_weights_roughly_honoured() -> None:
    records = [_srv(1, 10, "light."), _srv(1, 90, "heavy."), _srv(1, 0, "zero.")]
    rng = random.Random(1234)
    firsts = Counter(order_srv(records, rng)[0].target for _ in range(5000))
    assert 0.85 < firsts["heavy."] / 5000 < 0.95
    assert 0.06 < firsts["light."] / 5000 < 0.14
    assert firsts["zero."] == 0  # a weight-0 record goes after every weighted one


def test_srv_zero_weight_never_first_while_a_weighted_record_is_left() -> None:
    """The draw runs from 1 to the total (Synapse, Go), not RFC 2782's 0: the weight scenarios
    (0 against 65535) are deterministic."""
    zero, heavy = _srv(10, 0, "zero."), _srv(10, 65535, "heavy.")
    for seed in range(200):
        assert order_srv([zero, heavy], random.Random(seed)) == [heavy, zero]
        assert order_srv([heavy, zero], random.Random(seed)) == [heavy, zero]


def test_srv_all_zero_weights_keep_all_records() -> None:
    records = [_srv(0, 0, "a."), _srv(0, 0, "b.")]
    assert order_srv(records, random.Random(0)) == records
    assert order_srv([], random.Random(0)) == []


def test_srv_dot_target_is_unavailable() -> None:
    assert _srv(0, 0, ".").unavailable
    assert not _srv(0, 0, "a.").unavailable


@pytest.mark.parametrize(("headers", "ttl"), TTLS)
def test_cache_ttl(headers: list[tuple[str, str]], ttl: float) -> None:
    assert cache_ttl(headers) == ttl


def test_well_known_cache_expiry() -> None:
    now = [100.0]
    cache = WellKnownCache(clock=lambda: now[0])
    ok = WellKnownResult(ServerName("d.test", None, "dns"), None, 60.0)
    cache.put("origin.test", ok)
    cache.put("nostore.test", WellKnownResult(ok.server, None, 0.0))
    assert cache.get("origin.test") is ok
    assert cache.get("nostore.test") is None
    assert cache.get("ORIGIN.test") is None  # keyed by the name as written
    now[0] = 160.0
    assert cache.get("origin.test") is None


def _parse(raw: bytes, max_body: int = 1 << 20) -> tuple[int, list[tuple[str, str]], bytes]:
    async def run() -> tuple[int, list[tuple[str, str]], bytes]:
        reader = asyncio.StreamReader()
        reader.feed_data(raw)
        reader.feed_eof()
        return await _read_response(reader, max_body)

    return asyncio.run(run())


def test_http_response_content_length_chunked_and_eof() -> None:
    raw = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nX: y\r\n\r\n{}extra"
    assert _parse(raw) == (200, [("Content-Length", "2"), ("X", "y")], b"{}")
    raw = b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 404 No\r\nTransfer-Encoding: chunked\r\n\r\n"
    raw += b"2;ext=1\r\nab\r\nA\r\n0123456789\r\n0\r\nTrailer: t\r\n\r\n"
    assert _parse(raw) == (404, [("Transfer-Encoding", "chunked")], b"ab0123456789")
    assert _parse(b"HTTP/1.0 302 Found\r\nLocation: /x\r\n\r\nbody")[2] == b"body"


@pytest.mark.parametrize("raw", BAD_RESPONSES)
def test_http_response_errors(raw: bytes) -> None:
    with pytest.raises((ValueError, EOFError)):
        _parse(raw, max_body=10)


def test_invalid_name_refused_before_any_traffic(tmp_path: Path) -> None:
    trustme = pytest.importorskip("trustme")
    ca_file = tmp_path / "ca.pem"
    trustme.CA().cert_pem.write_to_path(str(ca_file))
    # A DNS server that does not exist: any query would time out, not raise at once.
    resolver = factory(Env(dns_server=("192.0.2.1", 53), ca_file=str(ca_file), timeout=30))

    async def run() -> None:
        for name in ("bad_name", "x:0", "[::1", ""):
            with pytest.raises(InvalidServerName):
                await asyncio.wait_for(resolver(name), 1.0)
        await resolver.aclose()

    asyncio.run(run())
