"""Scenario -> world: the servers a scenario declares, plus decoys at every plausible wrong place.

Decoys are what make a wrong resolver visible: every (host, port) pair the scenario makes
plausible that has no declared server gets a correctly-certified one (its certificate names every
name and address of the world), so a resolver that goes to the wrong place completes a request
there and is caught by what it sent, instead of merely timing out.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, replace

from matrix_resolver_conformance.catalog.model import (
    CertDecl,
    Scenario,
    ServerDecl,
    WellKnownDecl,
    host_part,
)
from matrix_resolver_harness.dns_server import Record
from matrix_resolver_harness.https_server import WellKnownBehaviour
from matrix_resolver_harness.pki import CertRequest
from matrix_resolver_harness.world import TEMPLATE, HostLayout, SiteLayout, WorldLayout

DEFAULT_PORTS = (443, 8448)
WRONG_NAME = "wrong-name.invalid"
# Any ":port" at the end of a JSON string value in a well-known body or header: over-matching
# only adds decoys, missing one would leave a plausible destination without a server.
_BODY_PORT = re.compile(r':(\d{1,5})\s*(?=["\]\s]|$)')


@dataclass(frozen=True)
class Stage:
    world: WorldLayout
    roles: dict[str, str]  # site label -> "expected" | "declared" | "decoy"
    well_known_at: tuple[str, ...]


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def _records(scenario: Scenario) -> tuple[list[Record], dict[str, set[str]]]:
    """DNS lines -> records; A/AAAA values that are host labels become address templates."""
    records: list[Record] = []
    families: dict[str, set[str]] = {}
    for line in scenario.dns:
        name, rtype, *rest = line.split()
        value = " ".join(rest)
        if rtype in ("A", "AAAA") and not _is_ip(value) and "${" not in value:
            family = "v4" if rtype == "A" else "v6"
            families.setdefault(value, set()).add(family)
            value = f"${{{value}.{family}}}"
        records.append(Record(name.rstrip(".").lower(), rtype, value))
    return records, families


def _documents(scenario: Scenario) -> list[WellKnownDecl]:
    """Every delegation document the scenario serves (well-knowns, other paths)."""
    decls = [scenario.well_known] + [s.well_known for s in scenario.servers]
    decls += [d for s in scenario.servers for _, d in s.documents]
    return [d for d in decls if d is not None]


def _strings(scenario: Scenario) -> list[str]:
    e = scenario.expect
    sni = e.sni if isinstance(e.sni, str) else ""
    texts = [scenario.server_name, e.host or "", sni, *e.cert, *scenario.dns]
    for wk in _documents(scenario):
        texts += [wk.body, *(v for _, v in wk.headers)]
    for s in scenario.servers:
        texts += list(s.cert.names)
    return texts


def stage(scenario: Scenario) -> Stage:
    records, families = _records(scenario)
    for text in _strings(scenario):
        for label, family in TEMPLATE.findall(text):
            families.setdefault(label, set()).add(family)
    expected = set(scenario.expect.sites)
    declared = {s.label: s for s in scenario.servers}
    labels = [*expected, *declared, *(scenario.expect.well_known_at or ())]
    for site in labels:
        families.setdefault(site.rsplit(":", 1)[0], set())
    hosts = tuple(
        HostLayout(label, v4=("v4" in fam or not fam), v6="v6" in fam)
        for label, fam in sorted(families.items())
    )

    origin = _origin_host(scenario, records)
    if scenario.well_known is not None:
        if origin is None:
            raise ValueError(
                f"{scenario.id}: well_known given but {scenario.server_name} has no A/AAAA"
            )
        label = f"{origin}:443"
        base = declared.get(label, ServerDecl(origin, 443))
        declared[label] = replace(base, port=443, well_known=scenario.well_known)

    all_names = _all_names(records, hosts, scenario.server_name)
    sites: list[SiteLayout] = []
    roles: dict[str, str] = {}
    for label, decl in declared.items():
        if decl.refuse:
            roles[label] = "refused"
            continue
        default = (
            scenario.expect.identity if label in expected
            else _names_of(decl.host, records, hosts)
        )  # fmt: skip
        cert = None if decl.plain else _cert(decl.cert, default)
        documents = tuple((path, _behaviour(d)) for path, d in decl.documents)
        sites.append(SiteLayout(decl.host, decl.port, cert, decl.silent,
                                _behaviour(decl.well_known), documents))  # fmt: skip
        roles[label] = "expected" if label in expected else "declared"
    for label in sorted(expected - set(declared)):
        name, port = label.rsplit(":", 1)
        sites.append(SiteLayout(name, int(port), _cert(CertDecl(), scenario.expect.identity)))
        roles[label] = "expected"
    decoy_cert = CertRequest(all_names)
    for host in hosts:
        for decoy_port in sorted(_ports(scenario, records)):
            label = f"{host.label}:{decoy_port}"
            if label not in roles:
                sites.append(SiteLayout(host.label, decoy_port, decoy_cert))
                roles[label] = "decoy"

    world = WorldLayout(
        hosts=hosts,
        records=tuple(records),
        servfail=frozenset(scenario.dns_servfail),
        silent=frozenset(scenario.dns_silent),
        faults=scenario.dns_faults,
        sites=tuple(sites),
    )
    return Stage(world, roles, _well_known_at(scenario, origin))


def _origin_host(scenario: Scenario, records: list[Record]) -> str | None:
    """The host label the server name's hostname points at (following CNAMEs in the zone)."""
    name = scenario.server_name
    m = TEMPLATE.search(name)
    if m:
        return m.group(1)
    name = name.rsplit(":", 1)[0].rstrip(".").lower()
    for _ in range(8):
        for r in records:
            if r.name == name and r.rtype in ("A", "AAAA"):
                found = TEMPLATE.fullmatch(r.value)
                return found.group(1) if found else None
        cname = next((r.value for r in records if r.name == name and r.rtype == "CNAME"), None)
        if cname is None:
            return None
        name = cname.rstrip(".").lower()
    return None


def _names_of(host: str, records: list[Record], hosts: tuple[HostLayout, ...]) -> tuple[str, ...]:
    """A declared server's default certificate: the names pointing at its host, else its
    addresses (whichever families it has)."""
    names = {r.name for r in records if r.rtype in ("A", "AAAA") and f"${{{host}." in r.value}
    if names:
        return tuple(sorted(names))
    spec = next(h for h in hosts if h.label == host)
    return tuple(f"${{{host}.{fam}}}" for fam, has in (("v4", spec.v4), ("v6", spec.v6)) if has)


_HOSTNAME = re.compile(r"[A-Za-z0-9-]{1,63}(\.[A-Za-z0-9-]{1,63})*")


def _certifiable(name: str) -> bool:
    """A certificate can name it: a plain host name (not SRV owner names with `_`, not the
    malformed server names of grammar scenarios, not templates), which the certificate library
    can also encode: trustme passes every name through IDNA2008, which refuses an A-label whose
    Punycode decodes to disallowed characters (`xn--9s9hnf.test`, an SRV target of the catalog)."""
    if len(name) > 253 or _HOSTNAME.fullmatch(name) is None:
        return False
    if not any(label[:4].lower() == "xn--" for label in name.split(".")):
        return True
    import idna  # trustme's own dependency, needed only for A-labels

    try:
        idna.encode(name, uts46=True)
    except idna.IDNAError:
        return False
    return True


def _all_names(
    records: list[Record], hosts: tuple[HostLayout, ...], server_name: str
) -> tuple[str, ...]:
    names = {r.name for r in records}
    targets = (r.value.split()[-1] for r in records if r.rtype in ("CNAME", "SRV"))
    names |= {t.rstrip(".").lower() for t in targets}
    names.add(host_part(server_name).rstrip(".").lower())
    names = {n for n in names if _certifiable(n) and not _is_ip(n)}
    addresses = [f"${{{h.label}.v4}}" for h in hosts if h.v4]
    addresses += [f"${{{h.label}.v6}}" for h in hosts if h.v6]
    return (*sorted(names), *addresses)


def _cert(decl: CertDecl, default: tuple[str, ...]) -> CertRequest:
    names = decl.names or default
    if decl.variant == "wrong-name":
        return CertRequest((WRONG_NAME,))
    if decl.variant == "untrusted":
        return CertRequest(names, issuer="untrusted")
    if decl.variant == "expired":
        return CertRequest(names, expired=True)
    return CertRequest(names)


def _behaviour(decl: WellKnownDecl | None) -> WellKnownBehaviour:
    if decl is None:
        return WellKnownBehaviour()
    return WellKnownBehaviour(
        decl.status, decl.body, decl.headers, decl.hang, decl.pad_to, decl.chunks,
        decl.chunk_delay, decl.endless,
    )  # fmt: skip


def _ports(scenario: Scenario, records: list[Record]) -> set[int]:
    ports = set(DEFAULT_PORTS)
    ports |= {int(r.value.split()[2]) for r in records if r.rtype == "SRV"}
    ports |= {int(s.rsplit(":", 1)[1]) for s in scenario.expect.sites}
    ports |= {s.port for s in scenario.servers}
    m = re.search(r":(\d+)$", scenario.server_name)
    if m:
        ports.add(int(m.group(1)))
    for wk in _documents(scenario):
        for text in (wk.body, *(v for _, v in wk.headers)):
            ports |= {int(p) for p in _BODY_PORT.findall(text)}
    return {p for p in ports if 0 < p < 65536}


def _well_known_at(scenario: Scenario, origin: str | None) -> tuple[str, ...]:
    if scenario.expect.well_known_at is not None:
        return scenario.expect.well_known_at
    has_port = re.search(r":\d+$", scenario.server_name) is not None
    if origin is None or has_port or TEMPLATE.search(scenario.server_name):
        return ()
    return (f"{origin}:443",)
