"""What running the implementation in a process of its own costs (issue 11): the whole catalog
in its own processes and in-process, for the reference and for a resolver that does no work.

    python benchmarks/isolation.py [--repeat 3] [--workers 0,2]

The instant resolver answers every fetch at once without touching the network, so its difference
is the machinery alone (fork, the child's start, its events, its exit, the template's
bookkeeping); the reference's difference adds what a cold process pays to run real code for the
first time (page copies, interpreter caches). CPU is every process's user + system time
(the template and its children included: each reaps its own). Run it on an otherwise idle
machine.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
PYTEST = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--pyargs", "conformance"]
RESOLVERS = {"reference": [], "instant": ["--resolver=isolation:instant"]}


def instant(env: object) -> object:
    """A resolver that answers at once, without any network: every scenario fails, cheaply."""

    def fetch(server_name: str) -> dict[str, object]:
        return {"status": 200, "body": "{}"}

    return fetch


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def timed(cmd: list[str], cwd: str) -> tuple[float, float, str]:
    """Wall and CPU seconds of one run, and its last line."""
    path = os.pathsep.join([str(HERE), os.environ.get("PYTHONPATH", "")])
    env = {**os.environ, "PYTHONPATH": path}
    cpu, start = _cpu(), time.perf_counter()
    res = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, check=False)
    wall, cpu = time.perf_counter() - start, _cpu() - cpu
    last = (res.stdout.strip().splitlines() or ["(no output)"])[-1]
    if res.returncode not in (0, 1) or not (" passed" in last or " failed" in last):
        raise SystemExit(f"{' '.join(cmd)} failed ({res.returncode}): {last}")
    return wall, cpu, last


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--workers", default="0,2", help="xdist worker counts, 0 = serial")
    args = parser.parse_args()
    print("| resolver | workers | isolated wall s | in-process wall s | wall + | "
          "isolated CPU s | in-process CPU s | extra CPU ms per scenario |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as scratch:
        for workers in [int(w) for w in args.workers.split(",")]:
            xdist = ["-n", str(workers)] if workers else []
            for name, extra in RESOLVERS.items():
                runs: dict[str, list[tuple[float, float]]] = {"iso": [], "inp": []}
                scenarios = 0
                for _ in range(args.repeat):  # interleaved: a drift in the machine hits both
                    for mode, flag in (("iso", []), ("inp", ["--conformance-in-process"])):
                        wall, cpu, last = timed([*PYTEST, *xdist, *extra, *flag], scratch)
                        runs[mode].append((wall, cpu))
                        scenarios = sum(int(w) for w in last.split() if w.isdigit())
                walls = {m: min(w for w, _ in r) for m, r in runs.items()}
                cpus = {m: statistics.median(c for _, c in r) for m, r in runs.items()}
                per = (cpus["iso"] - cpus["inp"]) / max(scenarios, 1) * 1000
                cells = [name, str(workers or "serial"), f"{walls['iso']:.1f}",
                         f"{walls['inp']:.1f}", f"{(walls['iso'] / walls['inp'] - 1) * 100:+.0f} %",
                         f"{cpus['iso']:.1f}", f"{cpus['inp']:.1f}", f"{per:.1f}"]  # fmt: skip
                print("| " + " | ".join(cells) + " |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
