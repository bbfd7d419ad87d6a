"""Resolvers written only from README's contract section, as a homeserver developer would:
plain sync sockets and the `env` attributes, nothing imported from the suite. They handle IP
literals only (step 1), which is enough to check the plug-in path end to end."""

from __future__ import annotations

import ipaddress
import socket
import ssl


def _split(server_name: str) -> tuple[str, int | None]:
    if server_name.startswith("["):
        host, _, rest = server_name[1:].partition("]")
        return host, int(rest[1:]) if rest else None
    host, _, port = server_name.partition(":")
    return host, int(port) if port else None


def _canonical(name: str) -> str:
    """IP SANs come back as `FD00:5E:0:0:0:0:0:1`: compare addresses as addresses."""
    try:
        return str(ipaddress.ip_address(name))
    except ValueError:
        return name.lower()


def _get(env, address: str, port: int, host_header: str, sni: str | None, check: str) -> bytes:
    ctx = env.ssl_context()
    ctx.check_hostname = False  # checked by hand below, so SNI and identity can differ
    raw = socket.create_connection((address, port), timeout=env.timeout)
    with ctx.wrap_socket(raw, server_hostname=sni) as tls:
        sans = [_canonical(v) for _, v in tls.getpeercert().get("subjectAltName", ())]
        if _canonical(check) not in sans:
            raise ssl.SSLCertVerificationError(f"certificate is not for {check}: {sans}")
        request = f"GET {env.path} HTTP/1.1\r\nHost: {host_header}\r\nConnection: close\r\n\r\n"
        tls.sendall(request.encode())
        return tls.recv(65536)


def ip_literals(env):
    """Step 1 done right: the literal, its port or 8448, Host = the server name, no SNI."""

    def fetch(server_name: str) -> bytes:
        address, port = _split(server_name)
        return _get(env, address, port or 8448, server_name, None, address)

    return fetch


def ip_literals_portless_host(env):
    """Step 1 with one rule broken: the port is left out of the Host header."""

    def fetch(server_name: str) -> bytes:
        address, port = _split(server_name)
        host = f"[{address}]" if ":" in address else address
        return _get(env, address, port or 8448, host, None, address)

    return fetch


def hostname_port_with_wrong_sni(env):
    """Step 2 right (address, port, Host, certificate) but the SNI names something else: only the
    recommended SNI scenario may fail."""
    import dns.resolver

    def fetch(server_name: str) -> bytes:
        host, port = _split(server_name)
        res = dns.resolver.Resolver(configure=False)
        res.nameservers, res.port = [env.dns_server[0]], env.dns_server[1]
        res.lifetime = env.timeout
        address = res.resolve(host, "A")[0].address
        return _get(env, address, port or 8448, server_name, "not-the-host.test", host)

    return fetch
