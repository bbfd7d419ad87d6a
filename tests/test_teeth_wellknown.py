"""Teeth of the step-3 catalog (fixtures/step3.toml): resolvers that get one well-known rule wrong
must fail that rule's scenarios. Each is the reference with one thing changed; most swap one name
of `matrix_resolver_conformance.reference.well_known` for the duration of the step-3 lookup
(tests/broken_wellknown.py)."""

from __future__ import annotations

import pytest

from matrix_resolver_conformance.reference import resolver as ref
from tests.broken_wellknown import (
    AbortsOnAnyWellKnownFailure,
    AbortsOnInvalidBody,
    CachesEverything,
    DecodesStringBodyAgain,
    FollowsRedirectLoops,
    FollowsRedirectToHttp,
    IgnoresExpires,
    NeverCaches,
    NoRedirects,
    NoServerNameCheck,
    PermissiveJson,
    RecursiveWellKnown,
    RejectsUpperCase,
    RequiresJsonContentType,
    SearchesBodyForMServer,
    UsesBodyOfAnyStatus,
    WellKnownForIpLiterals,
    WellKnownWithoutCertificateCheck,
)

MUST_FAIL: dict[type[ref.ReferenceResolver], list[str]] = {
    AbortsOnInvalidBody: [
        "step3-json-array-skips-to-step4",
        "step3-json-null-skips-to-step4",
        "step3-m-server-number-skips-to-step4",
        "step3-m-server-url-skips-to-step4",
        "step3-m-server-empty-skips-to-step4",
        "step3-json-string-holding-delegation-skips-to-step4",
        "step3-nan-in-body-skips-to-step4",
        "step3-infinity-in-body-skips-to-step4",
        "step3-repeated-m-server-skips-to-step4",
        "step3-m-server-trailing-newline-skips-to-step4",
        "step3-m-server-too-long-skips-to-step4",
        "step3-m-server-bare-ipv6-skips-to-step4",
    ],
    AbortsOnAnyWellKnownFailure: [
        "step3-connection-refused-skips-to-step4",
        "step3-410-skips-to-step4",
        "step3-204-skips-to-step4",
        "step3-expired-well-known-certificate-ignored",
        "step3-oversized-well-known-skips-to-step4",
        "step3-redirect-loop-ends-and-skips-to-step4",
        "step3-endless-well-known-skips-to-step4",
        "step3-huge-valid-well-known-bounded",
        "step3-redirect-to-malformed-location-skips-to-step4",
        "step3-well-known-tls-failure-remembered",
        "step4-srv-on-hostname-without-addresses",
        "step5-legacy-srv-on-hostname-without-addresses",
    ],
    UsesBodyOfAnyStatus: [
        "step3-410-skips-to-step4",
        "step3-500-skips-to-step4",
        "step3-503-skips-to-step4",
        "step3-201-skips-to-step4",
        "step3-redirect-without-location-skips-to-step4",
    ],
    NoRedirects: [
        "step3-redirect-301-followed",
        "step3-redirect-302-absolute-location-followed",
        "step3-redirect-303-followed",
        "step3-redirect-307-followed",
        "step3-redirect-308-followed",
        "step3-redirect-scheme-relative-location-followed",
        "step3-redirect-chain-of-three-followed",
        "step3-redirect-to-other-path-on-same-host-followed",
        "step3-redirect-path-relative-location-followed",
    ],
    FollowsRedirectToHttp: ["step3-redirect-to-plain-http-not-followed"],
    FollowsRedirectLoops: ["step3-redirect-loop-ends-and-skips-to-step4"],
    WellKnownWithoutCertificateCheck: [
        "step3-wrong-name-well-known-certificate-ignored",
        "step3-expired-well-known-certificate-ignored",
        "step3-redirect-target-certificate-checked",
    ],
    RequiresJsonContentType: [
        "step3-text-plain-body-parsed-as-json",
        "step3-octet-stream-body-parsed-as-json",
        "step3-empty-content-type-body-parsed-as-json",
    ],
    NoServerNameCheck: [
        "step3-m-server-url-skips-to-step4",
        "step3-m-server-with-path-skips-to-step4",
        "step3-m-server-named-port-skips-to-step4",
        "step3-m-server-port-out-of-range-skips-to-step4",
        "step3-m-server-port-zero-skips-to-step4",
        "step3-m-server-underscore-skips-to-step4",
        "step3-m-server-unclosed-bracket-skips-to-step4",
        "step3-m-server-trailing-space-skips-to-step4",
        "step3-m-server-trailing-newline-skips-to-step4",
        "step3-m-server-too-long-skips-to-step4",
        "step3-m-server-bare-ipv6-skips-to-step4",
    ],
    SearchesBodyForMServer: [
        "step3-extra-properties-ignored",
        "step3-json-array-skips-to-step4",
        "step3-m-server-object-skips-to-step4",
        "step3-nan-in-body-skips-to-step4",
        "step3-infinity-in-body-skips-to-step4",
        "step3-repeated-m-server-skips-to-step4",
    ],
    PermissiveJson: [
        "step3-nan-in-body-skips-to-step4",
        "step3-infinity-in-body-skips-to-step4",
        "step3-repeated-m-server-skips-to-step4",
    ],
    DecodesStringBodyAgain: ["step3-json-string-holding-delegation-skips-to-step4"],
    IgnoresExpires: [
        "step3-well-known-expires-in-past-refetched",
        "step3-well-known-expires-zero-refetched",
    ],
    RejectsUpperCase: ["step3-m-server-upper-case-accepted"],
    NeverCaches: [
        "step3-well-known-success-cached",
        "step3-well-known-invalid-body-cached",
        "step3-well-known-max-age-respected",
        "step3-well-known-cached-without-headers",
        "step3-well-known-long-max-age-cached",
        "step3-well-known-404-cached",
        "step3-well-known-huge-max-age-cached",
        "step3-well-known-max-age-overrides-past-expires",
        "step3-well-known-tls-failure-remembered",
    ],
    CachesEverything: [
        "step3-well-known-no-store-refetched",
        "step3-well-known-no-cache-refetched",
        "step3-well-known-max-age-zero-refetched",
        "step3-well-known-private-max-age-zero-refetched",
        "step3-well-known-max-age-with-no-store-refetched",
        "step3-well-known-max-age-with-no-cache-refetched",
        "step3-well-known-expires-in-past-refetched",
        "step3-well-known-expires-zero-refetched",
    ],
    WellKnownForIpLiterals: [
        "step3-no-well-known-for-ipv6-literal-with-port",
        "step1-ipv4-literal-port-443-kept-in-host",
        "step1-ipv6-literal-port-443-kept-in-host",
    ],
    RecursiveWellKnown: [
        "step3-m-server-is-origin-not-recursive",
        "step3-delegated-name-not-looked-up-via-well-known",
    ],
}


@pytest.mark.parametrize("broken", list(MUST_FAIL), ids=lambda cls: cls.__name__)
def test_broken_well_known_rule_fails_its_scenarios(broken, catalog, run) -> None:
    survived, skipped = [], []
    for sid in MUST_FAIL[broken]:
        result = run(catalog[sid], broken)
        if result.verdict is None:
            skipped.append(sid)
        elif result.verdict.passed:
            survived.append(sid)
    assert not survived, f"{broken.__name__} passed scenarios it breaks: {survived}"
    if len(skipped) == len(MUST_FAIL[broken]):
        pytest.skip(f"every scenario was skipped here (no IPv6?): {skipped}")
