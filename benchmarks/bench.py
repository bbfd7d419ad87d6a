"""Wall-clock figures for README's speed table: each command run N times, min and median.

    python benchmarks/bench.py [--repeat 3] [--only suite-serial,suite-n2,...]

Run it on an otherwise idle machine: the figures are for 2 cores. The suite commands run from a
scratch directory with --pyargs, as a user would; the project tests run in the checkout.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PYTEST = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"]
COMMANDS = {
    "suite-serial": ([*PYTEST, "--pyargs", "conformance"], None),
    "suite-n2": ([*PYTEST, "--pyargs", "conformance", "-n", "2"], None),
    "suite-in-process-n2": (
        [*PYTEST, "--pyargs", "conformance", "-n", "2", "--conformance-in-process"],
        None,
    ),
    "suite-all-specs-n2": (
        [*PYTEST, "--pyargs", "conformance", "-n", "2", "--conformance-spec=all"],
        None,
    ),
    "tests-n2": ([*PYTEST, "tests", "-n", "2"], ROOT),
}


def timed(cmd: list[str], cwd: Path) -> tuple[float, str]:
    start = time.perf_counter()
    res = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - start
    last = (res.stdout.strip().splitlines() or ["(no output)"])[-1]
    if res.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({res.returncode}): {last}")
    return wall, last


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--only", default=",".join(COMMANDS))
    args = parser.parse_args()
    names = [n for n in args.only.split(",") if n]
    unknown = set(names) - set(COMMANDS)
    if unknown:
        raise SystemExit(f"unknown benchmark(s): {sorted(unknown)}; known: {list(COMMANDS)}")
    print("| what | command | min s | median s | last line |")
    print("|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as scratch:
        for name in names:
            cmd, cwd = COMMANDS[name]
            walls, last = [], ""
            for _ in range(args.repeat):
                wall, last = timed(cmd, cwd or Path(scratch))
                walls.append(wall)
            shown = " ".join(["pytest", *cmd[3:]])
            print(
                f"| {name} | `{shown}` | {min(walls):.1f} | {statistics.median(walls):.1f} "
                f"| {last} |",
                flush=True,
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
