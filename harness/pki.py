"""The fake world's certificate authorities and leaf certificates (trustme).

One trusted CA per process is the world's only trust root (`ca_file`); a second CA that nobody
trusts signs the "untrusted" certificates. Leaves are cached by identity, so a scenario pays for a
certificate only the first time its exact set of names is needed.
"""

from __future__ import annotations

import datetime
import ssl
import tempfile
from dataclasses import dataclass
from pathlib import Path

import trustme


@dataclass(frozen=True)
class CertRequest:
    """Which certificate a server presents."""

    names: tuple[str, ...]  # DNS names and/or IP addresses (IP SANs)
    issuer: str = "trusted"  # "trusted" | "untrusted"
    expired: bool = False

    def describe(self) -> str:
        extra = "" if self.issuer == "trusted" else f", signed by the {self.issuer} CA"
        extra += ", expired" if self.expired else ""
        return f"certificate for {', '.join(self.names)}{extra}"


class CertificateAuthority:
    """Issues and caches server certificates as files; owns a temporary directory."""

    def __init__(self) -> None:
        self._dir = tempfile.TemporaryDirectory(prefix="mrc-pki-")
        self.directory = Path(self._dir.name)
        self._cas = {"trusted": trustme.CA(), "untrusted": trustme.CA()}
        self.ca_file = str(self.directory / "ca.pem")
        self._cas["trusted"].cert_pem.write_to_path(self.ca_file)
        self._leaves: dict[CertRequest, str] = {}
        self._idle: dict[CertRequest, list[ssl.SSLContext]] = {}

    def chain_file(self, spec: CertRequest) -> str:
        """Path of a PEM with key and chain for `spec`, issued on first use."""
        path = self._leaves.get(spec)
        if path is None:
            if spec.issuer not in self._cas:
                raise ValueError(f"unknown certificate issuer {spec.issuer!r}")
            ca = self._cas[spec.issuer]
            if spec.expired:
                now = datetime.datetime.now(datetime.timezone.utc)
                leaf = ca.issue_cert(
                    *spec.names,
                    not_before=now - datetime.timedelta(days=30),
                    not_after=now - datetime.timedelta(days=1),
                )
            else:
                leaf = ca.issue_cert(*spec.names)
            path = str(self.directory / f"leaf{len(self._leaves)}.pem")
            leaf.private_key_and_cert_chain_pem.write_to_path(path)
            self._leaves[spec] = path
        return path

    def server_context(self, spec: CertRequest) -> ssl.SSLContext:
        """A server context presenting `spec`, for one handshake at a time.

        Contexts are pooled (loading a chain costs ~1 ms): take one here, give it back with
        `release` once its handshake is over, so a per-handshake SNI callback stays exact.
        """
        idle = self._idle.get(spec)
        if idle:
            return idle.pop()
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(self.chain_file(spec))
        return ctx

    def release(self, spec: CertRequest, ctx: ssl.SSLContext) -> None:
        ctx.sni_callback = None
        self._idle.setdefault(spec, []).append(ctx)

    def close(self) -> None:
        self._dir.cleanup()
