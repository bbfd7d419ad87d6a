"""Issue 11's last points, apart from the hostile plug-ins: an in-process `pytest.main(...)` leaves
its caller in the network namespace it started in, and the check for leftover processes that
tests/test_isolation.py relies on does see one."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.hostile_resolvers import DIR_VARIABLE
from tests.isolation_run import (
    ROOT,
    SCENARIOS,
    SUBPROCESS_TIMEOUT,
    assert_nothing_left,
    machine_mounts,
    marked_processes,
)

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
    mounts = machine_mounts()
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
            while proc.pid not in marked_processes(str(tmp_path)) and time.monotonic() < until:
                time.sleep(0.01)
            assert proc.pid in marked_processes(str(tmp_path))
        finally:
            proc.kill()
    assert proc.pid not in marked_processes(str(tmp_path))
