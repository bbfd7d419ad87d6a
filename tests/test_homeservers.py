"""Issue 12, whole homeservers: `--homeserver=PROFILE` end to end, with a toy homeserver.

The toy (tests/toy_homeserver.py) is a real process started from a profile, in the world's
network namespace and a private mount namespace, that finds the fake DNS only through
/etc/resolv.conf and is asked for one federation request per fetch by the key-query trigger,
exactly as Synapse is; its discovery is the reference resolver's, so its verdicts are known.
Its modes make it misbehave as real servers do: fail to start, never become ready, crash, answer
the trigger with garbage, leave a child behind (in a session of its own). Synapse itself:
tests/test_synapse_process.py.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from tests.reports import applicable
from tests.venvs import clean_env

TOY = Path(__file__).with_name("toy_homeserver.py")
SUITE = [sys.executable, "-m", "pytest", "--pyargs", "conformance", "-q", "-p", "no:cacheprovider"]
QUICK = ["-k", "step1"]  # IP literals (IPv6 among them): no well-known, no SRV, a few seconds
# Run alone and after all others: names every scenario shares, a well-known a server caches
ALONE = (
    "step3-well-known-success-cached",
    "step3-well-known-404-cached",
    "step3.3-srv-matrix-fed-on-delegated-name",
    "step4-srv-matrix-fed-on-hostname",
)


def toy_profile(
    folder: Path, *toy_args: str, ready_timeout: float = 10, restarts: int = 3,
    mode: str = "fresh-names",
) -> Path:  # fmt: skip
    """A profile for the toy, as a user would write one for their own server."""
    command = ["{python}", str(TOY), "--listen", "{listen_host}:{listen_port}", "--ca",
               "{ca_file}", *toy_args]  # fmt: skip
    path = folder / "toy.toml"
    path.write_text(
        f'name = "toy"\ncommand = {json.dumps(command)}\nlisten_port = 8008\n'
        f"[ready]\ntimeout = {ready_timeout}\n"
        '[trigger]\nkind = "key-query"\ntimeout = 8\n'
        f'[isolation]\nmode = "{mode}"\nquiet = 0.1\nrestarts = {restarts}\n'
    )
    return path


class Run:
    def __init__(self, folder: Path, profile: Path, *args: str, timeout: float = 300) -> None:
        self.report = folder / "report.json"
        self.tmp = folder / "tmp"  # the suite's and the server's temporary files
        self.tmp.mkdir(exist_ok=True)
        started = time.monotonic()
        self.res = subprocess.run(
            [*SUITE, f"--homeserver={profile}", f"--conformance-report={self.report}", *args],
            cwd=folder, env=clean_env(TMPDIR=str(self.tmp)), capture_output=True, text=True,
            timeout=timeout, check=False,
        )  # fmt: skip
        self.seconds = time.monotonic() - started

    @property
    def output(self) -> str:
        return f"rc={self.res.returncode}\n{self.res.stdout}\n{self.res.stderr}"

    def results(self) -> dict[str, dict[str, Any]]:
        data = json.loads(self.report.read_text())
        return {r["id"]: r for r in data["results"]}

    def left_behind(self) -> list[str]:
        return sorted(p.name for p in self.tmp.iterdir() if p.name.startswith("mrc-homeserver-"))


def processes_with(marker: str) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if marker.encode() in (entry / "cmdline").read_bytes():
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


def test_a_homeserver_is_judged_by_what_the_world_saw(tmp_path: Path) -> None:
    """The toy follows the spec: every scenario of these steps passes, judged at the path its
    trigger makes it request, and the header says what ran and how."""
    run = Run(tmp_path, toy_profile(tmp_path, "--cache"), "-k", "step1 or step2 or step3.3", "-v")
    assert run.res.returncode == 0, run.output
    assert "toy.toml" in run.res.stdout and "fresh names per scenario" in run.res.stdout
    results = run.results()
    assert len(results) > 40 and all(r["outcome"] == "passed" for r in results.values())
    requests = [r["expected"] for r in results.values() if r["expected"].startswith("GET ")]
    assert len(requests) > 30 and all(e.startswith("GET /_matrix/key/v2/server ") for e in requests)
    assert run.left_behind() == []


def test_a_server_that_forgets_is_caught(tmp_path: Path) -> None:
    """Teeth: without its cache (a new resolver per trigger) the toy refetches every time, and
    exactly the caching scenarios fail, counted under the caching rule."""
    run = Run(tmp_path, toy_profile(tmp_path), "-k", "step3 and cached", "-n", "2")
    results = run.results()
    failed = {i for i, r in results.items() if r["outcome"] == "failed"}
    assert failed and failed == {i for i in results if "cached" in i}, run.output
    assert all(f["rule"] == "caching" for i in failed for f in results[i]["failures"])
    # the messages name what the server saw (fresh names), and say how to read them
    assert re.search(r"this run's names end in \.t[0-9a-z]{3} where the catalog has \.test",
                     run.res.stdout), run.output  # fmt: skip


@pytest.mark.slow
def test_outcome_alone_equals_outcome_after_every_other_scenario(tmp_path: Path) -> None:
    """Isolation: one long-lived process that caches well-knowns as real servers do serves the
    whole catalog (most scenarios use the same names, origin.test first); fresh names per
    scenario keep each verdict what it is when that scenario runs alone."""
    profile = toy_profile(tmp_path, "--cache")
    whole = Run(tmp_path, profile, "-n", "2", timeout=600)
    after_others = whole.results()
    assert all(r["outcome"] == "passed" for r in applicable(list(after_others.values()))), (
        whole.output
    )
    for sid in ALONE:
        (tmp_path / sid).mkdir()
        alone = Run(tmp_path / sid, profile, "-k", sid)
        assert alone.results()[sid]["outcome"] == after_others[sid]["outcome"], alone.output


def test_a_server_that_cannot_start_stops_the_run_in_one_line(tmp_path: Path) -> None:
    run = Run(tmp_path, toy_profile(tmp_path, "--mode", "exit-at-start"), *QUICK)
    assert run.res.returncode == 4, run.output
    errors = [line for line in run.res.stderr.splitlines() if line.startswith("ERROR:")]
    assert len(errors) == 1, run.output
    assert "did not start" in errors[0] and "exited (code 3)" in errors[0]
    assert "cannot open its database (on purpose)" in errors[0]  # its last output
    assert "Traceback" not in run.output
    assert run.seconds < 30 and run.left_behind() == []


def test_a_server_that_never_becomes_ready_costs_its_ready_timeout(tmp_path: Path) -> None:
    run = Run(tmp_path, toy_profile(tmp_path, "--mode", "never-ready", ready_timeout=2), *QUICK)
    assert run.res.returncode == 4, run.output
    assert "not ready within 2 s (/_matrix/client/versions answered 503)" in run.res.stderr
    assert "toy: listening on" in run.res.stderr  # its last output
    assert run.seconds < 30 and run.left_behind() == []


def test_a_crash_costs_the_scenario_it_happened_in_and_is_named(tmp_path: Path) -> None:
    """Crashing at every second trigger, restarted once: the crash is reported with the
    server's last output where it happened; once given up, the rest say so, briefly."""
    profile = toy_profile(tmp_path, "--mode", "crash", "--crash-after", "1", restarts=1)
    run = Run(tmp_path, profile, *QUICK, "-p", "no:randomly")
    results = list(run.results().values())
    crashed = [r for r in results if "exited (code 9)" in " ".join(r["problems"])]
    assert len(crashed) == 2, run.output  # the first crash, and the one after the restart
    assert all("toy: crashing at trigger 2" in " ".join(r["problems"]) for r in crashed)
    given_up = [r for r in results if any(p.startswith("not run: the homeserver crashed 2 times")
                                          for p in r["problems"])]  # fmt: skip
    assert given_up and all(r["outcome"] == "failed" for r in given_up)
    assert len(crashed) + len(given_up) + 2 == len(results)  # 2 passed: one per process
    assert run.res.returncode == 1 and run.left_behind() == []


def test_garbage_answers_to_the_trigger_cost_a_bounded_time(tmp_path: Path) -> None:
    # each failed trigger waits CRASH_GRACE (0.5 s) to see whether the server is exiting
    run = Run(tmp_path, toy_profile(tmp_path, "--mode", "garbage"), "-k", "step1-ipv4-literal")
    results = run.results()
    assert results and all(r["outcome"] == "failed" for r in results.values()), run.output
    assert all("got no answer" in " ".join(r["problems"]) for r in results.values())
    assert run.seconds < 60 and run.left_behind() == []


def test_nothing_the_server_started_outlives_the_run(tmp_path: Path) -> None:
    marker = f"toy-orphan-{os.getpid()}"
    run = Run(tmp_path, toy_profile(tmp_path, "--mode", "orphan", "--orphan-marker", marker),
              *QUICK)  # fmt: skip
    assert run.res.returncode == 0, run.output
    assert processes_with(marker) == []
    assert run.left_behind() == []
