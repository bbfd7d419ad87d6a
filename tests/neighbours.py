"""What the neighbour tests share (tests/test_neighbours*.py, test_wheel.py): resolver modules a
user would write, and reading what a run printed and wrote."""

from __future__ import annotations

import json
import shutil
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

from tests.venvs import ROOT, Venv, run

PLUGIN_NAMES = ("html-", "randomly-", "rerunfailures-", "spec-", "timeout-", "level-", "xdist-")
F_SETPIPE_SZ = 1031
LEVELS = ("required", "recommended", "robustness")


def junit_message(entry: dict[str, Any]) -> str:
    """JUnit's one line for a JSON report entry: the worst rule it broke, with its level."""
    worst = min(entry["failures"], key=lambda f: LEVELS.index(f["level"]))
    return f"[{worst['level']}] {worst['rule']}: {worst['message']}"


FLAKY = '''"""Wrong (no port in Host) the first time it meets a scenario, right on the rerun."""
from pathlib import Path

from contract_resolvers import ip_literals, ip_literals_portless_host

SEEN = Path(__file__).with_name("flaky-seen.txt")


def flaky(env):
    good, bad = ip_literals(env), ip_literals_portless_host(env)

    def fetch(server_name):
        key = server_name.rpartition(":")[2]  # a rerun gets new addresses, the same port
        seen = SEEN.read_text().split() if SEEN.exists() else []
        if key in seen:
            return good(server_name)
        with SEEN.open("a") as f:
            f.write(key + "\\n")
        return bad(server_name)

    return fetch
'''

RAISING = """def boom(env):
    def fetch(server_name):
        return helper(server_name)

    return fetch


def helper(server_name):
    raise RuntimeError(f"no luck with {server_name}")
"""


# -- reading a run ---------------------------------------------------------------------------------


def resolvers(tmp_path: Path) -> Path:
    """A folder with resolver modules a user would write (the suite imports them from cwd)."""
    folder = tmp_path / "resolvers"
    folder.mkdir()
    shutil.copy(ROOT / "tests" / "contract_resolvers.py", folder)
    (folder / "flaky.py").write_text(FLAKY)
    (folder / "raising.py").write_text(RAISING)
    return folder


def catalog(venv: Venv, cwd: Path) -> list[dict[str, Any]]:
    res = run([venv.bin("matrix-resolver-conformance"), "list", "--format", "json"], cwd)
    assert res.returncode == 0, res.stderr
    rows: list[dict[str, Any]] = json.loads(res.stdout)
    return rows


def step1_ids(rows: list[dict[str, Any]]) -> set[str]:
    """What `-k step1` selects: ids and markers are keywords."""
    return {r["id"] for r in rows if "step1" in r["id"].lower() or r["step"] == "1"}


def report_ids(path: Path) -> list[str]:
    return [r["id"] for r in json.loads(path.read_text())["results"]]


def junit_cases(junit: Path) -> list[ET.Element]:
    return list(ET.parse(junit).iter("testcase"))


def scenario_id(testcase: ET.Element) -> str:
    name = testcase.get("name", "")
    assert name.startswith("test_scenario[") and name.endswith("]"), name
    return name[len("test_scenario[") : -1]


def summary(res: subprocess.CompletedProcess[str]) -> str:
    return (res.stdout.strip().splitlines() or [""])[-1]


def output(res: subprocess.CompletedProcess[str]) -> str:
    return f"rc={res.returncode}\n{res.stdout}\n{res.stderr}"
