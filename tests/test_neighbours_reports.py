"""Issue 8, "a good neighbour": what a run leaves for CI beside other plugins (one JSON entry per
scenario through reruns, the JUnit shape, markers that select levels and steps, `--lf` in a
checkout), in the shared `neighbour_venv` (tests/test_neighbours.py says how it is built)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.neighbours import (
    catalog,
    junit_cases,
    junit_message,
    output,
    resolvers,
    scenario_id,
    step1_ids,
    summary,
)
from tests.venvs import ROOT, Venv, run

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
        assert failure.get("message") == junit_message(r)


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
            assert failure.get("message") == junit_message(result)
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
