"""Figures for a whole homeserver as the implementation under test (README, "Whole homeservers").

    python benchmarks/homeserver.py [--homeserver synapse] [--starts 5] [-n 2]

1. Start-up: the server started as the suite starts it (its sandbox, its profile's files, until
   its ready path answers 200), `--starts` times; min, median, max.
2. The whole catalog, `pytest --pyargs conformance --homeserver=NAME -n N`, from a scratch
   directory: wall time, per-scenario seconds (median, p95, max: from the JSON report, world
   set-up and the quiet wait included), and the peak RSS of the server processes (sampled from
   /proc every 0.1 s; a process is the server's when its command line has the profile's first
   argument after the interpreter, e.g. `synapse.app.homeserver`).

Run it on an otherwise idle machine; the figures are for its cores.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from matrix_resolver_conformance.homeservers.process import HomeserverProcess
from matrix_resolver_conformance.homeservers.profile import Profile, load_profile
from matrix_resolver_harness.netns import open_network
from matrix_resolver_harness.pki import CertificateAuthority


def startups(profile: Profile, count: int) -> list[float]:
    network = open_network("require")
    pki = CertificateAuthority()
    seconds = []

    async def once() -> float:
        process = HomeserverProcess(
            profile, network, ca_file=pki.ca_file, dns_host="127.16.0.53",
            listen_host="127.16.0.80", server_name="bench.conformance.invalid",
        )  # fmt: skip
        try:
            return await process.start()
        finally:
            await process.stop()

    try:
        for _ in range(count):
            seconds.append(asyncio.run(once()))
    finally:
        network.close()
    return seconds


def marker(profile: Profile) -> bytes:
    """What a server process's command line contains (`-m MODULE`: the module; else argv 0)."""
    argv = list(profile.command)
    return (argv[argv.index("-m") + 1] if "-m" in argv else Path(argv[0]).name).encode()


class PeakRss:
    """The largest resident set of any process whose command line contains `needle`."""

    def __init__(self, needle: bytes) -> None:
        self.needle = needle
        self.peak_kib = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def __enter__(self) -> PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()

    def _sample(self) -> None:
        while not self._stop.wait(0.1):
            for proc in Path("/proc").iterdir():
                if not proc.name.isdigit():
                    continue
                try:
                    if self.needle not in (proc / "cmdline").read_bytes():
                        continue
                    for line in (proc / "status").read_text().splitlines():
                        if line.startswith("VmRSS:"):
                            self.peak_kib = max(self.peak_kib, int(line.split()[1]))
                except OSError:
                    continue


def catalog_run(name: str, workers: str) -> tuple[float, list[float], int, str]:
    profile = load_profile(name)
    with tempfile.TemporaryDirectory() as scratch:
        report = Path(scratch) / "report.json"
        cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--pyargs",
               "conformance", f"--homeserver={name}", "-n", workers,
               f"--conformance-report={report}"]  # fmt: skip
        with PeakRss(marker(profile)) as rss:
            started = time.perf_counter()
            res = subprocess.run(cmd, cwd=scratch, capture_output=True, text=True, check=False)
            wall = time.perf_counter() - started
        if res.returncode not in (0, 1) or not report.exists():
            raise SystemExit(f"the run failed ({res.returncode}): {res.stdout[-2000:]}")
        results = json.loads(report.read_text())["results"]
        last = (res.stdout.strip().splitlines() or [""])[-1]
        return wall, [r["seconds"] for r in results], rss.peak_kib, last


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--homeserver", default="synapse")
    parser.add_argument("--starts", type=int, default=5)
    parser.add_argument("-n", dest="workers", default="2")
    args = parser.parse_args()
    profile = load_profile(args.homeserver)
    up = startups(profile, args.starts)
    print(f"start-up ({args.starts}x): min {min(up):.2f} s, median {statistics.median(up):.2f} s, "
          f"max {max(up):.2f} s", flush=True)  # fmt: skip
    wall, seconds, peak_kib, last = catalog_run(args.homeserver, args.workers)
    p95 = statistics.quantiles(seconds, n=20)[-1]
    print(f"whole catalog (-n {args.workers}): {wall:.1f} s wall; {last}")
    print(f"per scenario: median {statistics.median(seconds) * 1000:.0f} ms, p95 {p95:.2f} s, "
          f"max {max(seconds):.2f} s ({len(seconds)} scenarios)")  # fmt: skip
    print(f"peak RSS of one server process: {peak_kib / 1024:.0f} MiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
