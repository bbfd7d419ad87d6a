"""No accidental passes: where the right outcome is a choice among several targets, the catalog
judges it twice, as a scenario and its mirrored twin (`<id>-mirrored`: the same choice with names,
ports and answer order reversed), so that a resolver following an ordering heuristic instead of
the rule fails at least one of the two.

Each broken resolver here is the reference with one choice made by a heuristic. Every one must
fail at least one scenario of every family it affects, and (stronger) one of every mirrored pair
in those families; the reference passes them all (tests/test_teeth.py runs it on the catalog).
"""

from __future__ import annotations

import contextlib
from collections import defaultdict
from dataclasses import replace
from typing import Any

import pytest

from matrix_resolver_conformance.catalog import Scenario
from matrix_resolver_conformance.reference import resolver as ref
from matrix_resolver_conformance.reference.dns_client import (
    DnsClient,
    DnsLookupError,
    SrvRecord,
)
from tests.broken_srv import with_dns

MIRRORED = "-mirrored"


def _pairs(*originals: str) -> list[str]:
    return [sid for original in originals for sid in (original, original + MIRRORED)]


# -- the families: scenario ids, every one listed with its mirrored twin --------------------------

# step3.2-aaaa-<fault>-a-used: the delegated name's AAAA query fails so (the twin: its A query)
ADDRESS_FAULTS = (
    "servfail", "notimp", "refused", "formerr", "unanswered", "truncated", "wrong-question",
)  # fmt: skip

FAMILIES: dict[str, list[str]] = {
    # the lowest priority first (RFC 2782)
    "priority/3.3": _pairs("step3.3-srv-priority-lowest-first"),
    "priority/3.4": _pairs("step3.4-legacy-priority-lowest-first"),
    "priority/4": _pairs("step4-srv-priority-lowest-first"),
    "priority/5": _pairs("step5-legacy-priority-lowest-first"),
    # by weight within a priority
    "weight/3.3": _pairs(
        "step3.3-srv-same-priority-weighted", "step3.3-srv-weight-decides-within-priority"
    ),
    "weight/4": _pairs(
        "step4-srv-same-priority-weighted", "step4-srv-weight-decides-within-priority"
    ),
    # an unreachable target gives way to the next one, in RFC 2782 order
    "failover/3.3": _pairs(
        "step3.3-srv-failover-connection-refused",
        "step3.3-srv-failover-after-tls-failure",
        "step3.3-srv-failover-target-without-addresses",
        "step3.3-srv-failover-backup-chosen-by-weight",
    ),
    "failover/3.4": _pairs(
        "step3.4-legacy-failover-connection-refused",
        "step3.4-legacy-failover-backup-chosen-by-weight",
    ),
    "failover/4": _pairs(
        "step4-srv-failover-connection-refused",
        "step4-srv-failover-after-tls-failure",
        "step4-srv-failover-silent-target",
        "step4-srv-failover-target-without-addresses",
        "step4-srv-failover-backup-chosen-by-weight",
    ),
    "failover/5": _pairs(
        "step5-legacy-failover-connection-refused",
        "step5-legacy-failover-backup-chosen-by-weight",
    ),
    # `_matrix-fed._tcp` before the deprecated `_matrix._tcp`
    "matrix-fed-over-legacy/3.4": _pairs(
        "step3.4-matrix-fed-wins-over-legacy", "step3.4-legacy-not-queried-when-matrix-fed-found"
    ),
    "matrix-fed-over-legacy/5": _pairs(
        "step5-matrix-fed-wins-over-legacy", "step5-legacy-not-queried-when-matrix-fed-found"
    ),
    # no `_matrix-fed` record: the legacy record, not yet the name's :8448
    "fall-through/3.4": _pairs("step3.4-legacy-after-matrix-fed-nodata"),
    "fall-through/5": _pairs("step5-legacy-after-matrix-fed-nodata"),
    # A vs AAAA: the name's other address when one does not answer
    "address-family/unreachable": _pairs(
        "step3-well-known-on-one-address-family-only",
        "step6-unreachable-address-gives-way-to-other-family",
    ),
    # A vs AAAA: the other family when one lookup fails
    "address-family/failed-lookup": _pairs(
        "step6-aaaa-servfail-a-used", *(f"step3.2-aaaa-{fault}-a-used" for fault in ADDRESS_FAULTS)
    ),
}

# Families with only `_matrix._tcp` records: they judge the older texts (r0.1.x ... v1.7) too.
LEGACY_ONLY = ("priority/3.4", "priority/5", "failover/3.4", "failover/5")


def _of(*prefixes: str) -> list[str]:
    return [f for f in FAMILIES if f.startswith(prefixes)]


SRV_CHOICE = _of("priority/", "weight/", "failover/")
ORDER_ONLY = _of("priority/", "weight/")  # no target fails: only the order decides


# -- broken resolvers: one choice made by a heuristic --------------------------------------------


def _flat(records: list[SrvRecord]) -> list[SrvRecord]:
    """Priority and weight erased: the reference then tries the records in the given order."""
    return [replace(r, priority=0, weight=0) for r in records]


class FirstSrvRecordOnly(ref.ReferenceResolver):
    """Uses the first record of the SRV answer and nothing else: no order, no failover."""

    async def _connect_srv(self, step, qname, records, name, context):
        return await super()._connect_srv(step, qname, _flat(records[:1]), name, context)


class LastSrvRecordOnly(ref.ReferenceResolver):
    """Uses the last record of the SRV answer and nothing else."""

    async def _connect_srv(self, step, qname, records, name, context):
        return await super()._connect_srv(step, qname, _flat(records[-1:]), name, context)


class HighestTargetNameFirst(ref.ReferenceResolver):
    """Tries the SRV targets in descending name order (failing over), ignoring priority and
    weight."""

    async def _connect_srv(self, step, qname, records, name, context):
        ordered = sorted(records, key=lambda r: r.target, reverse=True)
        return await super()._connect_srv(step, qname, _flat(ordered), name, context)


class LowestPortFirst(ref.ReferenceResolver):
    """Tries the SRV targets lowest port first (failing over), ignoring priority and weight."""

    async def _connect_srv(self, step, qname, records, name, context):
        ordered = sorted(records, key=lambda r: r.port)
        return await super()._connect_srv(step, qname, _flat(ordered), name, context)


class NoFailover(ref.ReferenceResolver):
    """Orders the SRV targets as RFC 2782 says but tries only the first one."""

    async def _connect_srv(self, step, qname, records, name, context):
        usable = [r for r in records if not r.unavailable]
        first = ref.order_srv(usable, self._rng)[:1] if usable else records
        return await super()._connect_srv(step, qname, first, name, context)


class _Pooled(ref.ReferenceResolver):
    """Asks every SRV service at once and puts their targets and the name's own :8448 in one
    pool, tried in `order`, instead of the steps' precedence."""

    @staticmethod
    def order(pool: list[tuple[str, SrvRecord]]) -> list[tuple[str, SrvRecord]]:
        raise NotImplementedError

    async def _srv_or_default(self, steps, name, context):
        pool = []  # (step, record)
        for step, service in self._srv_services(steps):
            with contextlib.suppress(DnsLookupError):
                records = await self._dns.srv(service + name.host)
                pool += [(step, r) for r in records if not r.unavailable]
        pool.append((steps[2], SrvRecord(0, 0, ref.DEFAULT_PORT, name.host + ".")))
        for step, record in self.order(pool):
            try:
                addresses = await self._dns.addresses(record.target)
                return await self._request(step, addresses, record.port, name, name.host)
            except (DnsLookupError, ref.DiscoveryError):
                continue
        raise ref.DiscoveryError(steps[0], f"nothing in the pool was reachable ({context})")


class PooledLowestPort(_Pooled):
    """`_matrix-fed`, `_matrix` and :8448 as one pool, lowest port first."""

    @staticmethod
    def order(pool: list[tuple[str, SrvRecord]]) -> list[tuple[str, SrvRecord]]:
        return sorted(pool, key=lambda entry: entry[1].port)


class PooledHighestName(_Pooled):
    """`_matrix-fed`, `_matrix` and :8448 as one pool, highest target name first."""

    @staticmethod
    def order(pool: list[tuple[str, SrvRecord]]) -> list[tuple[str, SrvRecord]]:
        return sorted(pool, key=lambda entry: entry[1].target, reverse=True)


class _Ipv6OnlyIfAny(DnsClient):
    async def addresses(self, name: str) -> list[str]:
        found = await super().addresses(name)
        return [a for a in found if ":" in a] or found


class _Ipv4OnlyIfAny(DnsClient):
    async def addresses(self, name: str) -> list[str]:
        found = await super().addresses(name)
        return [a for a in found if ":" not in a] or found


class _BothFamiliesOrNothing(DnsClient):
    async def addresses(self, name: str) -> list[str]:
        for rdtype in ("AAAA", "A"):
            await self._query(name, rdtype)  # a failed (or unanswered) family raises
        return await super().addresses(name)


PreferIpv6Only = with_dns(
    "PreferIpv6Only", _Ipv6OnlyIfAny, "Connects to the IPv6 addresses only, when there are any."
)
PreferIpv4Only = with_dns(
    "PreferIpv4Only", _Ipv4OnlyIfAny, "Connects to the IPv4 addresses only, when there are any."
)
OneFamilyFailureFatal = with_dns(
    "OneFamilyFailureFatal", _BothFamiliesOrNothing, "Gives up when the AAAA or the A query fails."
)

# broken resolver -> the families it affects: it must fail at least one scenario of each, and
# one of every mirrored pair in each
AFFECTS: dict[type[ref.ReferenceResolver], list[str]] = {
    FirstSrvRecordOnly: SRV_CHOICE,
    LastSrvRecordOnly: SRV_CHOICE,
    HighestTargetNameFirst: ORDER_ONLY + _of("failover/"),
    LowestPortFirst: ORDER_ONLY + _of("failover/"),
    NoFailover: _of("failover/"),
    PooledLowestPort: _of("matrix-fed-over-legacy/", "fall-through/"),
    PooledHighestName: _of("matrix-fed-over-legacy/", "fall-through/"),
    PreferIpv6Only: ["address-family/unreachable"],
    PreferIpv4Only: ["address-family/unreachable"],
    OneFamilyFailureFatal: ["address-family/failed-lookup"],
}

# Failover pairs with two records (one fails): a heuristic that fails over reaches the backup
# whatever its order, so only the pairs where two backups compete (chosen by weight) must catch
# the ordering heuristics; the pair-by-pair check below skips the others for them.
TWO_RECORD_FAILOVER = {
    sid
    for family in _of("failover/")
    for sid in FAMILIES[family]
    if "backup-chosen-by-weight" not in sid
}
FAILS_OVER = (HighestTargetNameFirst, LowestPortFirst)


def _name(obj: Any) -> str:
    return obj.__name__


@pytest.mark.parametrize("broken", list(AFFECTS), ids=_name)
def test_heuristic_fails_every_family_it_affects(broken, catalog, run) -> None:
    failed: dict[str, bool] = {}
    for family in AFFECTS[broken]:
        for sid in FAMILIES[family]:
            verdict = run(catalog[sid], broken).verdict
            assert verdict is not None, f"{sid} was skipped"
            failed[sid] = not verdict.passed
    problems = []
    for family in AFFECTS[broken]:
        if not any(failed[sid] for sid in FAMILIES[family]):
            problems.append(f"family {family}: passed all of {FAMILIES[family]}")
        for original in FAMILIES[family][::2]:
            if broken in FAILS_OVER and original in TWO_RECORD_FAILOVER:
                continue
            if not failed[original] and not failed[original + MIRRORED]:
                problems.append(f"family {family}: passed both {original} and its twin")
    assert not problems, f"{_name(broken)} passes by accident:\n" + "\n".join(problems)


def _world(scenario: Scenario) -> tuple[object, ...]:
    s = scenario
    return (s.dns, s.dns_servfail, s.dns_silent, s.dns_faults, s.servers)


def test_families_are_mirrored_pairs(catalog) -> None:
    listed = [sid for sids in FAMILIES.values() for sid in sids]
    assert len(listed) == len(set(listed)), "a scenario is in two families"
    missing = [sid for sid in listed if sid not in catalog]
    assert not missing, f"families name scenarios the catalog lacks: {missing}"
    for family, sids in FAMILIES.items():
        for original, twin in zip(sids[::2], sids[1::2], strict=True):
            assert twin == original + MIRRORED, (family, original, twin)
            a, b = catalog[original], catalog[twin]
            assert (a.step, a.level, a.sentence) == (b.step, b.level, b.sentence), twin
            assert _world(a) != _world(b), f"{twin} mirrors nothing"


def test_legacy_only_families_apply_to_older_texts(catalog) -> None:
    for family in LEGACY_ONLY:
        for sid in FAMILIES[family]:
            scenario = catalog[sid]
            assert not any("_matrix-fed" in line for line in scenario.dns), sid
            for ruleset in ("r0.1.1", "v1.7"):
                assert not isinstance(scenario.under(ruleset), str), f"{sid} skips {ruleset}"


def _choices(scenario: Scenario) -> set[str]:
    """What the world makes a resolver choose among, when the expectation names a site: several
    SRV records at one name, both SRV services for one name, A and AAAA of one name on different
    machines, or one address family of a name failing while the other answers."""
    if not scenario.expect.sites:
        return set()
    srv: dict[str, int] = defaultdict(int)
    families: dict[str, dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))
    for line in scenario.dns:
        name, rtype, *rest = line.split()
        name = name.rstrip(".").lower()
        if rtype == "SRV" and rest[-1] != ".":
            srv[name] += 1
        if rtype in ("A", "AAAA"):
            families[name][rtype].add(rest[0])
    kinds = set()
    if any(n >= 2 for n in srv.values()):
        kinds.add("several SRV records")
    fed = "_matrix-fed._tcp."
    if any(o.startswith(fed) and "_matrix._tcp." + o[len(fed) :] in srv for o in srv):
        kinds.add("both SRV services")
    if any(f["A"] and f["AAAA"] and f["A"] != f["AAAA"] for f in families.values()):
        kinds.add("A and AAAA on different machines")
    failing = [*scenario.dns_servfail, *scenario.dns_silent, *(e for e, _ in scenario.dns_faults)]
    for entry in failing:
        parts = entry.split()
        if len(parts) == 2 and parts[1] in ("A", "AAAA"):
            other = "AAAA" if parts[1] == "A" else "A"
            if families[parts[0].rstrip(".").lower()][other]:
                kinds.add("one address family failing")
    return kinds


def test_every_choice_has_a_mirrored_twin(catalog) -> None:
    """A scenario whose world offers a choice has its twin in the catalog and in a family here,
    so new choice scenarios cannot slip in without one."""
    listed = {sid for sids in FAMILIES.values() for sid in sids}
    lonely = []
    for sid, scenario in catalog.items():
        kinds = _choices(scenario)
        if not kinds:
            continue
        original = sid.removesuffix(MIRRORED)
        if original + MIRRORED not in catalog or sid not in listed:
            lonely.append(f"{sid} ({', '.join(sorted(kinds))})")
    assert not lonely, "choice scenarios without a mirrored twin in FAMILIES:\n" + "\n".join(lonely)
