"""Regression guard for the npm adapters (conformance/adapters/node_adapters.py): a few scenarios
each implementation passes, and a few of its documented deviations (docs/findings-node.md) that
must still show, so a broken adapter or a changed package version is noticed.

Skipped only when node or the pinned packages are missing
(`npm install --prefix conformance/adapters/node`)."""

from __future__ import annotations

import pytest

from matrix_resolver_conformance.adapters import node_adapters
from matrix_resolver_conformance.adapters.node_adapters import NodeAdapterUnavailable

PASSES = {
    "rocketchat": [
        "step1-ipv4-literal-explicit-port",
        "step2-explicit-port-a-record",
        "step3.1-delegated-ipv4-explicit-port",
        "step3.3-srv-matrix-fed-on-delegated-name",
        "step4-srv-matrix-fed-on-hostname",
        "step6-a-record-8448",
    ],
    "appservice_bridge": [
        "step1-ipv4-literal-explicit-port",
        "step1-ip-literal-sends-no-sni",
        "step2-explicit-port-a-record",
        "step3.2-delegated-hostname-explicit-port",
        "step3.5-no-srv-delegated-name-8448",
        "step6-a-record-8448",
    ],
}

# scenario -> words of the failure message that show the documented deviation
DEVIATES = {
    "rocketchat": {
        # an IP literal's address is sent as SNI (the SDK derives SNI from the Host header)
        "step1-ip-literal-sends-no-sni": "sent SNI '127.",
        # the legacy _matrix._tcp record is never used when _matrix-fed._tcp is absent
        "step5-legacy-srv-on-hostname": "instead of legacy:8450",
    },
    "appservice_bridge": {
        # step 3.3 looks up SRV for the original hostname, not the delegated one
        "step3.3-srv-matrix-fed-on-delegated-name": "reached decoy decoytarget:8450",
        # the result {url, hostHeader} names the SRV target as the URL host: TLS name = target
        "step4-srv-matrix-fed-on-hostname": "certificate is not valid for 'target.test'",
    },
}


@pytest.fixture(params=["rocketchat", "appservice_bridge"])
def adapter(request):
    package = {
        "rocketchat": node_adapters.ROCKETCHAT,
        "appservice_bridge": node_adapters.APPSERVICE_BRIDGE,
    }[request.param]
    try:
        node_adapters.check_installed(package)
    except NodeAdapterUnavailable as e:
        pytest.skip(str(e))
    return request.param, getattr(node_adapters, request.param)


def test_adapter_passes_what_the_implementation_gets_right(adapter, catalog, run) -> None:
    name, factory = adapter
    failed = {}
    for sid in PASSES[name]:
        result = run(catalog[sid], factory)
        assert result.verdict is not None, f"{sid} skipped: {result.skipped}"
        if not result.verdict.passed:
            failed[sid] = result.verdict.message
    assert not failed, "\n\n".join(failed.values())


def test_documented_deviations_still_show(adapter, catalog, run) -> None:
    name, factory = adapter
    for sid, words in DEVIATES[name].items():
        result = run(catalog[sid], factory)
        assert result.verdict is not None and not result.verdict.passed, f"{sid} now passes"
        assert words in result.verdict.message, result.verdict.message


def test_missing_packages_are_a_one_line_error(monkeypatch, tmp_path) -> None:
    monkeypatch.setattr(node_adapters, "NODE_DIR", tmp_path)
    monkeypatch.setattr(node_adapters, "_ready", {})
    (tmp_path / "package.json").write_text('{"dependencies": {"x": "1.0.0"}}')
    if node_adapters.shutil.which("node") is None:
        pytest.skip("node is not on PATH")
    with pytest.raises(NodeAdapterUnavailable) as info:
        node_adapters.check_installed("x")
    message = str(info.value)
    assert "\n" not in message and f"npm install --prefix {tmp_path}" in message
