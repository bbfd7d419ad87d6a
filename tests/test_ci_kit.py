"""Issue 14, item 5: the CI kit a homeserver team pastes (docs/ci.md, action.yml).

Two kinds of check:

- The YAML, against the schemas check-jsonschema ships (vendored in the package: no network):
  every fenced block of docs/ci.md whose first line is `# ci-kit: KIND NAME` (KIND:
  github-workflow or gitlab-ci), and action.yml. Plus what a schema cannot see: the doc's and the
  action's namespace steps are one text, every input of the action is documented with its
  default, the jobs gate at a level and publish their results also when the run fails.

The GitHub jobs themselves, for real, are tests/test_ci_kit_jobs.py.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.ci_kit import (
    ACTION,
    BLOCKS,
    DOC,
    OFFLINE,
    SCHEMAS,
    doc_blocks,
    load_yaml,
    named,
    only_job,
    workflow,
)
from tests.venvs import run

# -- the YAML against the official schemas ------------------------------------------------------


def check_schema(schema: str, path: Path) -> subprocess.CompletedProcess[str]:
    pytest.importorskip("check_jsonschema", reason="check-jsonschema: pip install -e '.[dev]'")
    cmd: list[str | Path] = [sys.executable, "-m", "check_jsonschema", "--builtin-schema", schema]
    return run([*cmd, path], path.parent, 120, **OFFLINE)


def test_the_doc_marks_each_job_it_shows() -> None:
    assert set(doc_blocks()) == BLOCKS


@pytest.mark.parametrize(
    ("kind", "name"), sorted(BLOCKS), ids=[f"{k}-{n}" for k, n in sorted(BLOCKS)]
)
def test_the_doc_jobs_match_the_official_schema(kind: str, name: str, tmp_path: Path) -> None:
    path = tmp_path / f"{kind}-{name}.yml"
    path.write_text(doc_blocks()[(kind, name)])
    res = check_schema(SCHEMAS[kind], path)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "ok -- validation done" in res.stdout


def test_the_action_matches_the_official_schema() -> None:
    res = check_schema("vendor.github-actions", ACTION)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "ok -- validation done" in res.stdout


def _typo(document: Any, kind: str) -> str:
    """Misspell one key the schema knows; returns what the check must then say."""
    if kind == "github-workflow":
        only_job(document)["runs-onn"] = only_job(document).pop("runs-on")
        return "'runs-on' is a required property"
    if kind == "gitlab-ci":
        (job,) = (v for v in document.values() if isinstance(v, dict) and "script" in v)
        job["artifactz"] = job.pop("artifacts")
        return "'artifactz' was unexpected"
    document["inputs"]["level"]["defualt"] = document["inputs"]["level"].pop("default")
    return "'defualt' was unexpected"


@pytest.mark.parametrize(
    ("kind", "schema"), [*SCHEMAS.items(), ("github-action", "vendor.github-actions")]
)
def test_the_schemas_have_teeth(kind: str, schema: str, tmp_path: Path) -> None:
    """One misspelt key in each kind of file, and the check fails naming it."""
    text = ACTION.read_text() if kind == "github-action" else doc_blocks()[(kind, "adapter")]
    document = load_yaml(text)
    complaint = _typo(document, kind)
    path = tmp_path / "broken.json"  # JSON is YAML; check-jsonschema picks the parser by name
    path.write_text(json.dumps(document))
    res = check_schema(schema, path)
    assert res.returncode == 1, res.stdout + res.stderr
    assert complaint in res.stdout


# -- what the schemas cannot see -----------------------------------------------------------------


def test_the_namespace_step_is_one_text_in_the_doc_and_the_action() -> None:
    doc_step = named(only_job(workflow("adapter"))["steps"], "Allow unprivileged user namespaces")
    action_step = named(load_yaml(ACTION.read_text())["runs"]["steps"], "Allow unprivileged")
    assert doc_step["run"] == action_step["run"]
    assert "sudo sysctl -w kernel.apparmor_restrict_unprivileged_userns=0" in doc_step["run"]


def test_every_input_of_the_action_is_documented_with_its_default() -> None:
    rows = re.findall(r"^\| `([\w-]+)` \|\s*`?([^|`]*?)`?\s*\|", DOC.read_text(), re.M)
    documented = {name: default.strip() for name, default in rows}
    inputs = load_yaml(ACTION.read_text())["inputs"]
    assert documented == {name: str(spec.get("default", "")) for name, spec in inputs.items()}


def test_the_jobs_gate_at_a_level_and_publish_also_when_the_run_fails() -> None:
    for name in ("adapter", "homeserver"):
        steps = only_job(workflow(name))["steps"]
        (suite,) = [s for s in steps if "--pyargs conformance" in s.get("run", "")]
        assert '"--conformance-level=$LEVEL"' in suite["run"]
        assert suite["env"]["LEVEL"] == "required"
        for output in ("--junitxml=", "--conformance-report=", "--conformance-html="):
            assert f"{output}conformance-results/" in suite["run"]
        (upload,) = [s for s in steps if str(s.get("uses", "")).startswith("actions/upload-")]
        assert upload["if"] in ("${{ !cancelled() }}", "${{ always() }}")
        assert upload["with"]["path"].rstrip("/") == "conformance-results"
    (gitlab,) = load_yaml(doc_blocks()[("gitlab-ci", "adapter")]).values()
    assert gitlab["artifacts"]["when"] == "always"
    assert gitlab["artifacts"]["reports"]["junit"] == "conformance-results/junit.xml"
    assert "--junitxml=conformance-results/junit.xml" in " ".join(gitlab["script"])
