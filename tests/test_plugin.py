"""The pytest plugin as a user meets it, in a subprocess: one-line usage errors, a resolver
written from README's contract, level gating, the JSON report, and xdist."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def suite(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    cmd = [sys.executable, "-m", "pytest", "--pyargs", "conformance", "-p", "no:cacheprovider"]
    return subprocess.run(
        [*cmd, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=False
    )


def test_unknown_module_is_one_line_usage_error() -> None:
    res = suite("--resolver=nope:nope")
    assert res.returncode == 4
    expected = "ERROR: --resolver=nope:nope: cannot import 'nope': No module named 'nope'"
    assert res.stderr.strip() == expected
    assert "Traceback" not in res.stdout + res.stderr


def test_unknown_name_and_bad_signature_are_usage_errors() -> None:
    res = suite("--resolver=no-such-resolver")
    assert res.returncode == 4 and "no resolver of that name is installed" in res.stderr
    assert "reference" in res.stderr  # lists what is installed
    res = suite("--resolver=tests.contract_resolvers:_get")
    assert res.returncode == 4
    assert "the factory must accept exactly one argument (env)" in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1


def test_readme_contract_resolver_plugs_in_and_breaking_a_rule_fails(tmp_path: Path) -> None:
    report = tmp_path / "report.json"
    good = suite(
        "--resolver=tests.contract_resolvers:ip_literals",
        "-k",
        "step1-ipv4",
        f"--conformance-report={report}",
    )
    assert good.returncode == 0, good.stdout
    data = json.loads(report.read_text())
    assert data["resolver"] == "tests.contract_resolvers:ip_literals"
    assert data["spec"] == "v1.19"
    outcomes = {r["id"]: r["outcome"] for r in data["results"]}
    assert outcomes["step1-ipv4-literal-explicit-port"] == "passed"
    assert set(data["results"][0]) >= {"id", "step", "level", "outcome", "expected", "observed"}

    bad = suite(
        "--resolver=tests.contract_resolvers:ip_literals_portless_host",
        "-k",
        "step1-ipv4-literal-explicit-port",
    )
    assert bad.returncode == 1
    assert "carried Host '127." in bad.stdout and ":8449'" in bad.stdout  # names what it sent
    assert 'spec: "If the hostname is an IP literal' in bad.stdout


def test_level_gate_reports_failures_below_it_without_failing() -> None:
    args = [
        "--resolver=tests.contract_resolvers:hostname_port_with_wrong_sni",
        "-k",
        "step2-sni-is-hostname or step2-explicit-port-a-record",
    ]
    strict = suite(*args)
    assert strict.returncode == 1  # default level: everything counts
    assert "sent SNI 'not-the-host.test', expected SNI 'origin.test'" in strict.stdout
    gated = suite(*args, "--conformance-level=required")
    assert gated.returncode == 0, gated.stdout
    assert "1 failure(s) below --conformance-level=required" in gated.stdout
    assert (
        "[recommended] sni: the TLS handshake at origin:8449 sent SNI 'not-the-host.test'"
        in gated.stdout
    )
    assert "(step2-sni-is-hostname)" in gated.stdout


def test_xdist_run_reports_every_scenario(tmp_path: Path) -> None:
    report = tmp_path / "r.json"
    res = suite("-n", "2", "-k", "step1 or step6", f"--conformance-report={report}")
    assert res.returncode == 0, res.stdout
    ids = [r["id"] for r in json.loads(report.read_text())["results"]]
    assert len(ids) == len(set(ids)) >= 8
    assert all(i.startswith(("step1-", "step6-")) for i in ids)
