"""fixtures/*.toml -> scenarios, checked strictly.

Unknown keys, bad levels and malformed records are load errors naming the file and the scenario,
so a typo in the catalog can never silently weaken a scenario. Overrides are resolved here, once:
each rule set's expectation is a complete `Expectation`, validated like the current one.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from matrix_resolver_conformance.catalog.files import CatalogError, fixtures_dir, read_toml
from matrix_resolver_conformance.catalog.model import (
    LEVELS,
    NO_SNI,
    STEPS,
    CertDecl,
    Expectation,
    ExpectedSni,
    Override,
    Scenario,
    ServerDecl,
    WellKnownDecl,
)
from matrix_resolver_conformance.catalog.rulesets import (
    RuleSetError,
    check_range,
    first_match,
    registry,
)

__all__ = ["CatalogError", "fixtures_dir", "load_catalog", "read_toml"]

WELL_KNOWN_PATH = "/.well-known/matrix/server"
ID_PATTERN = re.compile(r"[a-z0-9][a-z0-9.\-]*")
SITE_PATTERN = re.compile(r"([A-Za-z0-9_-]+):(\d+)")
NONE = "none"  # the fixtures' word for "nothing is sent"


def load_catalog(directory: Path | None = None) -> list[Scenario]:
    """Every scenario of `directory` (default: fixtures_dir()), with the overrides of every
    proposal (spec/proposal-*.toml) added and every rule set's expectation resolved."""
    directory = directory or fixtures_dir()
    scenarios: list[Scenario] = []
    seen: dict[str, str] = {}
    reg = registry(directory, refresh=True)
    if directory == fixtures_dir():
        registry(refresh=True)  # the one ranges and `under` read
    files: list[tuple[str, dict[str, Any], dict[str, Any]]] = []
    for path in sorted(directory.glob("*.toml")):
        data = read_toml(path)
        _only(data, {"scenario", "defaults"}, path.name)
        files.append((path.name, data, data.get("defaults", {})))
    patches: dict[str, list[dict[str, Any]]] = {}
    for name in reg.proposals:  # a proposal's own scenarios, and its overrides by scenario id
        data = reg.raw_proposals[name]
        where = reg.rule_sets[name].file
        _only(data, {"ruleset", "override", "scenario", "sentence", "reviewed"}, where)
        files.append((where, data, {"since": name}))
        for entry in data.get("override", []):
            allowed = {"scenario", "change", "sentence", "sentence_id", "expect", "skip", "level"}
            _only(entry, allowed, f"{where}: override")
            if "scenario" not in entry:
                raise CatalogError(f"{where}: an [[override]] without `scenario = ID`")
            patches.setdefault(entry["scenario"], []).append(
                {k: v for k, v in entry.items() if k != "scenario"} | {"in": name, "_from": where}
            )
    for file, data, defaults in files:
        _only(defaults, {"since", "since_reason"}, f"{file}: [defaults]")
        for raw in data.get("scenario", []):
            where = f"{file}: scenario {raw.get('id', '?')!r}"
            raw = {**defaults, **raw}
            raw["rules"] = [*raw.get("rules", []), *patches.pop(raw.get("id", ""), [])]
            try:
                scenario = _scenario(raw)
            except (KeyError, TypeError, ValueError, RuleSetError) as e:
                raise CatalogError(f"{where}: {e}") from None
            if scenario.id in seen:
                raise CatalogError(f"{where}: duplicate id (also in {seen[scenario.id]})")
            seen[scenario.id] = file
            scenarios.append(scenario)
    for sid, entries in patches.items():
        raise CatalogError(f"{entries[0]['_from']}: [[override]] of unknown scenario {sid!r}")
    return scenarios


def _only(table: dict[str, Any], allowed: set[str], where: str) -> None:
    unknown = set(table) - allowed
    if unknown:
        raise CatalogError(f"{where}: unknown key(s) {sorted(unknown)}; allowed: {sorted(allowed)}")


def _scenario(raw: dict[str, Any]) -> Scenario:
    _only(raw, {
        "id", "step", "level", "sentence", "note", "server_name", "fetches", "dns",
        "dns_servfail", "dns_silent", "dns_faults", "well_known", "servers", "expect", "since",
        "since_reason", "rules", "rule", "sentence_id", "rests_on",
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
        dns_faults=tuple(_fault(f) for f in raw.get("dns_faults", [])),
        well_known=_well_known(raw["well_known"]) if "well_known" in raw else None,
        servers=tuple(_server(s) for s in raw.get("servers", [])),
        overrides=_overrides(raw),
        rule=_rule(raw.get("rule", "")),
        since=_since(raw),
        sentence_ids=_ids(raw.get("sentence_id", ())),
        rests_on=_ids(raw.get("rests_on", ())),
        since_reason=_text(raw.get("since_reason", "")),
    )


def _ids(value: Any) -> tuple[str, ...]:
    """`sentence_id` / `rests_on`: one id or a list of them, each well-formed."""
    from matrix_resolver_conformance.catalog.sentences import part_of

    ids = (value,) if isinstance(value, str) else tuple(value)
    for i in ids:
        part_of(i)
    if len(set(ids)) != len(ids):
        raise ValueError(f"the same sentence twice in {list(ids)}")
    return ids


def _since(raw: dict[str, Any]) -> str:
    since = str(raw.get("since", ""))
    if since:
        check_range(since)
        if ".." in since or "," in since:
            raise ValueError(f"since = {since!r}: one rule set")
    return since


def _overrides(raw: dict[str, Any]) -> tuple[Override, ...]:
    """The `rules` entries in order (the first naming a rule set decides; a proposal inherits
    its parent's). A proposal's expectation is merged over its parent's, any other's over the
    current one."""
    out = []
    merged: list[dict[str, Any] | None] = []  # each entry's whole expectation, as written
    for r in raw.get("rules", []):
        _only(r, {"in", "change", "sentence", "sentence_id", "expect", "skip", "level", "_from"},
              "rules")  # fmt: skip
        check_range(r["in"])
        if bool(r.get("skip")) == bool(r.get("expect")):
            raise ValueError(f"rules entry {r['in']!r}: give exactly one of expect or skip")
        if r.get("skip"):
            out.append(Override(r["in"], skip=r["skip"]))
            merged.append(None)
            continue
        if not r.get("change"):
            raise ValueError(f"rules entry {r['in']!r}: say what changed (change = ...)")
        base = _parent_expect(raw["expect"], [o.within for o in out], merged, r["in"])
        whole = _merge(base, r["expect"])
        merged.append(whole)
        level = r.get("level", "")
        if level and level not in LEVELS:
            raise ValueError(f"rules entry {r['in']!r}: level {level!r} is not one of {LEVELS}")
        out.append(Override(r["in"], r["change"], _text(r.get("sentence", "")),
                            _expectation(whole), level=level,
                            sentence_ids=_ids(r.get("sentence_id", ()))))  # fmt: skip
    return tuple(out)


def _parent_expect(
    current: dict[str, Any], spans: list[str], merged: list[dict[str, Any] | None], span: str
) -> dict[str, Any]:
    """What an entry for `span` is merged over: for a proposal, the expectation its parent has
    (from the entries before it); for anything else, the current one."""
    reg = registry()
    name = span.strip()
    if "," in name or ".." in name or not reg.get(name).proposal:
        return current
    parent = reg.get(name).parent
    index = first_match(spans, parent)
    if index is None:
        return current
    whole = merged[index]
    if whole is None:
        raise ValueError(f"rules entry {span!r}: its parent {parent} skips the scenario")
    return whole


def _merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    merged = {**base, **over}
    if merged.get("request") == NONE:
        for key in ("host", "sni", "cert"):
            if key not in over:
                merged.pop(key, None)
    return merged


def _rule(name: str) -> str:
    from matrix_resolver_conformance.catalog.rules import RULES

    if name and name not in RULES:
        raise ValueError(f"rule {name!r} is not one of {', '.join(RULES)}")
    return name


def _fault(text: str) -> tuple[str, str]:
    """ "NAME [TYPE] FAULT" -> ("NAME [TYPE]", FAULT)."""
    from matrix_resolver_harness.dns_server import FAULTS

    entry, _, fault = text.rpartition(" ")
    if not entry or fault not in FAULTS:
        raise ValueError(
            f"dns_faults entry {text!r}: expected 'NAME [TYPE] FAULT', FAULT one of "
            f"{', '.join(FAULTS)}"
        )
    return entry, fault


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


def site(text: str) -> tuple[str, int]:
    """`label:port` -> (label, port), or ValueError."""
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
    _only(value, {"status", "body", "headers", "hang", "pad_to", "pad_before", "location",
                  "chunks", "chunk_delay", "endless"}, "well_known")  # fmt: skip
    headers = dict(value.get("headers", {"Content-Type": "application/json"}))
    if "location" in value:
        headers["Location"] = value["location"]
    pad_before = int(value.get("pad_before", 0))
    if pad_before < 0:
        raise ValueError(f"pad_before must be >= 0, got {pad_before}")
    return WellKnownDecl(
        status=int(value.get("status", 200)),
        body=" " * pad_before + value.get("body", ""),  # leading JSON whitespace
        headers=tuple(headers.items()),
        hang=bool(value.get("hang", False)),
        pad_to=int(value.get("pad_to", 0)),
        chunks=int(value.get("chunks", 0)),
        chunk_delay=float(value.get("chunk_delay", 0.0)),
        endless=bool(value.get("endless", False)),
    )


def _server(value: dict[str, Any]) -> ServerDecl:
    _only(value, {"at", "cert", "refuse", "silent", "plain", "well_known", "documents"},
          "servers")  # fmt: skip
    host, port = site(value["at"])
    return ServerDecl(
        host=host,
        port=port,
        cert=_cert(value["cert"]) if "cert" in value else CertDecl(),
        refuse=bool(value.get("refuse", False)),
        silent=bool(value.get("silent", False)),
        plain=bool(value.get("plain", False)),
        well_known=_well_known(value["well_known"]) if "well_known" in value else None,
        documents=tuple(_document(p, d) for p, d in value.get("documents", {}).items()),
    )


def _document(path: str, value: Any) -> tuple[str, WellKnownDecl]:
    if not path.startswith("/") or path == WELL_KNOWN_PATH:
        raise ValueError(f"documents path {path!r}: an absolute path other than the well-known")
    return path, _well_known(value)


def _sni(value: Any) -> ExpectedSni:
    if value is None:
        return None
    return NO_SNI if value == NONE else str(value)


def _absent_query(text: str) -> tuple[str, str]:
    name, sep, rtype = text.rpartition(" ")
    if not sep or not name or rtype not in ("A", "AAAA", "CNAME", "SRV"):
        raise ValueError(f"dns_absent entry {text!r}: expected 'NAME TYPE'")
    return name, rtype


def _expectation(value: dict[str, Any]) -> Expectation:
    _only(value, {
        "request", "host", "sni", "cert", "well_known_at", "well_known_host", "well_known_sni",
        "well_known_max", "well_known_min", "host_exact", "dns_absent", "no_traffic",
        "max_connections",
    }, "expect")  # fmt: skip
    request = value["request"]
    sites: tuple[str, ...] = ()
    or_none = False
    if request != NONE:
        sites = tuple([request] if isinstance(request, str) else request)
        or_none = NONE in sites  # ["a:8448", "none"]: a request there, or none at all
        sites = tuple(s for s in sites if s != NONE)
        for s in sites:
            site(s)
        if "host" not in value:
            raise ValueError("expect.host is required when a request is expected")
    elif "host" in value or "sni" in value:
        raise ValueError("expect.host/sni make no sense when request = 'none'")
    wk_at = value.get("well_known_at")
    for s in wk_at or ():
        site(s)
    cert = value.get("cert", ())
    max_connections = value.get("max_connections", {})
    for s, n in max_connections.items():
        site(s)
        if not isinstance(n, int) or n < 0:
            raise ValueError(f"max_connections[{s!r}] must be a count, got {n!r}")
    return Expectation(
        sites=sites,
        or_none=or_none,
        max_connections=tuple(sorted(max_connections.items())),
        host=value.get("host"),
        sni=_sni(value.get("sni")),
        cert=(cert,) if isinstance(cert, str) else tuple(cert),
        well_known_at=None if wk_at is None else tuple(wk_at),
        well_known_host=value.get("well_known_host"),
        well_known_sni=_sni(value.get("well_known_sni")),
        well_known_max=value.get("well_known_max"),
        well_known_min=value.get("well_known_min"),
        host_exact=bool(value.get("host_exact", False)),
        dns_absent=tuple(_absent_query(t) for t in value.get("dns_absent", ())),
        no_traffic=bool(value.get("no_traffic", False)),
    )
