"""The subprocess protocol (`--resolver=exec:COMMAND`, docs/subprocess-protocol.md): the Node.js
example resolver passes scenarios across the steps, and children that misbehave (garbage on
stdout, silence, an early exit) fail their scenario with a clear message and leave nothing
running."""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from matrix_resolver_conformance.plan import PlanError, validate_plan
from matrix_resolver_conformance.run.resolvers import ResolverLoadError, load
from tests.venvs import clean_env

ROOT = Path(__file__).resolve().parents[1]
NODE_EXAMPLE = "exec:node docs/examples/node-resolver/resolver.mjs"
needs_node = pytest.mark.skipif(shutil.which("node") is None, reason="node is not on PATH")

# Scenarios across the steps that the Node example passes (it passes the whole catalog).
NODE_SCENARIOS = [
    "step1-ipv4-literal-explicit-port",
    "step1-ip-literal-sends-no-sni",
    "step2-explicit-port-a-record",
    "step3-404-skips-to-step4",
    "step3-redirect-301-followed",
    "step3-well-known-success-cached",
    "step3-well-known-expires-in-past-refetched",  # the three it once failed
    "step3-well-known-expires-zero-refetched",
    "step3-repeated-m-server-skips-to-step4",
    "step3.1-delegated-ipv4-explicit-port",
    "step3.2-delegated-hostname-explicit-port",
    "step3.3-srv-matrix-fed-on-delegated-name",
    "step3.4-legacy-srv-on-delegated-name",
    "step3.5-no-srv-delegated-name-8448",
    "step4-srv-failover-connection-refused",
    "step5-legacy-srv-on-hostname",
    "step6-a-record-8448",
    "grammar-port-zero-refused",
]


@needs_node
def test_node_example_passes_scenarios_across_the_steps(catalog, run, monkeypatch) -> None:
    monkeypatch.chdir(ROOT)  # the command names the script relative to the checkout
    factory = load(NODE_EXAMPLE)
    failed = {}
    for sid in NODE_SCENARIOS:
        result = run(catalog[sid], factory)
        assert result.verdict is not None, f"{sid} skipped: {result.skipped}"
        if not result.verdict.passed:
            failed[sid] = result.verdict.message
    assert not failed, "\n\n".join(failed.values())


@needs_node
@pytest.mark.slow
def test_node_example_passes_the_whole_catalog(tmp_path: Path) -> None:
    """As a user runs it: the whole catalog over the subprocess protocol, from an installed
    suite (the example is the protocol's documentation: it must follow the spec)."""
    example = f"--resolver=exec:node {ROOT / 'docs/examples/node-resolver/resolver.mjs'}"
    res = subprocess.run(
        [sys.executable, "-m", "pytest", "--pyargs", "conformance", "-q", "-n", "2", "-p",
         "no:cacheprovider", example],
        cwd=tmp_path, env=clean_env(), capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    assert res.returncode == 0, res.stdout[-4000:]


# ---- protocol robustness, with throwaway Python children ---------------------------------------

ECHO_PLAN = """
import json, sys
for line in sys.stdin:
    req = json.loads(line)
    name = req["fetch"]
    host, _, port = name.rpartition(":") if name.count(":") == 1 else (name, "", "")
    plan = {"address": host, "port": int(port or 8448), "host": name, "tls_name": host}
    print(json.dumps({"id": req["id"], "plan": plan}), flush=True)
"""


def child(tmp_path: Path, source: str, name: str = "child.py"):
    script = tmp_path / name
    script.write_text(source)
    return load(f"exec:{shlex.quote(sys.executable)} {shlex.quote(str(script))}")


def alive(pid: int) -> bool:
    """True while `pid` runs (a zombie waiting for a parent that never reaps counts as gone)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rpartition(")")[2].split()[0] != "Z"


def test_plan_answer_is_carried_out_exactly(tmp_path, catalog, run) -> None:
    factory = child(tmp_path, ECHO_PLAN)
    for sid in ("step1-ipv4-literal-explicit-port", "step1-ip-literal-sends-no-sni"):
        result = run(catalog[sid], factory)
        assert result.verdict is not None and result.verdict.passed, result.verdict.message


@pytest.mark.parametrize(
    ("answer", "why"),
    [
        ("hello from a chatty library", "expected a JSON answer"),
        ("[1, 2]", "must be a JSON object"),
        ('{"id": 99, "status": 200}', "expected an answer with id 1"),
        ('{"id": 1}', "exactly one of status, error, plan"),
        ('{"id": 1, "status": 999}', "must be an HTTP status"),
        ('{"id": 1, "plan": {"address": "origin.test", "port": 8448}}', "plan is missing"),
    ],
    ids=["not-json", "not-an-object", "wrong-id", "no-answer-kind", "bad-status", "bad-plan"],
)
def test_garbage_on_stdout_fails_the_scenario_as_a_protocol_error(
    tmp_path, catalog, run, answer, why
) -> None:
    source = f"import sys\nfor line in sys.stdin:\n    print({answer!r}, flush=True)\n"
    result = run(catalog["step1-ipv4-literal-explicit-port"], child(tmp_path, source))
    assert result.verdict is not None and not result.verdict.passed
    assert "protocol error" in result.verdict.message and why in result.verdict.message


def test_child_that_never_answers_fails_within_the_deadline_and_is_killed(
    tmp_path, catalog, run
) -> None:
    pids = tmp_path / "pids"
    source = f"""
import os, subprocess, sys
grandchild = subprocess.Popen(["sleep", "60"])
open({str(pids)!r}, "w").write(f"{{os.getpid()}} {{grandchild.pid}}")
for line in sys.stdin:
    pass  # reads requests, answers none
"""
    started = time.monotonic()
    result = run(catalog["step1-ipv4-literal-explicit-port"], child(tmp_path, source))
    elapsed = time.monotonic() - started
    assert result.verdict is not None and not result.verdict.passed
    assert "did not finish within" in result.verdict.message
    assert elapsed < 1.0 * 1 + 3.0 + 2.5  # the driver's deadline, its cancel grace, start-up
    for role, pid in zip(("child", "grandchild"), map(int, pids.read_text().split()), strict=True):
        if alive(pid):  # say which one and in what state, so a recurrence can be diagnosed
            state = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
            raise AssertionError(f"the {role} (pid {pid}, state {state}) outlived its scenario")


def test_child_that_lingers_after_stdin_closes_is_killed_without_failing(
    tmp_path, catalog, run
) -> None:
    pid_file = tmp_path / "pid"
    source = (
        ECHO_PLAN
        + f"""
import os, time
open({str(pid_file)!r}, "w").write(str(os.getpid()))
time.sleep(60)  # ignores the end of stdin
"""
    )
    result = run(catalog["step1-ipv4-literal-explicit-port"], child(tmp_path, source))
    assert result.verdict is not None and result.verdict.passed, result.verdict.message
    assert not alive(int(pid_file.read_text()))


def test_child_that_exits_at_once_fails_with_its_stderr(tmp_path, catalog, run) -> None:
    source = "import sys\nsys.stderr.write('boom: cannot load libresolver.so\\n')\nsys.exit(3)\n"
    result = run(catalog["step1-ipv4-literal-explicit-port"], child(tmp_path, source))
    assert result.verdict is not None and not result.verdict.passed
    message = result.verdict.message
    assert "exited (code 3)" in message and "boom: cannot load libresolver.so" in message


def test_error_answer_is_a_fetch_failure_with_the_reason(tmp_path, catalog, run) -> None:
    source = """
import json, sys
for line in sys.stdin:
    req = json.loads(line)
    sys.stderr.write("resolving " + req["fetch"] + "\\n")
    print(json.dumps({"id": req["id"], "error": "SRV lookup SERVFAIL"}), flush=True)
"""
    result = run(catalog["step4-srv-servfail-no-request"], child(tmp_path, source))
    assert result.verdict is not None and result.verdict.passed  # no request: right here
    result = run(catalog["step6-a-record-8448"], child(tmp_path, source))
    assert not result.verdict.passed
    assert "the resolver reported: SRV lookup SERVFAIL" in result.verdict.message
    assert "resolving origin.test" in result.verdict.message  # the stderr tail


def test_environment_describes_the_world(tmp_path, catalog, run) -> None:
    out = tmp_path / "env.json"
    source = f"""
import json, os, sys
json.dump({{k: v for k, v in os.environ.items() if k.startswith("MRC_")}}, open({str(out)!r}, "w"))
for line in sys.stdin:
    print(json.dumps({{"id": json.loads(line)["id"], "error": "just looking"}}), flush=True)
"""
    run(catalog["step1-ipv4-literal-explicit-port"], child(tmp_path, source))
    seen = json.loads(out.read_text())
    assert seen["MRC_PROTOCOL"] == "1"
    host, _, port = seen["MRC_DNS_SERVER"].rpartition(":")
    assert host and int(port) > 0
    assert Path(seen["MRC_CA_FILE"]).name and seen["MRC_PATH"].startswith("/_matrix/")
    assert float(seen["MRC_TIMEOUT"]) > 0 and seen["MRC_WELL_KNOWN_PORT"] == "443"
    assert seen["MRC_SPEC"] == "v1.19"


@pytest.mark.parametrize(
    ("spec", "words"),
    [
        ("exec:definitely-not-a-resolver-command --flag", "not found or not executable on PATH"),
        ("exec:", "no command given"),
        ("exec:node 'unclosed", "cannot split the command"),
        (f"exec:{os.sep}nonexistent{os.sep}resolver", "not found or not executable"),
    ],
)
def test_unusable_command_is_a_one_line_load_error(spec, words) -> None:
    with pytest.raises(ResolverLoadError) as info:
        load(spec)
    message = str(info.value)
    assert words in message and "\n" not in message
    assert message.startswith(f"--resolver={spec}: ")


@pytest.mark.parametrize(
    ("plan", "words"),
    [
        ({"address": "1.2.3.4", "port": 8448, "host": "a"}, "missing tls_name"),
        ({"address": [], "port": 1, "host": "a", "tls_name": "a"}, "empty list"),
        ({"address": "[::1]", "port": 1, "host": "a", "tls_name": "a"}, "IP address"),
        ({"address": "1.2.3.4", "port": True, "host": "a", "tls_name": "a"}, "1-65535"),
        ({"address": "1.2.3.4", "port": 1, "host": "a\r\nX: y", "tls_name": "a"}, "printable"),
        ({"address": "1.2.3.4", "port": 1, "host": "a", "tls_name": "a", "sni": "b"}, "unknown"),
    ],
)
def test_malformed_plans_are_refused_before_any_traffic(plan, words) -> None:
    with pytest.raises(PlanError, match=words):
        validate_plan(plan)
