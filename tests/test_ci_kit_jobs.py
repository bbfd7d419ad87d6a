"""Issue 14, item 5: the CI kit's GitHub jobs (docs/ci.md, action.yml), for real.

Slow; root, which creates the ordinary user `mrc-ci-PID` with password-less sudo and removes it
afterwards, and needs sudo installed: the `run:` steps of docs/ci.md's adapter job, and of its
job that uses the action (expanded into action.yml's steps), executed by tests/ci_runner.py as
that user in a fresh clone of this checkout. The adapter job runs where the kernel refuses user
namespaces until the namespace step's `sudo sysctl` allows them (tests/ci_sandbox.py: a user
namespace of the test's own, the machine's setting untouched); the action runs in the same
sandbox with namespaces allowed (its namespace step then does nothing; and whatever sudo sysctl
a job runs changes the sandbox, never the machine). A small homeserver project (`myproject`,
with the adapter module the doc names) stands for yours; `-k step1` (through PYTEST_ADDOPTS)
keeps each run to a few seconds after pip's install.

"A fresh clone of this checkout": `git clone` of the repository, then the working tree's
uncommitted changes copied over it, so that what is tested is the tree as it is (in CI, a clean
clone, there are none).
"""

from __future__ import annotations

import json
import os
import pwd
import re
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests import ci_runner
from tests.ci_kit import (
    ACTION,
    ACTION_USES,
    ADAPTER,
    JOB_TIMEOUT,
    QUICK,
    USER_PREFIX,
    load_yaml,
    named,
    only_job,
    workflow,
)
from tests.venvs import ROOT, run, usable_by

# -- the GitHub jobs, for real --------------------------------------------------------------------


@dataclass(frozen=True)
class CiUser:
    pw: pwd.struct_passwd
    python: str  # an interpreter the user can run and make venvs with: setup-python's stand-in

    @property
    def home(self) -> Path:
        return Path(self.pw.pw_dir)


def _remove_user(name: str) -> None:
    """The user, its sudoers entry, its home and what its runs of pytest left in /tmp (a user
    made again with the same name may get another uid, and pytest refuses a basetemp folder
    that another uid owns)."""
    Path("/etc/sudoers.d", name).unlink(missing_ok=True)
    shutil.rmtree(Path("/tmp", f"pytest-of-{name}"), ignore_errors=True)
    try:
        pwd.getpwnam(name)
    except KeyError:
        return
    res = run(["userdel", "--force", "--remove", name], Path("/"), 60)
    assert res.returncode in (0, 12), res.stderr  # 12: the home could not be removed (whole)


def _remove_stale_users() -> None:
    """What a killed run of this module left: users of processes that no longer exist."""
    for entry in pwd.getpwall():
        match = re.fullmatch(rf"{USER_PREFIX}(\d+)", entry.pw_name)
        if match and not Path("/proc", match[1]).exists():
            _remove_user(entry.pw_name)


@pytest.fixture(scope="module")
def ci_user() -> Iterator[CiUser]:
    if os.geteuid() != 0:
        pytest.skip("run as root: it creates an ordinary user with sudo for the job")
    if shutil.which("sudo") is None:
        pytest.skip("no sudo here: apt-get install -y --no-install-recommends sudo")
    for tool in ("useradd", "userdel", "runuser", "visudo", "git", "unshare"):
        if shutil.which(tool) is None:
            pytest.skip(f"no {tool} on this machine")
    if not (ROOT / ".git").exists():
        pytest.skip("not a git checkout: the job runs in a fresh clone of it")
    _remove_stale_users()
    name = f"{USER_PREFIX}{os.getpid()}"  # one per process: xdist workers, runs side by side
    try:
        res = run(["useradd", "--create-home", "--shell", "/bin/bash", name], Path("/"), 60)
        assert res.returncode == 0, res.stderr
        sudoers = Path("/etc/sudoers.d", name)
        sudoers.write_text(f"{name} ALL=(ALL:ALL) NOPASSWD: ALL\n")
        sudoers.chmod(0o440)
        check = run(["visudo", "-c", "-f", sudoers], Path("/"), 60)
        assert check.returncode == 0, check.stdout + check.stderr
        python = usable_by(name)
        if python is None:
            pytest.skip(f"no Python interpreter {name} can run: install python3 and python3-venv")
        yield CiUser(pwd.getpwnam(name), python)
    finally:
        _remove_user(name)


PROJECT = {
    "pyproject.toml": """\
[build-system]
requires = ["setuptools>=68"]
build-backend = "setuptools.build_meta"

[project]
name = "myproject"
version = "0"

[tool.setuptools]
packages = ["myproject"]

[tool.pytest.ini_options]
# The project's own pytest configuration: the kit's `-c /dev/null` must keep it out of the run.
addopts = "--an-option-of-this-projects-own-tests"
""",
    "myproject/__init__.py": "",
    "myproject/conformance.py": '''\
"""The homeserver project's adapter, as docs/ci.md names it (tests/test_ci_kit.py)."""

from matrix_resolver_conformance.reference import factory as resolver

__all__ = ["broken", "resolver"]


def broken(env):
    """An adapter whose client reaches nothing: every scenario that expects a request fails."""

    def fetch(server_name):
        raise OSError(f"cannot reach {server_name}")

    return fetch
''',
}


def fresh_clone(dest: Path) -> None:
    """`git clone` of this checkout, and its uncommitted changes over it."""
    res = run(["git", "clone", "--quiet", "--no-hardlinks", ROOT, dest], ROOT, 300)
    assert res.returncode == 0, res.stderr
    listed = run(["git", "ls-files", "-z", "--modified", "--others", "--exclude-standard"], ROOT)
    assert listed.returncode == 0, listed.stderr
    for rel in filter(None, listed.stdout.split("\0")):
        source, target = ROOT / rel, dest / rel
        if source.is_file():
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)
        elif not source.exists():  # deleted in the working tree
            target.unlink(missing_ok=True)


@dataclass(frozen=True)
class Job:
    proc: subprocess.CompletedProcess[str]
    state: Path
    workspace: Path
    steps: list[ci_runner.Step]

    @property
    def rcs(self) -> dict[int, int | None]:
        return ci_runner.results(self.state)

    def step(self, prefix: str) -> ci_runner.Step:
        return ci_runner.step_named(self.steps, prefix)

    def log(self, prefix: str) -> str:
        return (self.state / f"step-{self.step(prefix).index}.log").read_text()

    def explain(self) -> str:
        return f"job exit {self.proc.returncode}\n{self.proc.stdout[-20000:]}\n{self.proc.stderr}"


def passthrough_env() -> dict[str, str]:
    """What the machine's image sets for package access (a runner's image sets its own)."""
    keep = ("PIP_", "http_proxy", "https_proxy", "no_proxy", "HTTP_PROXY", "HTTPS_PROXY",
            "NO_PROXY", "SSL_CERT_")  # fmt: skip
    return {k: v for k, v in os.environ.items() if k.startswith(keep)}


def run_job(
    user: CiUser,
    label: str,
    job_yaml: Any,
    *,
    namespaces_refused: bool,
    overrides: Mapping[str, str] | None = None,
) -> Job:
    base = user.home / label
    shutil.rmtree(base, ignore_errors=True)
    workspace, temp, tool = base / "work" / "myproject", base / "_temp", base / "_tool" / "bin"
    for folder in (workspace, temp, tool):
        folder.mkdir(parents=True)
    for rel, text in PROJECT.items():  # actions/checkout of the project
        (workspace / rel).parent.mkdir(parents=True, exist_ok=True)
        (workspace / rel).write_text(text)
    for exe in ("python", "python3"):  # actions/setup-python
        (tool / exe).symlink_to(user.python)
    context = {"github.workspace": str(workspace), "runner.temp": str(temp)}
    for key, values in ((job_yaml.get("strategy") or {}).get("matrix") or {}).items():
        context[f"matrix.{key}"] = str(values[0])
    local_action = None
    steps = job_yaml["steps"]
    if any(s.get("uses") == ACTION_USES for s in steps):
        action_path = base / "_actions" / ACTION_USES.replace("@", "/")
        fresh_clone(action_path)  # the runner's download of the action's repository
        local_action = (ACTION_USES, load_yaml(ACTION.read_text()), action_path)
    else:
        (suite,) = [s for s in steps if (s.get("with") or {}).get("path") == ".conformance-suite"]
        assert suite["uses"].startswith("actions/checkout@")
        fresh_clone(workspace / ".conformance-suite")  # actions/checkout of the suite
    path = f"{tool}:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
    runner_env = {
        **passthrough_env(),
        "HOME": str(user.home), "USER": user.pw.pw_name, "LOGNAME": user.pw.pw_name,
        "SHELL": "/bin/bash", "PATH": path, "LANG": "C.UTF-8", "CI": "true",
        "GITHUB_ACTIONS": "true", "GITHUB_WORKSPACE": str(workspace), "RUNNER_TEMP": str(temp),
        "RUNNER_OS": "Linux", "PYTEST_ADDOPTS": QUICK,
    }  # fmt: skip
    state = base / "_state"
    script, parsed = ci_runner.job_script(
        job_yaml, state=state, workspace=workspace, context=context, runner_env=runner_env,
        local_action=local_action, env_overrides=overrides,
    )  # fmt: skip
    chown = run(["chown", "-R", f"{user.pw.pw_uid}:{user.pw.pw_gid}", base], Path("/"), 120)
    assert chown.returncode == 0, chown.stderr
    # Always in the sandbox, so that whatever the job's sudo sysctl changes is the sandbox's.
    limit = "0" if namespaces_refused else "15000"
    sandbox: list[str | Path] = [sys.executable, ROOT / "tests" / "ci_sandbox.py"]
    sandbox += ["--user", user.pw.pw_name, "--max-user-namespaces", limit, "--"]
    proc = run([*sandbox, "env", "-i", "bash", script], workspace, JOB_TIMEOUT)
    return Job(proc, state, workspace, parsed)


def junit(path: Path) -> tuple[dict[str, str], list[ET.Element]]:
    root = ET.parse(path).getroot()
    (suite,) = root.iter("testsuite")
    return dict(suite.attrib), list(root.iter("testcase"))


def machine_limit() -> str:
    return Path("/proc/sys/user/max_user_namespaces").read_text().strip()


def assert_results(job: Job, results: Path, resolver: str, passed: bool) -> None:
    summary, cases = junit(results / "junit.xml")
    assert int(summary["tests"]) == len(cases) > 0
    assert {c.attrib["classname"] for c in cases} == {"conformance.step1"}
    report = json.loads((results / "report.json").read_text())
    assert report["resolver"] == resolver
    outcomes = {r["outcome"] for r in report["results"]}
    if passed:
        assert summary["failures"] == "0", job.explain()
        assert outcomes == {"passed"}
    else:
        messages = [f.attrib["message"] for c in cases for f in c.iter("failure")]
        assert len(messages) == int(summary["failures"]) > 0
        assert all(m.startswith("[required] ") for m in messages), messages
        assert "failed" in outcomes


@pytest.mark.slow
def test_the_github_job_as_an_ordinary_user_with_sudo(ci_user: CiUser) -> None:
    """docs/ci.md's adapter job, where namespaces are refused until its step's sudo sysctl."""
    before = machine_limit()
    job = run_job(ci_user, "adapter-job", only_job(workflow("adapter")), namespaces_refused=True)
    assert machine_limit() == before  # the sysctl changed the sandbox's limit, not the machine's
    run_steps = [s.index for s in job.steps if s.uses is None]
    assert job.rcs == {i: 0 for i in run_steps}, job.explain()
    assert job.proc.returncode == 0, job.explain()
    namespaces = job.log("Allow unprivileged user namespaces")
    assert "user.max_user_namespaces = 15000" in namespaces, job.explain()
    assert "available after sysctl" in namespaces
    suite = job.log("Run the suite")
    assert "conformance: network: private network namespace (user namespace)" in suite
    summary = (job.state / "summary.md").read_text()  # the suite's own, for the job's page
    assert summary.startswith("### Matrix server-name resolution conformance"), summary
    upload = job.step("Upload the results")
    assert upload.uses is not None and upload.uses.startswith("actions/upload-artifact@")
    results = job.workspace / upload.with_["path"]
    assert_results(job, results, ADAPTER, passed=True)
    assert (results / "report.html").read_text().lstrip().lower().startswith("<!doctype html")


@pytest.mark.slow
def test_the_github_job_fails_for_a_failing_adapter_and_still_writes_the_results(
    ci_user: CiUser,
) -> None:
    broken = "myproject.conformance:broken"
    job = run_job(
        ci_user, "failing-job", only_job(workflow("adapter")), namespaces_refused=True,
        overrides={"RESOLVER": broken},
    )  # fmt: skip
    suite = job.step("Run the suite")
    assert job.rcs[suite.index] == 1, job.explain()
    assert job.proc.returncode == 1
    assert all(job.rcs[s.index] == 0 for s in job.steps if s.uses is None and s is not suite)
    upload = job.step("Upload the results")
    assert upload.index not in job.rcs  # a `uses:` step: the runner would run it, since...
    raw = named(only_job(workflow("adapter"))["steps"], "Upload the results")
    assert ci_runner.condition(raw["if"], {}) == "true"  # ...its if: holds after a failure
    results = job.workspace / upload.with_["path"]
    assert_results(job, results, broken, passed=False)
    assert (results / "report.html").read_text().lstrip().lower().startswith("<!doctype html")


@pytest.mark.slow
def test_the_action_as_an_ordinary_user(ci_user: CiUser) -> None:
    """docs/ci.md's job that uses the action, expanded into action.yml's steps, where user
    namespaces are allowed (its namespace step then does nothing)."""
    before = machine_limit()
    job = run_job(ci_user, "action-job", only_job(workflow("action")), namespaces_refused=False)
    assert machine_limit() == before
    inner = [s for s in job.steps if s.outer == ACTION_USES]
    assert [s.uses for s in inner if s.uses] == ["actions/setup-python@v5",
                                                 "actions/upload-artifact@v4"]  # fmt: skip
    assert job.rcs == {s.index: 0 for s in inner if s.uses is None}, job.explain()
    assert job.proc.returncode == 0, job.explain()
    assert job.log("Allow unprivileged").strip() == "user and network namespaces: available"
    assert "installed matrix-resolver-conformance" in job.log("Install the suite")
    run_step = job.step("Run the suite")
    outputs = ci_runner.outputs(job.state, run_step.index)
    results = Path(outputs["results-dir"])
    assert outputs["exit-code"] == "0"
    assert results == job.workspace / "conformance-results"
    upload = job.step("Upload the results")
    assert upload.with_["name"] == "conformance-latest"  # the matrix's first rule set
    assert (job.workspace / upload.with_["path"]).resolve() == results
    summary = (job.state / "summary.md").read_text()  # the suite's own, for the job's page
    assert summary.startswith("### Matrix server-name resolution conformance"), summary
    assert re.search(r"conformance of myproject\.conformance:resolver .* required (\d+)/\1 passed",
                     summary), summary  # fmt: skip
    assert_results(job, results, ADAPTER, passed=True)
    assert (results / "report.html").read_text().lstrip().lower().startswith("<!doctype html")
