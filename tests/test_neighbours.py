"""Issue 8, "a good neighbour": the suite as a user installs it, beside the pytest plugins most
likely to share its environment, and an unrelated project in that environment.

Most tests use one fresh venv per run (`neighbour_venv`: PyPI's `harness`, then the project's
wheel, pytest-spec, pytest-level, pytest-html, pytest-randomly, pytest-timeout and
pytest-rerunfailures), built by the first test that needs it (about a minute) and shared by
every xdist worker. `--lf` is checked in the checkout, with this interpreter.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import textwrap
import time
import xml.etree.ElementTree as ET
import zipfile
from base64 import urlsafe_b64encode
from pathlib import Path
from typing import Any

import pytest

from tests.venvs import DISTRIBUTION, PYPI_HARNESS, ROOT, Venv, run

PLUGIN_NAMES = ("html-", "randomly-", "rerunfailures-", "spec-", "timeout-", "level-", "xdist-")
F_SETPIPE_SZ = 1031
LEVELS = ("required", "recommended", "robustness")


def _junit_message(entry: dict[str, Any]) -> str:
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


# -- helpers -----------------------------------------------------------------------------------


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


# -- results: reruns, JUnit, markers, --lf -----------------------------------------------------


@pytest.mark.slow
def test_reruns_leave_one_entry_per_scenario(neighbour_venv: Venv, tmp_path: Path) -> None:
    folder = resolvers(tmp_path)
    chosen = {
        r["id"]
        for r in catalog(neighbour_venv, folder)
        if "step1-ipv4" in r["id"] and "default-port" not in r["id"]  # each has a port of its own
    }
    selection = ["-k", "step1-ipv4 and not default-port", "-p", "no:randomly", "--reruns", "1"]
    report, junit = tmp_path / "r.json", tmp_path / "j.xml"

    def reruns(res: subprocess.CompletedProcess[str]) -> int:
        found = re.search(r"(\d+) rerun", summary(res))
        return int(found[1]) if found else 0

    # wrong the first time, right on the rerun: the report tells the last attempt, not the first
    flaky = neighbour_venv.pytest(
        "--pyargs", "conformance", "--resolver=flaky:flaky", *selection, "-n", "2",
        f"--conformance-report={report}", cwd=folder,
    )  # fmt: skip
    assert flaky.returncode == 0, output(flaky)
    assert f"{len(chosen)} passed" in summary(flaky) and reruns(flaky) > 0, output(flaky)
    results = json.loads(report.read_text())["results"]
    assert sorted(r["id"] for r in results) == sorted(chosen)
    assert {r["outcome"] for r in results} == {"passed"}, results

    # wrong every time: one entry per scenario, and JUnit's message is the last attempt's
    broken = neighbour_venv.pytest(
        "--pyargs", "conformance", "--resolver=contract_resolvers:ip_literals_portless_host",
        *selection, f"--conformance-report={report}", f"--junitxml={junit}", cwd=folder,
    )  # fmt: skip
    assert broken.returncode == 1, output(broken)
    results = json.loads(report.read_text())["results"]
    assert sorted(r["id"] for r in results) == sorted(chosen)
    by_id = {r["id"]: r for r in results if r["outcome"] == "failed"}
    assert by_id and f"{len(by_id)} failed" in summary(broken), output(broken)
    assert reruns(broken) == len(by_id), output(broken)  # each failure once more, no more
    finals = [tc for tc in junit_cases(junit) if tc.find("failure") is not None]
    assert sorted(scenario_id(tc) for tc in finals) == sorted(by_id)
    for tc in junit_cases(junit):  # attempts and finals alike: the properties once each
        assert [p.get("name") for p in tc.iter("property")] == ["step", "level", "spec", "sentence"]
    for tc in finals:
        r = by_id[scenario_id(tc)]
        failure = tc.find("failure")
        assert failure is not None
        assert failure.get("message") == _junit_message(r)


@pytest.mark.slow
@pytest.mark.parametrize("workers", [[], ["-n", "2"]], ids=["serial", "xdist"])
def test_junit_shape(neighbour_venv: Venv, tmp_path: Path, workers: list[str]) -> None:
    folder = resolvers(tmp_path)
    rows = {r["id"]: r for r in catalog(neighbour_venv, folder)}
    expected = step1_ids(list(rows.values()))
    report, junit = tmp_path / "r.json", tmp_path / "j.xml"
    res = neighbour_venv.pytest(
        "--pyargs", "conformance", "--resolver=contract_resolvers:ip_literals_portless_host",
        "-k", "step1", *workers, f"--conformance-report={report}", f"--junitxml={junit}",
        cwd=folder,
    )  # fmt: skip
    assert res.returncode == 1, output(res)  # the resolver breaks a required rule
    results = {r["id"]: r for r in json.loads(report.read_text())["results"]}
    cases = {scenario_id(tc): tc for tc in junit_cases(junit)}
    assert len(cases) == len(junit_cases(junit))  # each scenario once
    assert set(cases) == set(results) == expected
    failed = 0
    for sid, tc in cases.items():
        row, result = rows[sid], results[sid]
        assert tc.get("classname") == f"conformance.step{row['step'].replace('.', '_')}"
        props = [(p.get("name"), p.get("value")) for p in tc.iter("property")]
        assert props == [
            ("step", row["step"]),
            ("level", row["level"]),
            ("spec", "v1.19"),
            ("sentence", row["sentence"]),
        ]
        failure = tc.find("failure")
        if result["outcome"] == "failed":
            failed += 1
            assert failure is not None, sid
            assert failure.get("message") == _junit_message(result)
            assert "\n" not in (failure.get("message") or "")
            assert "why it fails" in (failure.text or "")  # the whole verdict is the body
        else:
            assert failure is None and result["outcome"] == "passed", sid
    assert 0 < failed < len(cases)


@pytest.mark.slow
def test_markers_select_levels_and_steps(neighbour_venv: Venv, tmp_path: Path) -> None:
    rows = catalog(neighbour_venv, tmp_path)

    def selected(expression: str) -> set[str]:
        res = neighbour_venv.pytest(
            "--pyargs", "conformance", "--co", "-q", "-m", expression, cwd=tmp_path
        )
        assert res.returncode == 0, output(res)
        return {
            line.split("[", 1)[1].rstrip("]")
            for line in res.stdout.splitlines()
            if "::test_scenario[" in line
        }

    required = {r["id"] for r in rows if r["level"] == "required"}
    assert 0 < len(required) < len(rows)
    assert selected("required") == required
    srv = {r["id"] for r in rows if r["step"] == "3.3"}
    assert srv and selected("step3_3") == srv
    tls = {r["id"] for r in rows if r["step"] == "tls"}
    assert tls and selected("step_tls") == tls
    mixed = {r["id"] for r in rows if r["step"] == "1" and r["level"] == "recommended"}
    assert mixed and selected("step1 and recommended") == mixed
    assert selected("conformance") == {r["id"] for r in rows}


def test_last_failed_reruns_only_the_failures_in_a_checkout(tmp_path: Path) -> None:
    """`pytest --pyargs conformance --lf` in the checkout (cwd is the repository)."""
    pytest_cmd = [sys.executable, "-m", "pytest", "--pyargs", "conformance", "-rA"]
    cache = ["-o", f"cache_dir={tmp_path / 'cache'}"]  # not the checkout's .pytest_cache
    broken = "--resolver=tests.contract_resolvers:ip_literals_portless_host"

    def ran(res: subprocess.CompletedProcess[str]) -> dict[str, str]:
        outcomes = {}
        for line in res.stdout.splitlines():
            word, _, rest = line.partition(" ")
            if word in ("PASSED", "FAILED") and "test_scenario[" in rest:
                outcomes[rest.split("[", 1)[1].split("]", 1)[0]] = word
        return outcomes

    first = run([*pytest_cmd, *cache, broken, "-k", "step1"], ROOT)
    assert first.returncode == 1, output(first)
    outcomes = ran(first)
    failures = {i for i, o in outcomes.items() if o == "FAILED"}
    assert failures and len(failures) < len(outcomes), outcomes

    again = run([*pytest_cmd, *cache, broken, "--lf"], ROOT)
    assert again.returncode == 1, output(again)
    assert f"rerun previous {len(failures)} failure" in again.stdout, output(again)
    assert ran(again) == dict.fromkeys(failures, "FAILED")

    fixed = run(
        [*pytest_cmd, *cache, "--resolver=tests.contract_resolvers:ip_literals", "--lf"], ROOT
    )
    assert set(ran(fixed)) == failures, output(fixed)


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


# -- the wheel beside PyPI's `harness` ---------------------------------------------------------


@pytest.mark.slow
def test_wheel_ships_only_names_of_its_own(project_wheel: Path) -> None:
    with zipfile.ZipFile(project_wheel) as wheel:
        names = wheel.namelist()
        record = wheel.read(next(n for n in names if n.endswith(".dist-info/RECORD"))).decode()
        listed = {line.split(",")[0] for line in record.splitlines() if line}
        for name in names:
            if name.endswith("/RECORD"):
                continue
            digest = urlsafe_b64encode(hashlib.sha256(wheel.read(name)).digest()).rstrip(b"=")
            assert f"{name},sha256={digest.decode()}," in record, name
    top = {n.split("/", 1)[0] for n in names}
    (info,) = (t for t in top if t.endswith(".dist-info"))
    assert top == {"matrix_resolver_conformance", "matrix_resolver_harness", info}
    assert listed == set(names)
    fixtures = {p.name for p in (ROOT / "fixtures").glob("*.toml")}
    fixtures |= {f"spec/{p.name}" for p in (ROOT / "fixtures" / "spec").glob("*.toml")}
    shipped = {n.split("/_fixtures/", 1)[1] for n in names if "/_fixtures/" in n}
    assert fixtures and fixtures <= shipped
    assert "matrix_resolver_conformance/test_scenarios.py" in names
    assert "matrix_resolver_harness/netns_holder.py" in names


INTACT = """
import base64, hashlib, importlib.metadata as md, json, sys
report = {}
for name in sys.argv[1:]:
    dist = md.distribution(name)
    bad, checked = [], 0
    for f in dist.files or []:
        if f.hash is None:
            continue
        data = f.locate().read_bytes()
        digest = base64.urlsafe_b64encode(hashlib.new(f.hash.mode, data).digest()).rstrip(b"=")
        checked += 1
        if digest.decode() != f.hash.value:
            bad.append(str(f))
    tops = sorted({str(f).split("/")[0] for f in dist.files or [] if not str(f).startswith("..")})
    report[name] = {"checked": checked, "bad": bad, "tops": tops}
import harness, matrix_resolver_harness
print(json.dumps({"dists": report, "files": [harness.__file__, matrix_resolver_harness.__file__]}))
"""


@pytest.mark.slow
def test_wheel_and_pypi_harness_side_by_side(neighbour_venv: Venv, tmp_path: Path) -> None:
    """PyPI's `harness` was installed first, then the wheel: neither overwrote the other."""
    res = run([neighbour_venv.python, "-c", INTACT, PYPI_HARNESS, DISTRIBUTION], tmp_path)
    assert res.returncode == 0, output(res)
    report = json.loads(res.stdout)["dists"]
    theirs, ours = json.loads(res.stdout)["files"]
    site = neighbour_venv.site_packages()
    assert report[PYPI_HARNESS]["checked"] > 10 and report[PYPI_HARNESS]["bad"] == []
    assert report[DISTRIBUTION]["checked"] > 50 and report[DISTRIBUTION]["bad"] == []
    assert "harness" in report[PYPI_HARNESS]["tops"]
    (info,) = (t for t in report[DISTRIBUTION]["tops"] if t.endswith(".dist-info"))
    assert set(report[DISTRIBUTION]["tops"]) == {
        "matrix_resolver_conformance",
        "matrix_resolver_harness",
        info,
    }
    assert theirs == str(site / "harness" / "__init__.py")
    assert ours == str(site / "matrix_resolver_harness" / "__init__.py")

    expected = {r["id"] for r in catalog(neighbour_venv, tmp_path) if "step1-ipv4" in r["id"]}
    report_file = tmp_path / "r.json"
    suite = neighbour_venv.pytest(
        "--pyargs", "conformance", "-q", "-k", "step1-ipv4", f"--conformance-report={report_file}",
        cwd=tmp_path,
    )  # fmt: skip
    assert suite.returncode == 0, output(suite)
    assert f"{len(expected)} passed" in summary(suite), output(suite)
    assert set(report_ids(report_file)) == expected
