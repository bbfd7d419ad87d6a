"""Issue 8, "a good neighbour": the suite as a user installs it, beside the pytest plugins most
likely to share its environment, and an unrelated project in that environment.

Most tests use one fresh venv per run (`neighbour_venv`: PyPI's `harness`, then the project's
wheel, pytest-spec, pytest-level, pytest-html, pytest-randomly, pytest-timeout and
pytest-rerunfailures), built by the first test that needs it (about a minute) and shared by
every xdist worker. `--lf` is checked in the checkout, with this interpreter.
"""

from __future__ import annotations

import fcntl
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from tests.neighbours import (
    F_SETPIPE_SZ,
    PLUGIN_NAMES,
    RAISING,
    catalog,
    output,
    resolvers,
    step1_ids,
    summary,
)
from tests.venvs import DISTRIBUTION, Venv, run

UNRELATED = {  # a project of someone else's, in the same environment
    "pytest.ini": """\
        [pytest]
        python_files = check_*.py test_*.py
        python_functions = check_* test_*
        testpaths = tests
    """,
    "conftest.py": """\
        import os, sys
        from pathlib import Path
        import pytest

        def pytest_addoption(parser):
            parser.addoption("--resolver", default="theirs", help="their own option")

        @pytest.fixture
        def scenario():
            return {"name": "mine"}

        @pytest.fixture
        def ruleset():
            return "their rules"

        def pytest_sessionfinish(session):
            ours = " ".join(sorted(m for m in sys.modules if m.startswith("matrix_resolver")))
            Path(session.config.rootpath, f"loaded-{os.getpid()}.txt").write_text(ours)
    """,
    "tests/test_scenarios.py": """\
        def test_scenario(scenario, ruleset, request):
            assert scenario == {"name": "mine"} and ruleset == "their rules"
            assert request.config.getoption("resolver") == "mine"

        def check_scenario(scenario):
            assert scenario["name"] == "mine"
    """,
    "tests/check_levels.py": """\
        import pytest

        @pytest.mark.level(1)
        def check_low():
            pass

        @pytest.mark.level(2)
        def check_high():
            pass
    """,
    "conformance/__init__.py": "",
    "conformance/test_own.py": """\
        def test_own():
            pass
    """,
}


# -- what an unrelated pytest start pays (this interpreter, no venv) ---------------------------

PLUGIN_ONLY = ["matrix_resolver_conformance", "matrix_resolver_conformance.options",
               "matrix_resolver_conformance.plugin"]  # fmt: skip


def test_plugin_imports_nothing_heavy(tmp_path: Path) -> None:
    """Beyond pytest, loading the plugin imports the plugin and its options: no asyncio, ssl,
    catalog, harness (benchmarks/plugin_import.py measures the time)."""
    probe = (
        "import sys; import pytest; before = set(sys.modules); "
        "import matrix_resolver_conformance.plugin; "
        "print(' '.join(sorted(set(sys.modules) - before)))"
    )
    res = run([sys.executable, "-c", probe], tmp_path)
    assert res.returncode == 0, output(res)
    assert res.stdout.split() == PLUGIN_ONLY


def test_unrelated_run_loads_only_the_plugin(tmp_path: Path) -> None:
    (tmp_path / "conftest.py").write_text(
        "import sys\nfrom pathlib import Path\n\ndef pytest_sessionfinish(session):\n"
        "    ours = sorted(m for m in sys.modules if m.startswith('matrix_resolver'))\n"
        "    Path(session.config.rootpath, 'loaded.txt').write_text(' '.join(ours))\n"
    )
    (tmp_path / "test_it.py").write_text("def test_it():\n    pass\n")
    res = run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"], tmp_path)
    assert res.returncode == 0, output(res)
    assert (tmp_path / "loaded.txt").read_text().split() == PLUGIN_ONLY
    assert not [line for line in res.stdout.splitlines() if line.startswith("conformance")]


def test_option_values_are_never_taken_for_the_package_name(tmp_path: Path) -> None:
    """`--pyargs conformance` names the package; `-m conformance` stays a marker expression,
    `--junitxml conformance` a file name."""
    every = run([sys.executable, "-m", "pytest", "--pyargs", "conformance", "--co", "-q",
                 "-m", "conformance", "--junitxml", "conformance"], tmp_path)  # fmt: skip
    assert every.returncode == 0, output(every)
    assert "collected" in summary(every) and "deselected" not in summary(every), output(every)
    assert (tmp_path / "conformance").is_file()


# -- the suite beside the plugins --------------------------------------------------------------


@pytest.mark.slow
def test_suite_passes_beside_the_plugins(neighbour_venv: Venv, tmp_path: Path) -> None:
    expected = len(step1_ids(catalog(neighbour_venv, tmp_path)))
    assert expected >= 10
    quiet = neighbour_venv.pytest(
        "--pyargs", "conformance", "-q", "-k", "step1", "-p", "no:randomly", cwd=tmp_path
    )
    assert quiet.returncode == 0, output(quiet)
    assert f"{expected} passed" in summary(quiet), output(quiet)

    shuffled = neighbour_venv.pytest("--pyargs", "conformance", "-k", "step1", cwd=tmp_path)
    assert shuffled.returncode == 0, output(shuffled)
    assert "Using --randomly-seed=" in shuffled.stdout  # randomly was on
    plugins = next(line for line in shuffled.stdout.splitlines() if line.startswith("plugins:"))
    assert all(name in plugins for name in PLUGIN_NAMES), plugins
    assert f"{expected} passed" in summary(shuffled), output(shuffled)

    html = tmp_path / "report.html"
    every = neighbour_venv.pytest(
        "--pyargs", "conformance", "-k", "step1", "-n", "2", "--spec", f"--html={html}",
        "--timeout=120", "--level=1", cwd=tmp_path,
    )  # fmt: skip
    assert every.returncode == 0, output(every)
    assert f"{expected} passed" in summary(every), output(every)
    assert "step1-ipv4-literal-default-port" in html.read_text()


@pytest.mark.slow
def test_unrelated_project_is_left_alone(neighbour_venv: Venv, tmp_path: Path) -> None:
    """Its own `scenario` and `ruleset` fixtures, a test_scenarios.py of its own, its own
    `--resolver` option and `conformance` package, python_files/python_functions of its own:
    nothing is parametrized or run by the suite, and nothing but the plugin is imported."""
    project = tmp_path / "project"
    for name, text in UNRELATED.items():
        (project / name).parent.mkdir(parents=True, exist_ok=True)
        (project / name).write_text(textwrap.dedent(text))

    collected = neighbour_venv.pytest("--co", "-q", "-p", "no:randomly", cwd=project)
    assert collected.returncode == 0, output(collected)
    ids = [line for line in collected.stdout.splitlines() if "::" in line]
    assert ids == [
        "tests/check_levels.py::check_low",
        "tests/check_levels.py::check_high",
        "tests/test_scenarios.py::test_scenario",
        "tests/test_scenarios.py::check_scenario",
    ]
    for args in (["-p", "no:randomly"], ["-n", "2"], ["--spec"]):
        res = neighbour_venv.pytest("--resolver=mine", *args, cwd=project)
        assert res.returncode == 0, output(res)
        assert "4 passed" in summary(res), output(res)
        assert not [line for line in res.stdout.splitlines() if line.startswith("conformance")]
    levelled = neighbour_venv.pytest("-q", "--resolver=mine", "--level=1", cwd=project)
    assert levelled.returncode == 0 and "3 passed, 1 deselected" in summary(levelled), output(
        levelled
    )
    own = run(
        [neighbour_venv.python, "-m", "pytest", "--pyargs", "conformance", "-q", "-p",
         "no:randomly"], project,
    )  # fmt: skip
    assert own.returncode == 0 and "1 passed" in summary(own), output(own)
    loaded = {p.read_text() for p in project.glob("loaded-*.txt")}
    plugin_only = "matrix_resolver_conformance matrix_resolver_conformance.options "
    assert loaded == {plugin_only + "matrix_resolver_conformance.plugin"}


# -- usage errors, the command line, the header ------------------------------------------------


@pytest.mark.slow
def test_unwritable_report_is_one_line_before_anything_runs(
    neighbour_venv: Venv, tmp_path: Path
) -> None:
    for workers in ([], ["-n", "2"]):
        began = time.monotonic()
        res = neighbour_venv.pytest(
            "--pyargs", "conformance", "-q", "--conformance-report=/nonexistent/dir/r.json",
            *workers, cwd=tmp_path,
        )  # fmt: skip
        took = time.monotonic() - began
        assert res.returncode == 4, output(res)
        assert res.stderr.strip() == (
            "ERROR: --conformance-report=/nonexistent/dir/r.json: no directory /nonexistent/dir"
        )
        assert "Traceback" not in res.stdout + res.stderr
        assert "passed" not in res.stdout and "collected" not in res.stdout
        assert took < 15, took  # no world was built, no worker started


@pytest.mark.slow
def test_list_into_a_closed_pipe_is_quiet(neighbour_venv: Venv, tmp_path: Path) -> None:
    """`matrix-resolver-conformance list | head -1`, made certain: the pipe holds one page, so
    the command is still writing when the reader goes."""
    command = neighbour_venv.bin("matrix-resolver-conformance")
    for args in (["list"], ["list", "--format", "json"]):
        read, write = os.pipe()
        fcntl.fcntl(read, F_SETPIPE_SZ, 4096)
        proc = subprocess.Popen(
            [command, *args], stdout=write, stderr=subprocess.PIPE, cwd=tmp_path
        )
        os.close(write)
        with os.fdopen(read, "rb") as reader:
            first = reader.readline()
        _, err = proc.communicate(timeout=60)
        assert first.strip(), args
        assert proc.returncode == 0, err
        assert err == b"", err.decode()
    shell = run(["bash", "-o", "pipefail", "-c", f"{command} list | head -1"], tmp_path)
    assert shell.returncode == 0 and shell.stderr == "", output(shell)
    assert len(shell.stdout.splitlines()) == 1


@pytest.mark.slow
def test_npm_adapter_without_its_packages_is_one_usage_error(
    neighbour_venv: Venv, tmp_path: Path
) -> None:
    node_dir = neighbour_venv.site_packages() / "matrix_resolver_conformance/adapters/node"
    assert (node_dir / "package.json").is_file() and not (node_dir / "node_modules").exists()
    stub = tmp_path / "bin"  # a `node` that is found but never needed: the check comes first
    stub.mkdir()
    (stub / "node").write_text("#!/bin/sh\nexit 99\n")
    (stub / "node").chmod(0o755)
    path = f"{stub}:{os.environ.get('PATH', '')}"
    cases = [
        ("rocketchat", path, [], f"run `npm install --prefix {node_dir}`"),
        ("appservice-bridge", path, ["-n", "2"], f"run `npm install --prefix {node_dir}`"),
        ("rocketchat", str(neighbour_venv.bin("")), [], "`node` (Node.js >= 20) is not on PATH"),
    ]
    for name, search, workers, advice in cases:
        res = neighbour_venv.pytest(
            "--pyargs", "conformance", "-q", f"--resolver={name}", *workers, cwd=tmp_path,
            PATH=search,
        )  # fmt: skip
        assert res.returncode == 4, output(res)
        lines = res.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith(f"ERROR: --resolver={name}: "), lines
        assert lines[0].endswith(advice), lines
        assert "Traceback" not in res.stdout + res.stderr


@pytest.mark.slow
def test_traceback_of_a_raising_fetch_only_with_tb_long(
    neighbour_venv: Venv, tmp_path: Path
) -> None:
    folder = resolvers(tmp_path)
    line = RAISING.splitlines().index('    raise RuntimeError(f"no luck with {server_name}")')
    where = f'File "{folder / "raising.py"}", line {line + 1}, in helper'
    base = ["--pyargs", "conformance", "--resolver=raising:boom", "-k", "step1-ipv4-literal"]
    for workers in ([], ["-n", "2"]):
        long = neighbour_venv.pytest(*base, *workers, "--tb=long", cwd=folder)
        assert long.returncode == 1, output(long)
        assert where in long.stdout, output(long)
        assert "RuntimeError: no luck with 127." in long.stdout
        short = neighbour_venv.pytest(*base, *workers, cwd=folder)
        assert short.returncode == 1, output(short)
        assert "raised RuntimeError: no luck with 127." in short.stdout  # the verdict says it
        assert "raising.py" not in short.stdout and "Traceback" not in short.stdout


@pytest.mark.slow
@pytest.mark.parametrize("workers", [[], ["-n", "2"]], ids=["serial", "xdist"])
def test_header_names_what_runs_where(
    neighbour_venv: Venv, tmp_path: Path, workers: list[str]
) -> None:
    version = run([neighbour_venv.python, "-c", "import matrix_resolver_conformance as m; "
                   "print(m.__version__)"], tmp_path).stdout.strip()  # fmt: skip
    res = neighbour_venv.pytest(
        "--pyargs", "conformance", "-k", "step1-ipv6-literal-default-port",
        "--conformance-spec=v1.18", "--conformance-level=required", *workers, cwd=tmp_path,
    )  # fmt: skip
    assert res.returncode == 0, output(res)
    header = [line for line in res.stdout.splitlines() if line.startswith("conformance: ")]
    assert header == [
        f"conformance: resolver reference (matrix-resolver-conformance {version}), "
        "run in a process per scenario",
        "conformance: rule set v1.18; failing level required and above",
        "conformance: network: private network namespace"
        + (" (user namespace)" if os.geteuid() != 0 else "")
        + "; IPv6 test addresses",
    ], res.stdout
    ipv6 = [
        r for r in catalog(neighbour_venv, tmp_path) if "step1-ipv6-literal-default-port" in r["id"]
    ]
    assert ipv6 and f"{len(ipv6)} passed" in summary(res), output(res)  # IPv6 ones ran


@pytest.mark.slow
def test_version(neighbour_venv: Venv, tmp_path: Path) -> None:
    installed = run(
        [neighbour_venv.python, "-c",
         f"import importlib.metadata as m; print(m.version({DISTRIBUTION!r}))"], tmp_path,
    ).stdout.strip()  # fmt: skip
    from matrix_resolver_conformance import __version__

    assert installed == __version__
    res = run([neighbour_venv.bin("matrix-resolver-conformance"), "--version"], tmp_path)
    assert (res.returncode, res.stdout, res.stderr) == (0, f"{DISTRIBUTION} {__version__}\n", "")
