"""Regression guard for Synapse as a whole process (`--homeserver=synapse`): a subset of the
catalog, every step and one failure mode each, run against the unmodified server exactly as a
user runs it, with the outcome docs/implementations.md records for each. Skipped when Synapse is
not installed (`pip install 'matrix-resolver-conformance[synapse]'`); `tox -e synapse-process`
runs the whole catalog.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.venvs import clean_env

pytest.importorskip(
    "synapse", reason="Synapse is not installed: pip install 'matrix-resolver-conformance[synapse]'"
)

PASSES = [
    # the prototype's five cases (../shared notes): A record to :8448, _matrix-fed._tcp SRV,
    # delegation with a port, AAAA only, an IP literal with a port and no SNI
    "step6-a-record-8448",
    "step4-srv-matrix-fed-on-hostname",
    "step3.2-delegated-hostname-explicit-port",
    "step3.5-aaaa-only-8448",
    "step1-ip-literal-sends-no-sni",
    "step2-wrong-name-certificate-refused",  # refused in the handshake (checked below)
    "step3.1-delegated-ipv4-explicit-port",
    "step3.3-sni-is-delegated-hostname-not-target",
    "step3.4-legacy-target-aaaa-only",
    "step5-legacy-target-aaaa-only",
    "grammar-userinfo-refused",  # the server's validator: the in-process adapter fails it
    # the first scenario a worker runs: the server's start-up traffic (Synapse looks up the
    # machine's own name) must not land in its world
    "grammar-empty-server-name-refused",
]
FAILS = {  # scenario -> the rule its failure is counted under (docs/findings.toml says why)
    "step3-well-known-no-store-refetched": "caching",  # a 5 min minimum cache period
    "step3.3-srv-failover-after-tls-failure": "destination",  # no failover after TLS failure
    "grammar-port-zero-refused": "destination",  # `:0` passes the server's validator
}


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, object]]:
    folder = tmp_path_factory.mktemp("synapse-process")
    out = folder / "report.json"
    selected = " or ".join([*PASSES, *FAILS])
    cmd = [sys.executable, "-m", "pytest", "--pyargs", "conformance", "-q", "-p",
           "no:cacheprovider", "-n", "2", "--homeserver=synapse", f"--conformance-report={out}",
           "-k", selected]  # fmt: skip
    res = subprocess.run(cmd, cwd=folder, env=clean_env(), capture_output=True, text=True,
                         timeout=300, check=False)  # fmt: skip
    assert res.returncode in (0, 1) and out.exists(), f"{res.stdout}\n{res.stderr}"
    data = json.loads(Path(out).read_text())
    results = {r["id"]: r for r in data["results"]}  # -k also selects, e.g., mirrored twins
    missing = {*PASSES, *FAILS} - set(results)
    assert not missing, f"guarded scenarios missing from the catalog: {sorted(missing)}"
    return results


@pytest.mark.parametrize("scenario_id", PASSES)
def test_synapse_process_passes(scenario_id: str, report: dict[str, dict[str, object]]) -> None:
    result = report[scenario_id]
    assert result["outcome"] == "passed", result["problems"]


@pytest.mark.parametrize("scenario_id", sorted(FAILS))
def test_synapse_process_known_deviation_still_observed(
    scenario_id: str, report: dict[str, dict[str, object]]
) -> None:
    result = report[scenario_id]
    assert result["outcome"] == "failed", f"{scenario_id} now passes: update docs/findings.toml"
    failures = result["failures"]
    assert isinstance(failures, list)
    assert FAILS[scenario_id] in {f["rule"] for f in failures}, failures


def test_wrong_certificate_is_refused_in_the_handshake(
    report: dict[str, dict[str, object]],
) -> None:
    trace = report["step2-wrong-name-certificate-refused"]["trace"]
    assert isinstance(trace, dict)
    connections = [e for e in trace["events"] if e["kind"] == "connection"]
    assert connections and not any(c["established"] for c in connections)
    assert any("ClientHello" in (c["error"] or "") for c in connections), connections
