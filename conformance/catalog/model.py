"""The scenario catalog: TOML files in fixtures/, one per spec step, loaded and checked strictly.

A scenario is plain data: the world (DNS records, well-known behaviour, servers and their
certificates), the server name to fetch, and the hand-written expectation. Unknown keys, bad
levels and malformed records are load errors naming the file and the scenario, so a typo in the
catalog can never silently weaken a scenario. The format is documented in fixtures/README.md.
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from conformance.rulesets import LATEST, RuleSetError, check_range, in_range, previous

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

LEVELS = ("required", "recommended", "robustness")
STEPS = (
    "1", "2", "3", "3.1", "3.2", "3.3", "3.4", "3.5", "4", "5", "6", "tls", "grammar",
)  # fmt: skip
ID_PATTERN = re.compile(r"[a-z0-9][a-z0-9.\-]*")
SITE_PATTERN = re.compile(r"([A-Za-z0-9_-]+):(\d+)")


class CatalogError(ValueError):
    """A fixture file is malformed; the message names the file and scenario."""


@dataclass(frozen=True)
class CertDecl:
    """A certificate as a scenario states it: names, or one of the refusal variants."""

    names: tuple[str, ...] = ()  # empty: the default for that server
    variant: str = "valid"  # "valid" | "wrong-name" | "untrusted" | "expired"


@dataclass(frozen=True)
class WellKnownDecl:
    status: int = 200
    body: str = ""
    headers: tuple[tuple[str, str], ...] = (("Content-Type", "application/json"),)
    hang: bool = False
    pad_to: int = 0


@dataclass(frozen=True)
class ServerDecl:
    """A server the scenario places explicitly (everything else plausible gets a decoy)."""

    host: str
    port: int
    cert: CertDecl = CertDecl()
    refuse: bool = False  # nothing listens: connections are refused
    silent: bool = False  # accepts TCP, never answers
    plain: bool = False  # plain HTTP, no TLS
    well_known: WellKnownDecl | None = None

    @property
    def label(self) -> str:
        return f"{self.host}:{self.port}"


@dataclass(frozen=True)
class Expectation:
    """What the spec demands, as observed by the world. Strings may hold ${host.v4} templates."""

    sites: tuple[str, ...]  # sites that may receive the federation request; () = none may
    host: str | None = None  # the Host header the request must carry
    sni: str | None = None  # checked only when set; "none" means no SNI
    cert: tuple[str, ...] = ()  # identity of the expected sites' certificate (default: host)
    well_known_at: tuple[str, ...] | None = None  # None: the default (see staging)
    well_known_host: str | None = None
    well_known_sni: str | None = None
    well_known_max: int | None = None
    well_known_min: int | None = None  # at least this many (e.g. `no-store` forbids caching)
    host_exact: bool = False  # compare Host case-sensitively (server names are case-sensitive)
    dns_absent: tuple[str, ...] = ()  # "name TYPE" queries that must not be made
    no_traffic: bool = False  # no DNS query and no connection at all

    def describe(self) -> str:
        if not self.sites:
            return "no federation request reaches any server"
        where = " or ".join(self.sites)
        text = f"GET at {where} with Host {self.host!r}"
        if self.sni is not None:
            text += " and no SNI" if self.sni == "none" else f" and SNI {self.sni!r}"
        return text


@dataclass(frozen=True)
class Override:
    """How one range of rule sets differs: a different expectation (merged over the base one,
    with the sentence of that text), or not applicable at all (`skip`)."""

    within: str  # "..v1.7", "draft-b971bcee..draft-39b71413", "r0.1.0"
    change: str = ""  # what that text says differently (shown by `diff`)
    sentence: str = ""
    expect: dict[str, Any] = field(default_factory=dict)
    skip: str = ""


@dataclass(frozen=True)
class Scenario:
    id: str
    step: str
    level: str
    sentence: str
    server_name: str
    expect: Expectation
    note: str = ""
    fetches: int = 1
    dns: tuple[str, ...] = ()
    dns_servfail: tuple[str, ...] = ()
    dns_silent: tuple[str, ...] = ()
    well_known: WellKnownDecl | None = None  # shorthand for the origin's :443 server
    servers: tuple[ServerDecl, ...] = ()
    overrides: tuple[Override, ...] = ()
    expect_raw: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)
    source: str = field(default="", compare=False)
    change: str = ""  # set on a scenario applied to a rule set with an override

    def under(self, ruleset: str = LATEST) -> Scenario | str:
        """This scenario as rule set `ruleset` has it, or the reason it does not apply."""
        for o in self.overrides:
            if not in_range(ruleset, o.within):
                continue
            if o.skip:
                return o.skip
            return replace(
                self,
                expect=_expectation(_merge(self.expect_raw, o.expect)),
                sentence=o.sentence or self.sentence,
                change=o.change,
            )
        return self


# -- loading ------------------------------------------------------------------------------------


def fixtures_dir() -> Path:
    """fixtures/ of a checkout (or editable install), else the copy shipped in the wheel."""
    here = Path(__file__).resolve().parent
    for candidate in (here.parent / "fixtures", here / "_fixtures"):
        if candidate.is_dir():
            return candidate
    raise CatalogError(f"no fixtures directory next to {here}")


def load_catalog(directory: Path | None = None) -> list[Scenario]:
    directory = directory or fixtures_dir()
    scenarios: list[Scenario] = []
    seen: dict[str, str] = {}
    for path in sorted(directory.glob("*.toml")):
        with path.open("rb") as f:
            try:
                data = tomllib.load(f)
            except tomllib.TOMLDecodeError as e:
                raise CatalogError(f"{path.name}: {e}") from None
        _only(data, {"scenario", "defaults"}, path.name)
        defaults = data.get("defaults", {})
        _only(defaults, {"since", "since_reason"}, f"{path.name}: [defaults]")
        for raw in data.get("scenario", []):
            sid = raw.get("id", "?")
            where = f"{path.name}: scenario {sid!r}"
            try:
                scenario = _scenario({**defaults, **raw}, path.name)
            except (KeyError, TypeError, ValueError, RuleSetError) as e:
                raise CatalogError(f"{where}: {e}") from None
            if scenario.id in seen:
                raise CatalogError(f"{where}: duplicate id (also in {seen[scenario.id]})")
            seen[scenario.id] = path.name
            scenarios.append(scenario)
    return scenarios


def _only(table: dict[str, Any], allowed: set[str], where: str) -> None:
    unknown = set(table) - allowed
    if unknown:
        raise CatalogError(f"{where}: unknown key(s) {sorted(unknown)}; allowed: {sorted(allowed)}")


def _scenario(raw: dict[str, Any], source: str) -> Scenario:
    _only(raw, {
        "id", "step", "level", "sentence", "note", "server_name", "fetches", "dns",
        "dns_servfail", "dns_silent", "well_known", "servers", "expect", "since",
        "since_reason", "rules",
    }, "scenario")  # fmt: skip
    sid = raw["id"]
    if not ID_PATTERN.fullmatch(sid):
        raise ValueError("id must be lower-case letters, digits, '.' and '-'")
    step, level = str(raw["step"]), raw["level"]
    if step not in STEPS:
        raise ValueError(f"step {step!r} is not one of {', '.join(STEPS)}")
    if level not in LEVELS:
        raise ValueError(f"level {level!r} is not one of {', '.join(LEVELS)}")
    for line in raw.get("dns", []):
        _check_record(line)
    fetches = int(raw.get("fetches", 1))
    if fetches < 1:
        raise ValueError("fetches must be >= 1")
    overrides = _overrides(raw)
    for o in overrides:
        if o.expect:
            _expectation(_merge(raw["expect"], o.expect))  # each rule set's must be valid too
    return Scenario(
        id=sid,
        step=step,
        level=level,
        sentence=_text(raw["sentence"]),
        server_name=str(raw["server_name"]),
        expect=_expectation(raw["expect"]),
        note=_text(raw.get("note", "")),
        fetches=fetches,
        dns=tuple(raw.get("dns", [])),
        dns_servfail=tuple(raw.get("dns_servfail", [])),
        dns_silent=tuple(raw.get("dns_silent", [])),
        well_known=_well_known(raw["well_known"]) if "well_known" in raw else None,
        servers=tuple(_server(s) for s in raw.get("servers", [])),
        overrides=overrides,
        expect_raw=dict(raw["expect"]),
        source=source,
    )


def _overrides(raw: dict[str, Any]) -> tuple[Override, ...]:
    """`since` as "not applicable before", then the `rules` entries in order (first match wins)."""
    out = []
    if "since" in raw:
        since = raw["since"]
        check_range(since)
        reason = raw.get("since_reason") or f"not in the spec before {since}"
        earlier = previous(since)
        if earlier is not None:
            out.append(Override(f"..{earlier}", skip=reason))
    for r in raw.get("rules", []):
        _only(r, {"in", "change", "sentence", "expect", "skip"}, "rules")
        check_range(r["in"])
        if bool(r.get("skip")) == bool(r.get("expect")):
            raise ValueError(f"rules entry {r['in']!r}: give exactly one of expect or skip")
        if r.get("expect") and not r.get("change"):
            raise ValueError(f"rules entry {r['in']!r}: say what changed (change = ...)")
        out.append(Override(r["in"], r.get("change", ""), _text(r.get("sentence", "")),
                            dict(r.get("expect", {})), r.get("skip", "")))
    return tuple(out)


def _merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    merged = {**base, **over}
    if merged.get("request") == "none":
        for key in ("host", "sni", "cert"):
            if key not in over:
                merged.pop(key, None)
    return merged


def _text(value: str) -> str:
    return " ".join(str(value).split())


def _check_record(line: str) -> None:
    parts = line.split()
    if len(parts) < 3 or parts[1] not in ("A", "AAAA", "CNAME", "SRV"):
        raise ValueError(f"DNS record {line!r}: expected 'NAME A|AAAA|CNAME|SRV VALUE'")
    if parts[1] == "SRV" and (len(parts) != 6 or not all(p.isdigit() for p in parts[2:5])):
        raise ValueError(f"DNS record {line!r}: SRV wants 'NAME SRV PRIORITY WEIGHT PORT TARGET'")
    if parts[1] != "SRV" and len(parts) != 3:
        raise ValueError(f"DNS record {line!r}: one value expected")


def _site(text: str) -> tuple[str, int]:
    m = SITE_PATTERN.fullmatch(text)
    if not m:
        raise ValueError(f"{text!r} is not a site 'host-label:port'")
    return m.group(1), int(m.group(2))


def _cert(value: Any) -> CertDecl:
    if isinstance(value, str):
        if value not in ("wrong-name", "untrusted", "expired", "valid"):
            raise ValueError(f"cert {value!r}: use a list of names or wrong-name|untrusted|expired")
        return CertDecl(variant=value)
    return CertDecl(names=tuple(value))


def _well_known(value: Any) -> WellKnownDecl:
    if isinstance(value, str):
        return WellKnownDecl(body=value)
    _only(value, {"status", "body", "headers", "hang", "pad_to", "location"}, "well_known")
    headers = dict(value.get("headers", {"Content-Type": "application/json"}))
    if "location" in value:
        headers["Location"] = value["location"]
    return WellKnownDecl(
        status=int(value.get("status", 200)),
        body=value.get("body", ""),
        headers=tuple(headers.items()),
        hang=bool(value.get("hang", False)),
        pad_to=int(value.get("pad_to", 0)),
    )


def _server(value: dict[str, Any]) -> ServerDecl:
    _only(value, {"at", "cert", "refuse", "silent", "plain", "well_known"}, "servers")
    host, port = _site(value["at"])
    return ServerDecl(
        host=host,
        port=port,
        cert=_cert(value["cert"]) if "cert" in value else CertDecl(),
        refuse=bool(value.get("refuse", False)),
        silent=bool(value.get("silent", False)),
        plain=bool(value.get("plain", False)),
        well_known=_well_known(value["well_known"]) if "well_known" in value else None,
    )


def _expectation(value: dict[str, Any]) -> Expectation:
    _only(value, {
        "request", "host", "sni", "cert", "well_known_at", "well_known_host", "well_known_sni",
        "well_known_max", "well_known_min", "host_exact", "dns_absent", "no_traffic",
    }, "expect")  # fmt: skip
    request = value["request"]
    sites: tuple[str, ...] = ()
    if request != "none":
        sites = tuple([request] if isinstance(request, str) else request)
        for s in sites:
            _site(s)
        if "host" not in value:
            raise ValueError("expect.host is required when a request is expected")
    elif "host" in value or "sni" in value:
        raise ValueError("expect.host/sni make no sense when request = 'none'")
    wk_at = value.get("well_known_at")
    for s in wk_at or ():
        _site(s)
    cert = value.get("cert", ())
    return Expectation(
        sites=sites,
        host=value.get("host"),
        sni=value.get("sni"),
        cert=(cert,) if isinstance(cert, str) else tuple(cert),
        well_known_at=None if wk_at is None else tuple(wk_at),
        well_known_host=value.get("well_known_host"),
        well_known_sni=value.get("well_known_sni"),
        well_known_max=value.get("well_known_max"),
        well_known_min=value.get("well_known_min"),
        host_exact=bool(value.get("host_exact", False)),
        dns_absent=tuple(value.get("dns_absent", ())),
        no_traffic=bool(value.get("no_traffic", False)),
    )
