"""The fake world's PKI issues the identities scenarios rely on, checked with real TLS handshakes.

Covered: a DNS-name leaf verifies for its name only; an IP-SAN leaf verifies for its IP (the way
a resolver connecting to an IP literal checks it) while a DNS-only leaf does not; the "untrusted"
issuer and `expired=True` fail verification with the right reason; leaves are cached per
CertRequest;
`close()` removes the directory. Why: every certificate verdict in the suite ("the resolver must
refuse this certificate") is only meaningful if the certificates really are what they claim.

Handshakes run in memory (two `ssl.SSLObject`s pumped through `MemoryBIO`s): the client is the
stock `ssl.create_default_context(cafile=pki.ca_file)`, the server `pki.server_context(spec)`.
"""

from __future__ import annotations

import os
import ssl

import pytest

from matrix_resolver_harness.pki import CertificateAuthority, CertRequest


@pytest.fixture(scope="module")
def pki(conformance_runtime) -> CertificateAuthority:
    return conformance_runtime.pki


def handshake(pki: CertificateAuthority, spec: CertRequest, server_hostname: str) -> dict:
    """Run a full TLS handshake in memory; return the peer certificate the client verified.

    Raises the client's ssl.SSLCertVerificationError when it refuses the server's certificate.
    """
    client_ctx = ssl.create_default_context(cafile=pki.ca_file)
    c_in, c_out, s_in, s_out = (ssl.MemoryBIO() for _ in range(4))
    client = client_ctx.wrap_bio(c_in, c_out, server_hostname=server_hostname)
    server = pki.server_context(spec).wrap_bio(s_in, s_out, server_side=True)
    done = {"client": False, "server": False}
    for _ in range(20):
        for name, obj in (("client", client), ("server", server)):
            if done[name]:
                continue
            try:
                obj.do_handshake()
                done[name] = True
            except ssl.SSLWantReadError:
                pass
            except ssl.SSLError:
                if name == "client":
                    raise
                done[name] = True  # the server sees the client's alert; the client's error counts
        s_in.write(c_out.read())
        c_in.write(s_out.read())
        if done["client"] and done["server"]:
            break
    assert done["client"], "handshake did not complete"
    cert = client.getpeercert()
    assert cert is not None
    return cert


def san(cert: dict) -> set[tuple[str, str]]:
    return set(cert.get("subjectAltName", ()))


def test_dns_leaf_verifies_for_its_name(pki: CertificateAuthority) -> None:
    cert = handshake(pki, CertRequest(("origin.test",)), "origin.test")
    assert ("DNS", "origin.test") in san(cert)


def test_dns_leaf_name_match_is_case_insensitive(pki: CertificateAuthority) -> None:
    handshake(pki, CertRequest(("origin.test",)), "Origin.TEST")


def test_dns_leaf_fails_for_another_name(pki: CertificateAuthority) -> None:
    with pytest.raises(ssl.SSLCertVerificationError) as err:
        handshake(pki, CertRequest(("origin.test",)), "other.test")
    assert "other.test" in err.value.verify_message


def test_leaf_with_several_names_verifies_for_each(pki: CertificateAuthority) -> None:
    spec = CertRequest(("a.test", "b.test"))
    for name in ("a.test", "b.test"):
        handshake(pki, spec, name)
    with pytest.raises(ssl.SSLCertVerificationError):
        handshake(pki, spec, "c.test")


@pytest.mark.parametrize("ip", ["127.31.0.7", "fd00:5e:1::7"])
def test_ip_san_leaf_verifies_for_its_ip(pki: CertificateAuthority, ip: str) -> None:
    cert = handshake(pki, CertRequest((ip,)), ip)
    kinds = {kind for kind, _ in san(cert)}
    assert kinds == {"IP Address"}


def test_ip_san_leaf_fails_for_another_ip(pki: CertificateAuthority) -> None:
    with pytest.raises(ssl.SSLCertVerificationError):
        handshake(pki, CertRequest(("127.31.0.7",)), "127.31.0.8")


def test_dns_only_leaf_fails_for_an_ip(pki: CertificateAuthority) -> None:
    # An IP literal only ever matches an IP SAN, never a DNS name.
    with pytest.raises(ssl.SSLCertVerificationError) as err:
        handshake(pki, CertRequest(("origin.test",)), "127.31.0.7")
    assert "IP address mismatch" in err.value.verify_message


def test_untrusted_issuer_fails_verification(pki: CertificateAuthority) -> None:
    with pytest.raises(ssl.SSLCertVerificationError) as err:
        handshake(pki, CertRequest(("origin.test",), issuer="untrusted"), "origin.test")
    assert "local issuer" in err.value.verify_message


def test_expired_leaf_fails_with_expiry_error(pki: CertificateAuthority) -> None:
    with pytest.raises(ssl.SSLCertVerificationError) as err:
        handshake(pki, CertRequest(("origin.test",), expired=True), "origin.test")
    assert err.value.verify_code == 10  # X509_V_ERR_CERT_HAS_EXPIRED
    assert "expired" in err.value.verify_message


def test_unknown_issuer_is_rejected(pki: CertificateAuthority) -> None:
    with pytest.raises(ValueError, match="unknown certificate issuer"):
        pki.chain_file(CertRequest(("origin.test",), issuer="nobody"))


def test_chain_files_are_cached_per_spec(pki: CertificateAuthority) -> None:
    spec = CertRequest(("cache.test",))
    first = pki.chain_file(spec)
    assert pki.chain_file(CertRequest(("cache.test",))) == first
    with open(first, "rb") as f:
        content = f.read()
    assert pki.chain_file(spec) == first
    with open(first, "rb") as f:
        assert f.read() == content  # not re-issued
    others = [
        CertRequest(("cache2.test",)),
        CertRequest(("cache.test", "cache2.test")),
        CertRequest(("cache.test",), issuer="untrusted"),
        CertRequest(("cache.test",), expired=True),
    ]
    paths = [first, *(pki.chain_file(s) for s in others)]
    assert len(set(paths)) == len(paths)
    assert all(os.path.dirname(p) == str(pki.directory) for p in paths)


def test_describe_names_issuer_and_expiry() -> None:
    text = CertRequest(("a.test", "127.0.0.1"), issuer="untrusted", expired=True).describe()
    assert "a.test, 127.0.0.1" in text and "untrusted" in text and "expired" in text
    assert CertRequest(("a.test",)).describe() == "certificate for a.test"


def test_close_removes_the_directory() -> None:
    ca = CertificateAuthority()
    leaf = ca.chain_file(CertRequest(("gone.test",)))
    assert os.path.isfile(ca.ca_file) and os.path.isfile(leaf)
    ca.close()
    assert not ca.directory.exists()
    assert not os.path.exists(leaf)
