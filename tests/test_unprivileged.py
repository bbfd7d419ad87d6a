"""Issue 8, "not root": the suite as an ordinary user, where the kernel forbids what it needs,
and on the machine's loopback.

Run by root (CI is), which can become the user `nobody` (runuser) and make a real "user
namespaces are forbidden" limit without touching the machine: a user namespace of its own in
which `user.max_user_namespaces` is 0 (tests/userns_sandbox.py). The suite runs from a venv
that `nobody` can use (`nobody_venv`: the project's wheel, from an interpreter nobody can run,
under /tmp; built once per run, about half a minute).
"""

from __future__ import annotations

import json
import os
import pwd
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests import venvs
from tests.reports import applicable
from tests.venvs import ROOT, Venv, run

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0,
    reason="run as root: these tests become the user nobody and set kernel limits in a user "
    "namespace of their own",
)

SANDBOX = [sys.executable, str(ROOT / "tests" / "userns_sandbox.py")]
SUITE = ["--pyargs", "conformance", "-p", "no:cacheprovider"]
QUICK = ["-k", "step1"]  # IP literals, IPv6 ones among them: a few seconds


@dataclass(frozen=True)
class Unprivileged:
    venv: Venv
    uid: int
    work: Path  # a folder the user owns: the runs' cwd and reports

    def pytest(
        self, *args: str, wrap: Sequence[str] = (), timeout: float = 300
    ) -> subprocess.CompletedProcess[str]:
        """The venv's pytest as the user (`wrap`: a command to run it under instead)."""
        become = list(wrap) or ["runuser", "-u", pwd.getpwuid(self.uid).pw_name, "--"]
        return run([*become, self.venv.bin("pytest"), *args], self.work, timeout)


@pytest.fixture(scope="session")
def nobody(
    pytestconfig: pytest.Config, tmp_path_factory: pytest.TempPathFactory, project_wheel: Path
) -> Unprivileged:
    try:
        uid = pwd.getpwnam("nobody").pw_uid
    except KeyError:
        pytest.skip("no user nobody on this machine: these tests need an ordinary user")
    if shutil.which("runuser") is None:
        pytest.skip("no runuser (util-linux): these tests need it to become the user nobody")
    python = venvs.usable_by("nobody")
    if python is None:
        pytest.skip(
            "no Python interpreter the user nobody can run (this one lives under a private "
            "folder): install Debian's python3 and python3-venv"
        )

    def build(folder: Path) -> None:
        outside = Path(tempfile.mkdtemp(prefix="mrc-unprivileged-"))  # the run's root is 0700
        (folder / venvs.OUTSIDE).write_text(str(outside))
        outside.chmod(0o755)
        venvs.make_venv(python, outside / "venv", [project_wheel])
        (outside / "work").mkdir()
        os.chown(outside / "work", uid, -1)

    folder = venvs.built_once(pytestconfig, tmp_path_factory, "nobody", build)
    outside = Path((folder / venvs.OUTSIDE).read_text())
    return Unprivileged(Venv(outside / "venv"), uid, outside / "work")


def catalog(venv: Venv) -> list[dict[str, Any]]:
    res = run([venv.bin("matrix-resolver-conformance"), "list", "--format", "json"], Path("/"))
    assert res.returncode == 0, res.stderr
    rows: list[dict[str, Any]] = json.loads(res.stdout)
    return rows


def output(res: subprocess.CompletedProcess[str]) -> str:
    return f"rc={res.returncode}\n{res.stdout}\n{res.stderr}"


def summary(res: subprocess.CompletedProcess[str]) -> str:
    return (res.stdout.strip().splitlines() or [""])[-1]


def sandbox(*options: str) -> list[str]:
    return [*SANDBOX, *options, "--"]


# -- as nobody, where user namespaces work -----------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize(
    ("workers", "selection"),
    [
        ([], ["-k", "step1 or step3_3"]),
        (["-n", "2"], []),  # the whole catalog
        (["-n", "auto"], ["-k", "step2 or step6 or step_grammar"]),
    ],
    ids=["serial", "n2-whole-catalog", "n-auto"],
)
def test_suite_passes_as_nobody(
    nobody: Unprivileged, workers: list[str], selection: list[str]
) -> None:
    rows = catalog(nobody.venv)
    report = nobody.work / f"report-{'-'.join(workers) or 'serial'}.json"
    res = nobody.pytest(*SUITE, *selection, *workers, f"--conformance-report={report}")
    assert res.returncode == 0, output(res)
    results = json.loads(report.read_text())["results"]
    ids = [r["id"] for r in results]
    assert len(ids) == len(set(ids))
    if not selection:
        assert sorted(ids) == sorted(r["id"] for r in rows)
    assert {r["outcome"] for r in applicable(results)} == {"passed"}
    assert not any(r["unavailable"] for r in results)  # IPv6 ones ran: the namespace is ours
    assert f"{len(applicable(results))} passed" in summary(res), output(res)
    network = "conformance: network: private network namespace (user namespace); IPv6 test "
    assert network + "addresses" in res.stdout.splitlines(), res.stdout
    report.unlink()


@pytest.mark.slow
def test_a_whole_homeserver_as_nobody(nobody: Unprivileged) -> None:
    """`--homeserver` as an ordinary user: the server (the toy of tests/test_homeservers.py)
    runs in the user namespace's network, with its own mounts (resolv.conf) and PIDs."""
    toy = nobody.work / "toy_homeserver.py"
    shutil.copy(ROOT / "tests" / "toy_homeserver.py", toy)
    toy.chmod(0o644)
    command = ["{python}", str(toy), "--listen", "{listen_host}:{listen_port}", "--ca",
               "{ca_file}", "--cache"]  # fmt: skip
    profile = nobody.work / "toy.toml"
    profile.write_text(f"command = {json.dumps(command)}\n[trigger]\ntimeout = 8\n")
    profile.chmod(0o644)
    res = nobody.pytest(*SUITE, f"--homeserver={profile}", "-k", "step1 or step3.3", "-n", "2")
    assert res.returncode == 0, output(res)
    assert re.search(r"\b(4[0-9]|[5-9][0-9]) passed\b", summary(res)), output(res)
    toy.unlink()
    profile.unlink()


# -- where the kernel refuses user namespaces --------------------------------------------------

CAUSE = "user namespaces are disabled (sysctl user.max_user_namespaces=0)"


@pytest.mark.slow
@pytest.mark.parametrize("workers", [[], ["-n", "2"]], ids=["serial", "xdist"])
def test_forbidden_namespaces_stop_the_run_at_once_in_one_line(
    nobody: Unprivileged, workers: list[str]
) -> None:
    began = time.monotonic()
    res = nobody.pytest(*SUITE, "-q", *workers, wrap=sandbox("--max-user-namespaces", "0"))
    took = time.monotonic() - began
    assert res.returncode == 4, output(res)
    assert took < 10, f"{took:.1f} s"
    assert res.stdout.strip() == "", output(res)  # no worker started, nothing collected
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1, lines
    (line,) = lines
    assert line.startswith(
        f"ERROR: matrix-resolver-conformance: cannot build the fake world: {CAUSE}"
    )
    assert "Ways out: sudo sysctl -w user.max_user_namespaces=15000; run as root" in line
    assert "Traceback" not in line


@pytest.mark.slow
def test_the_ways_out_it_names_work_there(nobody: Unprivileged) -> None:
    """Each way the message offers, done inside the same sandbox, makes the run pass."""
    refused = nobody.pytest(*SUITE, *QUICK, wrap=sandbox("--max-user-namespaces", "0"))
    assert refused.returncode == 4, output(refused)
    message = refused.stderr.strip()

    # "sudo sysctl -w user.max_user_namespaces=15000"
    limit = re.search(r"sysctl -w user\.max_user_namespaces=(\d+)", message)
    assert limit, message
    raised = nobody.pytest(*SUITE, *QUICK, wrap=sandbox("--max-user-namespaces", limit[1]))
    assert raised.returncode == 0, output(raised)
    assert "(user namespace); IPv6 test addresses" in raised.stdout

    # "run as root": root of that namespace, where the limit is still 0
    assert "run as root" in message
    as_root = nobody.pytest(
        *SUITE, *QUICK, wrap=sandbox("--max-user-namespaces", "0", "--uid", "0")
    )
    assert as_root.returncode == 0, output(as_root)

    # "... the machine's loopback without the IPv6 scenarios: sudo sysctl -w
    # net.ipv4.ip_unprivileged_port_start=N (...), then pass FLAGS" (a network namespace of the
    # sandbox's own stands for the machine, so that the machine's own setting is not touched)
    port = re.search(r"sysctl -w net\.ipv4\.ip_unprivileged_port_start=(\d+)", message)
    flags = re.search(r"then pass ((?:--[a-z-]+(?:=\S+)? ?)+)\.$", message)
    assert port and flags, message
    loopback = sandbox(
        "--max-user-namespaces", "0", "--own-netns", "--unprivileged-port-start", port[1]
    )
    partial = nobody.pytest(*SUITE, *QUICK, *flags[1].split(), wrap=loopback)
    assert partial.returncode == 0, output(partial)
    assert "NOT RUN on this machine" in partial.stdout
    assert "allowed by --conformance-allow-unavailable" in partial.stdout
    assert nobody.pytest(*SUITE, *QUICK, wrap=loopback).returncode == 1  # the flags are needed
    closed = nobody.pytest(
        *SUITE, *QUICK, wrap=sandbox("--max-user-namespaces", "0", "--own-netns")
    )
    assert closed.returncode == 4, output(closed)  # and so is the port setting
    assert len(closed.stderr.strip().splitlines()) == 1
    assert "ports below 1024 cannot be bound here instead" in closed.stderr


# -- root on the machine's loopback -------------------------------------------------------------


@pytest.mark.slow
def test_host_mode_reports_ipv6_scenarios_loudly_as_not_run(
    nobody: Unprivileged, tmp_path: Path
) -> None:
    """As root with --conformance-netns=off (in a network namespace of its own, which stands for
    the machine: the suite cannot tell, and the machine's ports are left to others)."""
    rows = [r for r in catalog(nobody.venv) if "step1" in r["id"]]
    ipv6 = {r["id"] for r in rows if "ipv6" in r["id"]}
    assert ipv6 and len(ipv6) < len(rows)
    as_root = sandbox("--only-netns")
    report = tmp_path / "r.json"
    for workers in ([], ["-n", "2"]):
        args = [*SUITE, *QUICK, *workers, "--conformance-netns=off"]
        res = run([*as_root, nobody.venv.bin("pytest"), *args, f"--conformance-report={report}"],
                  tmp_path)  # fmt: skip
        assert res.returncode == 1, output(res)  # every scenario that ran passed, yet it fails
        out = res.stdout.splitlines()
        assert (
            "conformance: network: the machine's loopback (no namespace); no IPv6 test "
            "addresses (no private namespace: not tried (--conformance-netns=off))"
        ) in out, res.stdout
        assert any("scenarios this machine could not run" in line for line in out), res.stdout
        assert f"{len(ipv6)} scenario(s) NOT RUN on this machine" in res.stdout
        assert "the run fails for them" in res.stdout
        results = {r["id"]: r for r in json.loads(report.read_text())["results"]}
        assert {i for i, r in results.items() if r["unavailable"]} == ipv6
        assert {r["outcome"] for i, r in results.items() if i not in ipv6} == {"passed"}
        assert {results[i]["outcome"] for i in ipv6} == {"skipped"}

        allowed = run([*as_root, nobody.venv.bin("pytest"), *args,
                       "--conformance-allow-unavailable"], tmp_path)  # fmt: skip
        assert allowed.returncode == 0, output(allowed)
        assert f"{len(ipv6)} scenario(s) NOT RUN on this machine" in allowed.stdout
        assert "allowed by --conformance-allow-unavailable" in allowed.stdout
