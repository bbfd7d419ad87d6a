"""What the plugin costs a pytest run that has nothing to do with the suite.

    python benchmarks/plugin_import.py [--repeat 15] [--max-ms 20]

Every pytest in an environment where the suite is installed loads its `pytest11` entry point,
so the plugin must import nothing heavy until a run targets the scenarios. Two figures:

- import: `python -X importtime -c "import pytest; import matrix_resolver_conformance.plugin"`,
  the plugin's own cumulative time after pytest is loaded (median of the runs), and the modules
  it brings that pytest did not (the heaviest first);
- start: the wall time of `pytest --co -q` in an empty project, with the plugin and with
  `-p no:matrix_resolver_conformance`, median of the runs each, interleaved so that a busy
  machine slows both alike; the difference is what the plugin adds.

- instructions (`--instructions`, needs valgrind): the same two starts counted by callgrind,
  one run each: unlike time, the count does not depend on what else the machine is doing.

Exits 1 when the added start time is over --max-ms (default 20). Run it with the interpreter of
the environment to measure (the one the suite is installed in), in a user's setting: with
bytecode caching on (PYTHONDONTWRITEBYTECODE unset), else every start compiles the plugin.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PLUGIN = "matrix_resolver_conformance.plugin"
ENTRY_POINT = "matrix_resolver_conformance"
LINE = re.compile(r"^import time:\s+(\d+) \|\s+(\d+) \| (\s*)(\S+)$")


def _env() -> dict[str, str]:
    """No PYTEST_* (e.g. PYTEST_ADDOPTS, PYTEST_DISABLE_PLUGIN_AUTOLOAD) from the caller."""
    return {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}


def import_profile() -> tuple[float, list[tuple[float, str]]]:
    """(the plugin's cumulative import ms, [(self ms, module)] of what it brought), one run."""
    res = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", f"import pytest; import {PLUGIN}"],
        capture_output=True, text=True, check=True, env=_env(),
    )  # fmt: skip
    rows = [m.groups() for m in map(LINE.match, res.stderr.splitlines()) if m]
    start = next(i for i, r in enumerate(rows) if r[3] == "pytest" and not r[2]) + 1
    ours = rows[start:]  # importtime prints a module after its imports: all after pytest's
    total = next(int(r[1]) for r in ours if r[3] == PLUGIN and not r[2])
    brought = sorted(((int(r[0]) / 1000, r[3]) for r in ours), reverse=True)
    return total / 1000, brought


def start_time(project: Path, *extra: str) -> tuple[float, float]:
    """(wall, CPU) seconds of one `pytest --co -q` there; CPU (user + system, of pytest and
    what it started) is steadier than wall time on a machine that is doing other work."""
    cmd = [sys.executable, "-m", "pytest", "--co", "-q", "-p", "no:cacheprovider", *extra]
    began = time.perf_counter()
    proc = subprocess.Popen(
        cmd, cwd=project, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    out = proc.stdout.read() if proc.stdout is not None else b""
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - began
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode not in (0, 5):  # 5: no tests collected, as expected in an empty project
        raise SystemExit(f"{' '.join(cmd)} failed ({proc.returncode}): {out.decode()}")
    return wall, usage.ru_utime + usage.ru_stime


def instructions(project: Path, *extra: str) -> int:
    """Instructions callgrind counts in one `pytest --co -q` there."""
    cmd = ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null", sys.executable]
    cmd += ["-m", "pytest", "--co", "-q", "-p", "no:cacheprovider", *extra]
    res = subprocess.run(cmd, cwd=project, capture_output=True, text=True, env=_env())
    found = re.search(r"I\s+refs:\s+([\d,]+)", res.stderr)
    if found is None:
        raise SystemExit(f"callgrind counted nothing: {res.stderr[-2000:]}")
    return int(found[1].replace(",", ""))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=15)
    parser.add_argument("--max-ms", type=float, default=20.0)
    parser.add_argument("--show", type=int, default=8, help="heaviest modules listed")
    parser.add_argument(
        "--instructions", action="store_true", help="also count instructions (valgrind)"
    )
    args = parser.parse_args(argv)

    imports = [import_profile() for _ in range(args.repeat)]
    import_ms = statistics.median(total for total, _ in imports)
    print(f"python: {sys.executable} ({sys.version.split()[0]})")
    print(
        f"import {PLUGIN} after pytest: {import_ms:.1f} ms median of {args.repeat} "
        f"(min {min(t for t, _ in imports):.1f} ms); {len(imports[0][1])} modules, heaviest:"
    )
    for ms, name in imports[0][1][: args.show]:
        print(f"    {ms:7.2f} ms  {name}")

    with tempfile.TemporaryDirectory() as scratch:
        project = Path(scratch)
        (project / "pytest.ini").write_text("[pytest]\n", encoding="utf-8")
        start_time(project)  # warm the file cache
        with_plugin, without = [], []
        for _ in range(args.repeat):
            with_plugin.append(start_time(project))
            without.append(start_time(project, "-p", f"no:{ENTRY_POINT}"))
        if args.instructions:
            if shutil.which("valgrind") is None:
                raise SystemExit("--instructions needs valgrind (apt-get install valgrind)")
            count_on = instructions(project)
            count_off = instructions(project, "-p", f"no:{ENTRY_POINT}")
            added_count = count_on - count_off
            print(
                f"pytest --co -q in an empty project, instructions (callgrind): {count_on:,} "
                f"with the plugin, {count_off:,} without: the plugin adds {added_count:,} "
                f"({added_count / count_off:.1%})"
            )
    added = {}
    for i, what in enumerate(("wall", "CPU")):
        on = statistics.median(t[i] for t in with_plugin) * 1000
        off = statistics.median(t[i] for t in without) * 1000
        added[what] = on - off
        print(
            f"pytest --co -q in an empty project, {what} time, median of {args.repeat}: "
            f"{on:.0f} ms with the plugin, {off:.0f} ms with -p no:{ENTRY_POINT}: "
            f"the plugin adds {on - off:.1f} ms"
        )
    verdict = "within" if added["wall"] <= args.max_ms else "OVER"
    print(f"{verdict} the target: the plugin adds <= {args.max_ms:g} ms of wall time")
    return 0 if added["wall"] <= args.max_ms else 1


if __name__ == "__main__":
    sys.exit(main())
