"""Fresh environments for the tests that use the suite as a user installs it
(tests/test_neighbours*.py, test_wheel.py, test_unprivileged.py): the project's wheel, venvs
built from it, and a way for xdist workers to share them (one build per run, whichever worker
asks first).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DISTRIBUTION = "matrix-resolver-conformance"
PLUGINS = (  # PyPI's pytest plugins most likely to sit beside the suite, and the name-alikes
    "pytest-spec",  # --spec
    "pytest-level",  # --level, a `level` marker
    "pytest-html",
    "pytest-randomly",  # reorders tests, reseeds random
    "pytest-timeout",
    "pytest-rerunfailures",  # reruns: reports per attempt
)
PYPI_HARNESS = "harness"  # an unrelated distribution whose top-level package is `harness`
NOT_SOURCE = shutil.ignore_patterns(
    ".git", ".venv", ".tox", ".ci-venvs", ".typecheck", "build", "dist", "node_modules",
    "*.egg-info", "__pycache__", ".mypy_cache", ".ruff_cache", ".pytest_cache",
)  # fmt: skip
PIP_TIMEOUT = 900


def _network_namespace() -> int | None:
    try:
        return os.open("/proc/self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return None


# Where this process started (tests/conftest.py imports this module first thing). A test of the
# world moves this process's main thread into the world's network namespace for good (root only,
# see tests/conftest.py), and a child inherits that: pip would find no PyPI there, and the suite
# would run nested in another run's world. `run` starts its commands back where we started.
START_NETWORK = _network_namespace()


def _moved() -> bool:
    if START_NETWORK is None:
        return False
    here = os.stat("/proc/thread-self/ns/net").st_ino
    return os.fstat(START_NETWORK).st_ino != here


def clean_env(**extra: str) -> dict[str, str]:
    """This process's environment without what would make a child pytest ours (PYTEST_*,
    xdist's worker variables) or another environment's (PYTHONPATH, VIRTUAL_ENV)."""
    drop = ("PYTEST_", "PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")
    env = {k: v for k, v in os.environ.items() if not k.startswith(drop)}
    env.update(extra)
    return env


def run(
    cmd: Sequence[str | Path], cwd: Path, timeout: float = 300, **env: str
) -> subprocess.CompletedProcess[str]:
    """`cmd`, in the network namespace this process started in, with a clean environment."""
    argv = [str(c) for c in cmd]
    fds: tuple[int, ...] = ()
    if _moved():
        assert START_NETWORK is not None
        fds = (START_NETWORK,)
        enter = [sys.executable, "-m", "matrix_resolver_harness.nsenter"]
        argv = [*enter, "--net-fd", str(START_NETWORK), "--", *argv]
    return subprocess.run(
        argv, cwd=cwd, env=clean_env(**env), capture_output=True, text=True, timeout=timeout,
        check=False, pass_fds=fds,
    )  # fmt: skip


def usable_by(user: str) -> str | None:
    """An interpreter the user `user` can run (runuser) and make venvs with."""
    candidates = [os.path.realpath(getattr(sys, "_base_executable", sys.executable))]
    candidates += ["/usr/bin/python3", shutil.which("python3") or ""]
    for python in dict.fromkeys(c for c in candidates if c):
        probe = ["runuser", "-u", user, "--", python, "-c", "import venv, ensurepip, ssl"]
        if run(probe, Path("/"), 60).returncode == 0:
            return python
    return None


def checked(cmd: Sequence[str | Path], cwd: Path, timeout: float = PIP_TIMEOUT) -> None:
    res = run(cmd, cwd, timeout)
    if res.returncode != 0:
        raise RuntimeError(
            f"{' '.join(map(str, cmd))} failed ({res.returncode}):\n{res.stdout}\n{res.stderr}"
        )


@dataclass(frozen=True)
class Venv:
    root: Path

    @property
    def python(self) -> Path:
        return self.root / "bin" / "python"

    def bin(self, name: str) -> Path:
        return self.root / "bin" / name

    def site_packages(self) -> Path:
        (found,) = self.root.glob("lib/python3*/site-packages")
        return found

    def pytest(
        self, *args: str | Path, cwd: Path, timeout: float = 300, **env: str
    ) -> subprocess.CompletedProcess[str]:
        return run([self.bin("pytest"), *args], cwd, timeout, **env)


def make_venv(python: str | Path, where: Path, *installs: Sequence[str | Path]) -> Venv:
    """A venv at `where` from `python`, with each group of `installs` pip-installed in turn."""
    checked([python, "-m", "venv", where], where.parent)
    venv = Venv(where)
    for group in installs:
        checked([venv.python, "-m", "pip", "install", "-q", *group], where.parent)
    return venv


def build_wheel(out: Path) -> None:
    """The project's wheel, in out/wheels, built from a copy of the checkout (an in-tree build
    would leave build/ behind, and a stale build/lib would ship files the tree no longer has)."""
    source = out / "source"
    shutil.copytree(ROOT, source, ignore=NOT_SOURCE, symlinks=True)
    wheels = out / "wheels"
    checked([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", source, "-w", wheels], out)
    shutil.rmtree(source)


def shared_dir(config: pytest.Config, factory: pytest.TempPathFactory) -> Path:
    """This run's temporary root, the same for all its xdist workers."""
    base = factory.getbasetemp()
    return base.parent if hasattr(config, "workerinput") else base


@contextlib.contextmanager
def exclusive(lock: Path) -> Iterator[None]:
    """Held by one process at a time (xdist workers wanting the same build)."""
    with lock.open("a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def built_once(
    config: pytest.Config, factory: pytest.TempPathFactory, name: str, build: Callable[[Path], None]
) -> Path:
    """The folder `name` of this run, made by `build(folder)` by the first process to ask."""
    root = shared_dir(config, factory)
    folder = root / name
    with exclusive(root / f"{name}.lock"):
        if not (folder / ".done").exists():  # never built, or a build that failed: afresh
            _discard(folder)
            folder.mkdir()
            build(folder)
            (folder / ".done").touch()
    return folder


OUTSIDE = "outside-path"  # in a built folder: a folder outside the run's root it made


def remove_outside(root: Path) -> None:
    """Remove what builds of this run made outside its root (the controller does, at the end:
    a worker may finish while another still uses them)."""
    for record in root.glob(f"*/{OUTSIDE}"):
        shutil.rmtree(record.read_text().strip(), ignore_errors=True)
        record.unlink()


def _discard(folder: Path) -> None:
    record = folder / OUTSIDE
    if record.exists():
        shutil.rmtree(record.read_text().strip(), ignore_errors=True)
    shutil.rmtree(folder, ignore_errors=True)
