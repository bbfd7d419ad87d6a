"""Running the suite in a subprocess as a user runs it, for tests/test_isolation.py: the run's
reports read back and checked for completeness (JSON and JUnit agree, every scenario in both),
its wall time against the documented bound, and nothing left behind (processes carrying the
run's marker, temporary files, mounts)."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.hostile_resolvers import DIR_VARIABLE

ROOT = Path(__file__).resolve().parents[1]
SCENARIOS = (  # in the catalog's order: the first is the hostile one in a serial run
    "step1-ipv4-literal-default-port",
    "step1-ipv4-literal-explicit-port",
    "step1-ipv4-literal-port-1",
)
XDIST_SCENARIOS = (*SCENARIOS, "step1-ipv4-literal-port-65535")  # two per worker
STEP_TIMEOUT = 1.0
DEADLINE = 1 * STEP_TIMEOUT + 3.0  # README: fetches x --step-timeout + 3 s; these have 1 fetch
KILL_SLACK = 2.0  # beyond the deadline, for a killed scenario: kill, sweep, the world's stop
START_SLACK = 30.0  # pytest, the namespace, the template(s): xdist workers on a busy 2-core box
GONE_WAIT = 5.0  # for SIGKILLed processes to be gone
SUBPROCESS_TIMEOUT = 300


class Bug(AssertionError):
    """A check that fails because of a known bug (named in the test's xfail reason)."""


# -- running the suite -------------------------------------------------------------------------


@dataclass
class Run:
    proc: subprocess.CompletedProcess[str]
    wall: float
    marker: Path
    results: dict[str, dict[str, Any]]  # scenario id -> JSON report entry
    junit: dict[str, tuple[str, str]]  # scenario id -> (outcome, failure message)

    @property
    def output(self) -> str:
        return self.proc.stdout + self.proc.stderr

    def failed(self) -> list[str]:
        return [i for i, r in self.results.items() if r["outcome"] == "failed"]


def machine_mounts() -> set[str]:
    """This machine's mounts (mountinfo lines without the mount ids, which are reused)."""
    lines = Path("/proc/self/mountinfo").read_text().splitlines()
    return {line.split(" ", 2)[2] for line in lines}


def marked_processes(marker: str) -> dict[int, str]:
    """Live processes (other than this one) with `marker` in their command line or environment
    (everything the suite's run started inherits it there): pid -> command line."""
    needle = marker.encode()
    found = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmdline = Path(entry.path, "cmdline").read_bytes()
            environ = Path(entry.path, "environ").read_bytes()
        except OSError:
            continue  # gone meanwhile
        if needle in cmdline or needle in environ:
            shown = cmdline.replace(b"\0", b" ").decode(errors="replace")[:200]
            found[int(entry.name)] = shown or "(no command line)"
    return found


def assert_nothing_left(marker: Path, temp: Path, mounts: set[str]) -> None:
    until = time.monotonic() + GONE_WAIT
    while (left := marked_processes(str(marker))) and time.monotonic() < until:
        time.sleep(0.05)
    for pid in left:  # do not leave them to the next test (they are all ours: the marker says)
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    assert not left, f"processes outlived the run: {left}"
    # pytest's own base directory (made for xdist's workers) is kept by design; nothing else
    left_files = sorted(p.name for p in temp.iterdir() if not p.name.startswith("pytest-of-"))
    assert not left_files, f"left in TMPDIR: {left_files}"
    assert not machine_mounts() - mounts, f"new mounts: {sorted(machine_mounts() - mounts)}"


def junit_cases(path: Path) -> dict[str, tuple[str, str]]:
    cases: dict[str, tuple[str, str]] = {}
    for case in ET.parse(path).getroot().iter("testcase"):
        name = case.get("name", "")
        sid = name[name.index("[") + 1 : -1] if "[" in name else name
        assert sid not in cases, f"{sid} twice in the JUnit XML"
        outcome, message = "passed", ""
        for child in case:
            if child.tag in ("failure", "error", "skipped"):
                outcome, message = child.tag, child.get("message", "")
        cases[sid] = (outcome, message)
    return cases


def run_suite(
    tmp_path: Path, resolver: str, scenarios: tuple[str, ...] = SCENARIOS, *args: str
) -> Run:
    """The suite over `scenarios` in a subprocess, as a user runs it; checks that it left
    nothing behind and that both reports are complete."""
    marker, temp = tmp_path / "marker", tmp_path / "tmp"
    marker.mkdir()
    temp.mkdir()
    report, junit = tmp_path / "report.json", tmp_path / "junit.xml"
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    env.update({DIR_VARIABLE: str(marker), "TMPDIR": str(temp)})
    cmd = [
        sys.executable, "-m", "pytest", "--pyargs", "conformance", "-p", "no:cacheprovider",
        "-q", "-k", " or ".join(scenarios), f"--resolver={resolver}",
        f"--conformance-step-timeout={STEP_TIMEOUT}", f"--conformance-report={report}",
        f"--junitxml={junit}", *args,
    ]  # fmt: skip
    mounts = machine_mounts()
    started = time.monotonic()
    proc = subprocess.run(
        cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=SUBPROCESS_TIMEOUT,
        check=False,
    )  # fmt: skip
    wall = time.monotonic() - started
    assert_nothing_left(marker, temp, mounts)
    tail = (proc.stdout + proc.stderr)[-3000:]
    assert report.exists() and junit.exists(), f"no report (exit {proc.returncode}):\n{tail}"
    entries = json.loads(report.read_text())["results"]
    results = {r["id"]: r for r in entries}
    assert len(results) == len(entries), "a scenario twice in the JSON report"
    assert set(results) == set(scenarios), f"JSON report: {sorted(results)}\n{tail}"
    cases = junit_cases(junit)
    assert set(cases) == set(scenarios), f"JUnit: {sorted(cases)}\n{tail}"
    for sid, (outcome, message) in cases.items():  # the two reports agree
        entry = results[sid]
        as_junit = {"passed": "passed", "failed": "failure"}.get(entry["outcome"])
        assert outcome == as_junit, (sid, outcome, entry["outcome"])
        if outcome == "failure":  # JUnit's one line is the first problem
            assert entry["problems"][0] in message, (sid, message)
    bound = len(scenarios) * DEADLINE + START_SLACK
    assert wall <= bound, f"the run took {wall:.1f} s, more than {bound:.1f} s"
    return Run(proc, wall, marker, results, cases)
