"""Teeth of the SRV, delegation and address-record scenarios (steps 3.1-3.5, 4, 5, 6).

Each broken resolver is the reference with one behaviour changed, a plausible bug of a real
implementation; it must fail every scenario listed for it (not necessarily only those). The
resolvers are in tests/broken_srv.py.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests import broken_resolvers as broken
from tests.broken_srv import (
    AnyFailureFatal,
    DelegationFailureFallsBack,
    DotTargetAsAbsent,
    LegacyAlwaysQueried,
    NoCname,
    NodataAsFailure,
    OnlyA,
    PortInHost,
    ServfailAsAbsent,
    SrvByWeightOnly,
    SrvFailureFallsThrough,
    SrvLastRecordFirst,
    SrvNoFailover,
    TlsNameIsCanonical,
    TlsNameIsOrigin,
)

MUST_FAIL: dict[Any, list[str]] = {
    SrvLastRecordFirst: [
        "step3.3-srv-priority-lowest-first",
        "step4-srv-priority-lowest-first",
        "step5-legacy-priority-lowest-first",
        "step3.3-srv-priority-lowest-first-mirrored",
        "step3.4-legacy-priority-lowest-first",
        "step3.4-legacy-priority-lowest-first-mirrored",
        "step4-srv-priority-lowest-first-mirrored",
        "step5-legacy-priority-lowest-first-mirrored",
        "step4-srv-weight-decides-within-priority-mirrored",
        "step3.3-srv-weight-decides-within-priority-mirrored",
    ],
    SrvByWeightOnly: [
        "step3.3-srv-priority-lowest-first",
        "step3.3-srv-same-priority-weighted",
        "step4-srv-same-priority-weighted",
        "step3.3-srv-same-priority-weighted-mirrored",
        "step3.4-legacy-priority-lowest-first",
        "step4-srv-priority-lowest-first-mirrored",
        "step4-srv-same-priority-weighted-mirrored",
    ],
    SrvNoFailover: [
        "step3.3-srv-failover-connection-refused",
        "step3.3-srv-failover-after-tls-failure",
        "step3.3-srv-failover-target-without-addresses",
        "step3.4-legacy-failover-connection-refused",
        "step4-srv-failover-connection-refused",
        "step4-srv-failover-after-tls-failure",
        "step4-srv-failover-target-without-addresses",
        "step3.3-srv-failover-connection-refused-mirrored",
        "step3.3-srv-failover-after-tls-failure-mirrored",
        "step3.3-srv-failover-target-without-addresses-mirrored",
        "step3.3-srv-failover-backup-chosen-by-weight",
        "step3.4-legacy-failover-connection-refused-mirrored",
        "step3.4-legacy-failover-backup-chosen-by-weight",
        "step4-srv-failover-connection-refused-mirrored",
        "step4-srv-failover-after-tls-failure-mirrored",
        "step4-srv-failover-target-without-addresses-mirrored",
        "step4-srv-failover-backup-chosen-by-weight",
        "step5-legacy-failover-connection-refused",
        "step5-legacy-failover-connection-refused-mirrored",
        "step5-legacy-failover-backup-chosen-by-weight",
    ],
    SrvFailureFallsThrough: [
        "step3.3-srv-target-without-addresses",
        "step3.3-certificate-for-srv-target-refused",
        "step4-srv-target-without-addresses",
        "step4-certificate-for-srv-target-refused",
        "step3.4-legacy-target-without-addresses",
        "step3.4-matrix-fed-unreachable-no-legacy",
        "step4-srv-ip-literal-target",
        "step5-legacy-target-without-addresses",
        "step5-matrix-fed-unreachable-no-legacy",
    ],
    DotTargetAsAbsent: [
        "step3.3-srv-dot-target-no-request",
        "step3.4-matrix-fed-dot-target-stops-legacy",
        "step3.5-legacy-dot-target-no-request",
        "step4-srv-dot-target-no-request",
        "step5-matrix-fed-dot-target-no-legacy",
        "step6-legacy-dot-target-no-request",
    ],
    ServfailAsAbsent: [
        "step3.3-srv-servfail-no-request",
        "step3.5-legacy-servfail-no-request",
        "step4-srv-servfail-no-request",
        "step5-matrix-fed-servfail-no-legacy",
        "step6-legacy-servfail-no-request",
        "step4-srv-refused-no-request",
        "step4-srv-formerr-no-request",
        "step4-srv-truncated-no-request",
        "step4-srv-wrong-question-no-request",
    ],
    NodataAsFailure: [
        "step3.4-legacy-after-matrix-fed-nodata",
        "step3.5-srv-nodata-falls-back-to-8448",
        "step5-legacy-after-matrix-fed-nodata",
        "step5-legacy-after-matrix-fed-empty-non-terminal",
        "step6-srv-nodata-falls-back-to-8448",
        "step3.4-legacy-after-matrix-fed-nodata-mirrored",
        "step5-legacy-after-matrix-fed-nodata-mirrored",
    ],
    LegacyAlwaysQueried: [
        "step3.4-legacy-not-queried-when-matrix-fed-found",
        "step5-legacy-not-queried-when-matrix-fed-found",
        "step3.4-legacy-not-queried-when-matrix-fed-found-mirrored",
        "step5-legacy-not-queried-when-matrix-fed-found-mirrored",
    ],
    broken.legacy_srv_first: [
        "step3.4-legacy-not-queried-when-matrix-fed-found",
        "step5-legacy-not-queried-when-matrix-fed-found",
        "step3.4-legacy-not-queried-when-matrix-fed-found-mirrored",
        "step5-legacy-not-queried-when-matrix-fed-found-mirrored",
    ],
    PortInHost: [
        "step3.3-host-without-srv-port",
        "step3.4-host-without-srv-port",
        "step3.5-aaaa-only-8448",
        "step4-host-without-srv-port",
        "step5-host-without-srv-port",
        "step6-a-and-aaaa-8448",
        "step4-srv-owner-cname-followed",
        "step5-legacy-srv-owner-cname-followed",
        "step6-unreachable-address-gives-way-to-other-family",
    ],
    NoCname: [
        "step3.2-delegated-hostname-cname",
        "step3.5-cname-chain-to-address",
        "step6-cname-chain-to-address",
    ],
    OnlyA: [
        "step3.2-delegated-hostname-aaaa-only",
        "step3.3-srv-target-aaaa-only",
        "step3.4-legacy-target-aaaa-only",
        "step3.5-aaaa-only-8448",
        "step5-legacy-target-aaaa-only",
        "step3-well-known-on-one-address-family-only-mirrored",
        "step3.2-aaaa-servfail-a-used-mirrored",
        "step6-aaaa-servfail-a-used-mirrored",
        "step6-unreachable-address-gives-way-to-other-family-mirrored",
    ],
    AnyFailureFatal: [
        "step6-aaaa-servfail-a-used",
        "step3.2-aaaa-servfail-a-used",
        "step3.2-aaaa-servfail-a-used-mirrored",
        "step3.2-aaaa-notimp-a-used",
        "step3.2-aaaa-notimp-a-used-mirrored",
        "step3.2-aaaa-refused-a-used",
        "step3.2-aaaa-refused-a-used-mirrored",
        "step3.2-aaaa-formerr-a-used",
        "step3.2-aaaa-formerr-a-used-mirrored",
        "step3.2-aaaa-truncated-a-used",
        "step3.2-aaaa-truncated-a-used-mirrored",
        "step6-aaaa-servfail-a-used-mirrored",
    ],
    TlsNameIsOrigin: [
        "step3.3-certificate-for-origin-only-refused",
        "step3.4-certificate-for-origin-only-refused",
        "step3.5-certificate-for-origin-only-refused",
        "step3.4-sni-is-delegated-hostname-not-legacy-target",
        "step3.5-sni-is-delegated-hostname",
        "step3.2-delegated-port-443-kept-in-host",
    ],
    TlsNameIsCanonical: [
        "step3.2-certificate-for-cname-target-refused",
        "step6-certificate-for-cname-target-refused",
    ],
    DelegationFailureFallsBack: [
        "step3.2-delegated-hostname-without-addresses",
        "step3.2-untrusted-certificate-refused",
        "step3.5-delegated-name-without-addresses",
        "step3.5-delegated-name-nodata",
        "step3.5-cname-loop-no-request",
        "step3.4-legacy-target-without-addresses",
        "step3.4-matrix-fed-unreachable-no-legacy",
    ],
    broken.srv_target_as_host: [
        "step3.3-srv-failover-after-tls-failure",
        "step3.4-certificate-for-legacy-target-refused",
        "step3.4-sni-is-delegated-hostname-not-legacy-target",
        "step4-srv-failover-after-tls-failure",
        "step5-certificate-for-legacy-target-refused",
        "step5-sni-is-hostname-not-legacy-target",
        "step3.3-srv-failover-after-tls-failure-mirrored",
        "step4-srv-failover-after-tls-failure-mirrored",
    ],
    broken.no_certificate_check: [
        "step3.1-untrusted-certificate-refused",
        "step3.1-expired-certificate-refused",
        "step3.2-expired-certificate-refused",
        "step3.3-expired-certificate-refused",
        "step3.4-expired-certificate-refused",
        "step3.5-untrusted-certificate-refused",
        "step4-expired-certificate-refused",
        "step4-untrusted-certificate-refused",
        "step6-untrusted-certificate-refused",
        "step6-expired-certificate-refused",
        "step3.3-srv-failover-after-tls-failure-mirrored",
        "step4-srv-failover-after-tls-failure-mirrored",
    ],
    broken.ipv6_host_unbracketed: [
        "step3.1-delegated-ipv6-default-port",
        "step3.1-delegated-ipv6-port-443-kept-in-host",
    ],
}


def _name(factory: Any) -> str:
    return factory.__name__


@pytest.mark.parametrize("factory", list(MUST_FAIL), ids=_name)
def test_broken_resolver_fails_its_rule(factory, catalog, run) -> None:
    survived = []
    for sid in MUST_FAIL[factory]:
        verdict = run(catalog[sid], factory).verdict
        if verdict is not None and verdict.passed:
            survived.append(sid)
    assert not survived, f"{_name(factory)} passed scenarios it breaks: {survived}"
