"""What the CI kit's tests share (test_ci_kit.py, test_ci_kit_jobs.py): the documents, the
names the doc's jobs use, and reading their YAML."""

from __future__ import annotations

from typing import Any

import pytest

from tests import ci_runner
from tests.venvs import ROOT

DOC = ROOT / "docs" / "ci.md"
ACTION = ROOT / "action.yml"
SCHEMAS = {"github-workflow": "vendor.github-workflows", "gitlab-ci": "vendor.gitlab-ci"}
BLOCKS = {
    ("github-workflow", "adapter"),
    ("github-workflow", "homeserver"),
    ("github-workflow", "action"),
    ("gitlab-ci", "adapter"),
}
# Any download check-jsonschema tried would fail at once: the schemas must come from the package.
OFFLINE = {"HTTP_PROXY": "http://127.0.0.1:9", "HTTPS_PROXY": "http://127.0.0.1:9", "NO_PROXY": ""}
ACTION_USES = "your-org/matrix-resolver-conformance@main"  # as docs/ci.md's action job names it
ADAPTER = "myproject.conformance:resolver"  # as docs/ci.md's jobs name it
QUICK = "-k step1"
USER_PREFIX = "mrc-ci-"  # + the pid of the process that made it
JOB_TIMEOUT = 900  # pip installs the suite's dependencies from PyPI the first time


def load_yaml(text: str) -> Any:
    # check-jsonschema's own YAML parser (YAML 1.2: `on` is a key, not True)
    yaml = pytest.importorskip("ruamel.yaml", reason="check-jsonschema: pip install -e '.[dev]'")
    return yaml.YAML(typ="safe").load(text)


def doc_blocks() -> dict[tuple[str, str], str]:
    return ci_runner.marked_blocks(DOC.read_text())


def workflow(name: str) -> Any:
    return load_yaml(doc_blocks()[("github-workflow", name)])


def only_job(document: Any) -> Any:
    (job,) = document["jobs"].values()
    return job


def named(steps: list[Any], prefix: str) -> Any:
    (step,) = [s for s in steps if str(s.get("name", "")).startswith(prefix)]
    return step
