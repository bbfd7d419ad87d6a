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

import re
import shlex
import sys
import textwrap
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.hostile_resolvers import DIR_VARIABLE, SLEEPER_CODE
from tests.isolation_run import (
    DEADLINE,
    KILL_SLACK,
    SCENARIOS,
    START_SLACK,
    XDIST_SCENARIOS,
    Bug,
    Run,
    run_suite,
)

ADDR = r"'127\.\d+\.\d+\.\d+(?::\d+)?'"
IN_FETCH = rf"in fetch 1 \({ADDR}\)"
KILLED = (
    r"killed after 4\.0 s {where}: it did not return control \(the deadline is fetches x "
    r"--conformance-step-timeout \+ 3 s\)"
)
NO_REQUEST = r"0 federation request\(s\) reached origin:\d+; expected exactly 1 \(one per fetch\)"
SLEEPER_LEFT = r"it left 1 process\(es\) running after the scenario: pid \d+ \(<sleeper>\); killed"
CHANNEL = "it closed the suite's result channel (a file descriptor it did not open)"


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
