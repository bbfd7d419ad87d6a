"""Issue 11's promise, from the outside: "a hung, crashing or lying resolver costs one scenario,
and the run goes on".

Each hostile plug-in (`tests/hostile_resolvers.py`, or a throwaway program for `exec:` written
here) misbehaves in the run's first scenario only. The suite runs in a subprocess, as a user runs
it, over a few scenarios; then:

- the JSON report and the JUnit XML have every scenario, and agree;
- exactly the hostile scenario failed, with a message that says what happened (or, where the
  contract allows the behaviour, it passed), and the scenarios after it passed;
- the run took no longer than the documented bound (fetches x --conformance-step-timeout + 3 s
  per scenario) plus start-up, and a killed scenario took its deadline, no less, little more;
- nothing is left: no process carrying the run's marker (in its command line or environment:
  the template, its children, what they started), no temporary directory, no mount.

Where a check fails because of a known bug it raises `Bug`, and the test is marked
`xfail(raises=Bug, strict=True)`: any other check that fails still fails the test.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shlex
import signal
import subprocess
import sys
import textwrap
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.hostile_resolvers import DIR_VARIABLE, SLEEPER_CODE

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

ADDR = r"'127\.\d+\.\d+\.\d+(?::\d+)?'"
IN_FETCH = rf"in fetch 1 \({ADDR}\)"
KILLED = (
    r"killed after 4\.0 s {where}: it did not return control \(the deadline is fetches x "
    r"--conformance-step-timeout \+ 3 s\)"
)
NO_REQUEST = r"0 federation request\(s\) reached origin:\d+; expected exactly 1 \(one per fetch\)"
SLEEPER_LEFT = r"it left 1 process\(es\) running after the scenario: pid \d+ \(<sleeper>\); killed"
CHANNEL = "it closed the suite's result channel (a file descriptor it did not open)"


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


def _mounts() -> set[str]:
    """This machine's mounts (mountinfo lines without the mount ids, which are reused)."""
    lines = Path("/proc/self/mountinfo").read_text().splitlines()
    return {line.split(" ", 2)[2] for line in lines}


def _ours(marker: str) -> dict[int, str]:
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
    while (left := _ours(str(marker))) and time.monotonic() < until:
        time.sleep(0.05)
    for pid in left:  # do not leave them to the next test (they are all ours: the marker says)
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    assert not left, f"processes outlived the run: {left}"
    # pytest's own base directory (made for xdist's workers) is kept by design; nothing else
    left_files = sorted(p.name for p in temp.iterdir() if not p.name.startswith("pytest-of-"))
    assert not left_files, f"left in TMPDIR: {left_files}"
    assert not _mounts() - mounts, f"new mounts: {sorted(_mounts() - mounts)}"


def _junit(path: Path) -> dict[str, tuple[str, str]]:
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
    mounts = _mounts()
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
    cases = _junit(junit)
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


# -- the hostile implementations ---------------------------------------------------------------

PRELUDE = f"""
import json, os, subprocess, sys, threading, time

def first():
    try:
        os.close(os.open(os.path.join(os.environ[{DIR_VARIABLE!r}], "hit"),
                         os.O_CREAT | os.O_EXCL | os.O_WRONLY))
    except FileExistsError:
        return False
    return True

def answer_plans():
    for line in sys.stdin:
        request = json.loads(line)
        name = request["fetch"]
        host, _, port = name.rpartition(":") if name.count(":") == 1 else (name, "", "")
        plan = {{"address": host, "port": int(port or 8448), "host": name, "tls_name": host}}
        print(json.dumps({{"id": request["id"], "plan": plan}}), flush=True)

SLEEPER = [sys.executable, "-c", {SLEEPER_CODE!r}, os.environ[{DIR_VARIABLE!r}]]
hostile = first()
"""

PROGRAMS = {  # exec: programs, after PRELUDE; each answers plans once it is done misbehaving
    "garbage": """
        if hostile:
            for line in sys.stdin:
                print("hello from a chatty library", flush=True)
    """,
    "silence": """
        if hostile:
            for line in sys.stdin:
                pass
    """,
    "exit-1": """
        if hostile:
            sys.exit(1)
    """,
    "stderr-flood": """
        def flood():
            line = "flood " * 100 + "\\n"
            while True:
                sys.stderr.write(line)
        if hostile:
            threading.Thread(target=flood).start()  # not a daemon: the program never exits
    """,
    "grandchild-ignores-sigterm": """
        if hostile:
            subprocess.Popen(SLEEPER)
    """,
    "setsid-grandchild": """
        if hostile:
            subprocess.Popen(SLEEPER, start_new_session=True)
    """,
}


def _dropped_output(run: Run) -> None:
    """50 MiB printed: the run's output holds its head and tail and says how much was dropped."""
    counts = [int(n) for n in re.findall(r"\[\.\.\. (\d+) bytes of output dropped", run.output)]
    assert counts and counts[0] >= 49 << 20, counts
    assert len(run.output) < 1 << 20


def _allocated(run: Run) -> None:
    """Really resident memory was taken (the deadline may come before all 4 GiB are)."""
    assert int((run.marker / "allocated").read_text()) >= 256 << 20


def _knocked(run: Run) -> None:
    targets, knocked = map(int, (run.marker / "knocked").read_text().split())
    assert targets > 2000 and knocked >= 3, (targets, knocked)  # origin:443, :8448, the DNS


@dataclass(frozen=True)
class Case:
    resolver: str  # a factory of tests.hostile_resolvers, or exec:PROGRAM (a key of PROGRAMS)
    first: str | None  # regex: the hostile scenario's first problem (its JUnit message); None:
    #                    the behaviour is allowed and the scenario must pass
    also: tuple[str, ...] = ()  # regexes, each of which some problem must match
    text: tuple[str, ...] = ()  # in the terminal output
    absent: tuple[str, ...] = ()  # in no problem
    killed: bool = False  # the hostile scenario runs until the deadline kills it
    args: tuple[str, ...] = ()
    check: Callable[[Run], None] | None = None
    bug: str = ""  # a known bug makes the outcome or message checks fail: they raise Bug


CASES: dict[str, Case] = {
    "factory-raises": Case(
        "factory_raises", r"the factory raised RuntimeError: the hostile factory blew up"
    ),
    "factory-hangs": Case("factory_hangs", KILLED.format(where="in the factory"), killed=True),
    "async-factory-hangs": Case(
        "async_factory_hangs", KILLED.format(where="in the factory"), killed=True
    ),
    "fetch-sleeps-an-hour": Case(
        "fetch_sleeps_an_hour", KILLED.format(where=IN_FETCH), killed=True
    ),
    "async-fetch-swallows-cancellation": Case(
        "fetch_swallows_cancellation", KILLED.format(where=IN_FETCH), killed=True
    ),
    "fetch-leaves-non-daemon-thread": Case(
        "fetch_leaves_non_daemon_thread",
        r"the resolver left 1 thread\(s\) running after close: hostile-non-daemon",
    ),
    "os-exit-3": Case(
        "fetch_exits_3",
        rf"the implementation exited with code 3 {IN_FETCH}",
        also=(NO_REQUEST,),
        absent=(CHANNEL,),
    ),
    "sys-exit-0": Case(
        "fetch_sys_exit_0",
        NO_REQUEST,
        also=(rf"fetch\({ADDR}\) raised SystemExit: 0 \(a request was expected to succeed\)",),
    ),
    "closes-fds-3-1024": Case(
        "fetch_closes_fds",
        re.escape(CHANNEL) + rf" {IN_FETCH}; what it did after that is not known",
        absent=("exited with code 0",),
    ),
    "prints-50-mb": Case("fetch_prints_50_mb", None, args=("-rP",), check=_dropped_output),
    "allocates-4-gib": Case(
        "fetch_allocates_4_gib", KILLED.format(where=IN_FETCH), killed=True, check=_allocated
    ),
    "regex-backtracking-holds-the-gil": Case(
        "fetch_backtracks", KILLED.format(where=IN_FETCH), killed=True
    ),
    "result-repr-raises": Case(
        "result_repr_raises",
        r"fetch 1 returned a result whose __repr__ raised ValueError: "
        r"this result refuses to be shown",
    ),
    "result-repr-hangs": Case(
        "result_repr_hangs",
        KILLED.format(where=r"while rendering the result of fetch 1 \(its __repr__\)"),
        killed=True,
    ),
    "monkeypatches-socket-and-ssl": Case(
        "fetch_monkeypatches",
        NO_REQUEST,
        also=(
            rf"fetch\({ADDR}\) raised \w+: .*poisoned by the hostile resolver "
            r"\(a request was expected to succeed\)",
        ),
    ),
    "close-hangs": Case("close_hangs", KILLED.format(where=r"in close\(\)"), killed=True),
    "forks-a-child": Case("fetch_forks", SLEEPER_LEFT),
    "double-fork-setsid": Case("fetch_double_forks_setsid", SLEEPER_LEFT),
    "port-scans-the-world": Case(
        "fetch_port_scans",
        r"the TLS handshake at origin:\d+ did not complete \(no SNI; .*\); "
        r"that server's certificate is for 127\.\d+\.\d+\.\d+",
        also=(NO_REQUEST,),
        text=("returned 200", "connect origin:443", "connect origin:8448"),
        check=_knocked,
    ),
    "exec-garbage-output": Case(
        "exec:garbage",
        NO_REQUEST,
        also=(
            rf"fetch\({ADDR}\) raised ExecProtocolError: protocol error: expected a JSON answer "
            r"to request 1 on stdout, got 'hello from a chatty library' \(write logs to "
            r"stderr, not stdout\) \(a request was expected to succeed\)",
        ),
    ),
    "exec-silence": Case(
        "exec:silence",
        KILLED.format(where=IN_FETCH),
        absent=("it left",),
        killed=True,
    ),
    "exec-exits-1-at-once": Case(
        "exec:exit-1",
        NO_REQUEST,
        also=(
            rf"fetch\({ADDR}\) raised ExecError: the resolver process exited \(code 1\) "
            r"(without answering|before) request 1.* \(a request was expected to succeed\)",
        ),
    ),
    "exec-endless-stderr-flood": Case("exec:stderr-flood", None),
    "exec-grandchild-ignores-sigterm": Case("exec:grandchild-ignores-sigterm", None),
    "exec-setsid-grandchild": Case("exec:setsid-grandchild", SLEEPER_LEFT),
}
XDIST_CASES = (
    "os-exit-3",
    "closes-fds-3-1024",
    "fetch-leaves-non-daemon-thread",
    "double-fork-setsid",
    "fetch-sleeps-an-hour",
)


def _params(names: tuple[str, ...] | list[str]) -> list[Any]:
    params = []
    for name in names:
        case = CASES[name]
        marks = [pytest.mark.xfail(raises=Bug, strict=True, reason=case.bug)] if case.bug else []
        params.append(pytest.param(case, id=name, marks=marks))
    return params


def _resolver(case: Case, tmp_path: Path) -> str:
    if not case.resolver.startswith("exec:"):
        return f"tests.hostile_resolvers:{case.resolver}"
    name = case.resolver[len("exec:") :]
    program = tmp_path / f"{name}.py"
    program.write_text(PRELUDE + textwrap.dedent(PROGRAMS[name]) + "answer_plans()\n")
    return f"exec:{shlex.quote(sys.executable)} {shlex.quote(str(program))}"


def _sleeper_name(marker: Path) -> str:
    """How the template names a left sleeper: its command line, cut at 80 characters."""
    return " ".join([sys.executable, "-c", SLEEPER_CODE, str(marker)])[:80]


@dataclass
class Expect:
    """Checks of the outcome and the messages: a failure is a Bug where one is known."""

    case: Case
    run: Run

    def __call__(self, ok: bool, what: str) -> None:
        if not ok:
            raise (Bug if self.case.bug else AssertionError)(what)

    def pattern(self, regex: str) -> str:
        return regex.replace("<sleeper>", re.escape(_sleeper_name(self.run.marker)))


def _first_per_worker(output: str) -> frozenset[str]:
    """The scenario each xdist worker ran first (from `-v` output, in the order it ran)."""
    firsts: dict[str, str] = {}
    for worker, sid in re.findall(r"^\[(gw\d+)\] \[ *\d+%\] \w+ \S+\[(.+?)\]", output, re.M):
        firsts.setdefault(worker, sid)
    return frozenset(firsts.values())


def check(case: Case, run: Run, hostile: str | None, cold: frozenset[str] = frozenset()) -> None:
    """The verdicts of a run in which `hostile` (None: any one) was the hostile scenario and
    the scenarios `cold` ran first in their process (their time includes a start-up)."""
    assert (run.marker / "hit").exists(), "the hostile behaviour never ran"
    expect = Expect(case, run)
    failed = run.failed()
    expect(
        all(run.results[s]["outcome"] in ("passed", "failed") for s in run.results),
        "a scenario was neither passed nor failed",
    )
    if case.first is None:
        shown = {s: run.results[s]["problems"] for s in failed}
        expect(not failed and run.proc.returncode == 0, f"failed: {shown}")
    else:
        expect(len(failed) == 1, f"failed: {failed}, expected exactly one")
        expect(hostile is None or failed == [hostile], f"failed: {failed}, expected {hostile}")
        expect(run.proc.returncode == 1, f"exit {run.proc.returncode}")
        problems = run.results[failed[0]]["problems"]
        first = expect.pattern(case.first)
        expect(re.fullmatch(first, problems[0]) is not None, f"{problems[0]!r} !~ {first!r}")
        for regex in case.also:
            wanted = expect.pattern(regex)
            expect(any(re.fullmatch(wanted, p) for p in problems), f"{problems} !~ {wanted!r}")
        for words in case.absent:
            expect(not any(words in p for p in problems), f"{words!r} in {problems}")
        for words in case.text:
            expect(words in run.proc.stdout, f"{words!r} not in the output")
        hostile = failed[0]
    # time: a killed scenario took its deadline (no less: the deadline was not cut short), the
    # others no more than theirs (a hang never spilled into the next scenario). An xdist
    # worker's first scenario also counts the start of that worker's template.
    for sid, entry in run.results.items():
        seconds, start_up = entry["seconds"], START_SLACK if sid in cold else 0.0
        if case.killed and sid == hostile:
            assert DEADLINE <= seconds <= DEADLINE + KILL_SLACK + start_up, (sid, seconds)
        else:
            assert seconds <= DEADLINE + start_up, (sid, seconds)
    if case.check is not None:
        case.check(run)


@pytest.mark.parametrize("case", _params(list(CASES)))
def test_hostile_implementation_costs_one_scenario(case: Case, tmp_path: Path) -> None:
    run = run_suite(tmp_path, _resolver(case, tmp_path), SCENARIOS, *case.args)
    check(case, run, hostile=SCENARIOS[0])


@pytest.mark.parametrize("case", _params(XDIST_CASES))
def test_hostile_implementation_under_xdist(case: Case, tmp_path: Path) -> None:
    resolver = _resolver(case, tmp_path)
    run = run_suite(tmp_path, resolver, XDIST_SCENARIOS, "-n", "2", "-vv", *case.args)
    for words in ("crashed", "node down", "INTERNALERROR", "replacing"):
        assert words not in run.output, f"{words!r} in the output:\n{run.output[-4000:]}"
    cold = _first_per_worker(run.proc.stdout)
    assert len(cold) == 2, run.proc.stdout  # both workers ran scenarios
    check(case, run, hostile=None, cold=cold)


MAIN = """
import json, os, sys
import pytest

def net():
    return os.stat("/proc/self/ns/net").st_ino

before = net()
code = pytest.main(sys.argv[1:])
print("NAMESPACES", json.dumps({"code": int(code), "before": before, "after": net()}))
"""


@pytest.mark.parametrize("mode", [(), ("--conformance-in-process",)], ids=["isolated", "threads"])
def test_pytest_main_leaves_the_callers_network_namespace(
    mode: tuple[str, ...], tmp_path: Path
) -> None:
    script, marker, temp = tmp_path / "main.py", tmp_path / "marker", tmp_path / "tmp"
    script.write_text(MAIN)
    marker.mkdir()
    temp.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    env.update({DIR_VARIABLE: str(marker), "TMPDIR": str(temp)})
    mounts = _mounts()
    args = ["--pyargs", "conformance", "-q", "-p", "no:cacheprovider", "-k", SCENARIOS[1], *mode]
    proc = subprocess.run(
        [sys.executable, str(script), *args], cwd=ROOT, env=env, capture_output=True, text=True,
        timeout=SUBPROCESS_TIMEOUT, check=False,
    )  # fmt: skip
    assert_nothing_left(marker, temp, mounts)
    line = next((x for x in proc.stdout.splitlines() if x.startswith("NAMESPACES ")), None)
    assert line is not None, proc.stdout + proc.stderr
    seen = json.loads(line.split(" ", 1)[1])
    assert seen["code"] == 0, proc.stdout
    assert seen["after"] == seen["before"] == os.stat("/proc/self/ns/net").st_ino


def test_the_leftover_check_sees_a_process_by_its_environment(tmp_path: Path) -> None:
    """What the checks above rely on: a process that inherited the marker is found. (Popen
    returns as the child's exec begins, before the kernel has set up its command line and
    environment: for a moment /proc shows both empty, so the check may take a few tries.)"""
    env = {**os.environ, DIR_VARIABLE: str(tmp_path)}
    with subprocess.Popen(["sleep", "30"], env=env) as proc:
        try:
            until = time.monotonic() + 5.0
            while proc.pid not in _ours(str(tmp_path)) and time.monotonic() < until:
                time.sleep(0.01)
            assert proc.pid in _ours(str(tmp_path))
        finally:
            proc.kill()
    assert proc.pid not in _ours(str(tmp_path))
