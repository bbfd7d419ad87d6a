"""The suite's teeth: deliberately broken resolvers must fail the scenarios of the rule they
break, with a message naming the rule and showing what they sent; the reference passes all."""

from __future__ import annotations

import pytest

from tests import broken_resolvers as broken

# broken resolver -> scenarios that must fail against it (not necessarily all that do)
MUST_FAIL = {
    broken.srv_target_as_host: [
        "step3.3-srv-matrix-fed-on-delegated-name",
        "step3.4-legacy-srv-on-delegated-name",
        "step4-srv-matrix-fed-on-hostname",
        "step5-legacy-srv-on-hostname",
        "step4-srv-owner-cname-followed",
        "step4-srv-on-hostname-without-addresses",
        "step5-legacy-srv-owner-cname-followed",
        "step3.4-legacy-priority-lowest-first",
    ],
    broken.explicit_port_ignored: [
        "step2-explicit-port-a-record",
        "step2-explicit-port-skips-well-known",
        "step2-destination-refused-no-request",
    ],
    broken.no_certificate_check: [
        "step1-hostname-only-certificate-refused",
        "step2-wrong-name-certificate-refused",
        "step3-untrusted-well-known-certificate-ignored",
        "step3.3-certificate-for-srv-target-refused",
        "step3.5-expired-certificate-refused",
        "step4-certificate-for-srv-target-refused",
        "step6-wrong-name-certificate-refused",
        "step3.3-srv-failover-after-tls-failure-mirrored",
        "step4-srv-failover-after-tls-failure-mirrored",
    ],
    broken.legacy_srv_first: [
        "step3.4-matrix-fed-wins-over-legacy",
        "step5-matrix-fed-wins-over-legacy",
        "step3.4-matrix-fed-wins-over-legacy-mirrored",
        "step5-matrix-fed-wins-over-legacy-mirrored",
        "step3.4-matrix-fed-unreachable-no-legacy",
        "step5-matrix-fed-unreachable-no-legacy",
    ],
    broken.no_well_known: [
        "step3-well-known-request-to-hostname-443",
        "step3.1-delegated-ipv4-default-port",
        "step3.3-srv-matrix-fed-on-delegated-name",
        "step3-well-known-padded-past-one-tls-record-used",
        "step3-well-known-chunked-in-delayed-pieces-used",
        "step3-redirect-to-other-path-on-same-host-followed",
    ],
    broken.ipv6_host_unbracketed: [
        "step1-ipv6-literal-default-port",
        "step3.1-delegated-ipv6-explicit-port",
        "step1-ipv6-literal-port-443-kept-in-host",
        "step3.1-delegated-ipv6-port-443-kept-in-host",
    ],
    broken.portless_host: [
        "step1-ipv4-literal-explicit-port",
        "step2-explicit-port-a-record",
        "step3.1-delegated-ipv4-explicit-port",
        "step3.2-delegated-hostname-explicit-port",
        "step1-ipv4-literal-port-443-kept-in-host",
        "step3.1-delegated-ipv4-port-443-kept-in-host",
        "step3.2-delegated-port-443-kept-in-host",
    ],
    broken.recursive_well_known: ["step3-delegated-name-not-looked-up-via-well-known"],
}


@pytest.mark.parametrize("factory", list(MUST_FAIL), ids=lambda f: f.__name__)
def test_broken_resolver_fails_its_rule(factory, catalog, run) -> None:
    survived = []
    for sid in MUST_FAIL[factory]:
        result = run(catalog[sid], factory)
        if result.verdict is not None and result.verdict.passed:
            survived.append(sid)
    assert not survived, f"{factory.__name__} passed scenarios it breaks: {survived}"


def test_reference_passes_every_scenario(catalog, run) -> None:
    from matrix_resolver_conformance.reference import factory

    failed = {}
    for sid, scenario in catalog.items():
        verdict = run(scenario, factory).verdict
        if verdict is not None and not verdict.passed:
            failed[sid] = verdict.message
    assert not failed, "\n\n".join(failed.values())


def test_failure_message_names_the_rule_and_what_was_sent(catalog, run) -> None:
    scenario = catalog["step4-srv-matrix-fed-on-hostname"]
    verdict = run(scenario, broken.srv_target_as_host).verdict
    assert verdict is not None and not verdict.passed
    msg = verdict.message
    assert scenario.sentence in msg
    assert "SNI 'target.test'" in msg  # what it sent
    assert "certificate is for origin.test" in msg
    assert "expected: GET /_matrix/federation/v1/version at target:8449" in msg
    assert "DNS UDP SRV _matrix-fed._tcp.origin.test" in msg  # the ordered log


@pytest.mark.parametrize(
    ("factory", "problem"),
    [
        (broken.hangs, "did not finish within"),
        (broken.raises, "raised RuntimeError: the resolver under test blew up"),
        (broken.returns_garbage, "the response it reports does not exist"),
        (broken.leaks_a_task, "left 1 asyncio task(s) running"),
    ],
    ids=["hangs", "raises", "garbage", "leaks-a-task"],
)
def test_contract_breakers_fail_with_a_clear_message(factory, problem, catalog, run) -> None:
    scenario = catalog[
        "step6-a-record-8448"
        if factory is not broken.returns_garbage
        else "step6-wrong-name-certificate-refused"
    ]
    result = run(scenario, factory)
    assert result.verdict is not None and not result.verdict.passed
    assert any(problem in p for p in result.verdict.problems), result.verdict.problems
    bound = 1.0 * scenario.fetches + 3.0 + 1.5  # timeout x fetches + grace + cancel grace
    assert result.elapsed < bound


def test_aclose_still_runs_after_a_hung_fetch_is_cancelled(catalog, run) -> None:
    broken.CLOSED.clear()
    result = run(catalog["step6-a-record-8448"], broken.hangs_but_closes)
    assert result.verdict is not None and not result.verdict.passed
    assert broken.CLOSED == ["aclose"]
