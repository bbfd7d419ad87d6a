"""The wheel as shipped: only names of its own (beside PyPI's `harness`), every file in its
RECORD, the fixtures and the report's assets inside."""

from __future__ import annotations

import hashlib
import json
import zipfile
from base64 import urlsafe_b64encode
from pathlib import Path

import pytest

from tests.neighbours import (
    catalog,
    output,
    report_ids,
    summary,
)
from tests.venvs import DISTRIBUTION, PYPI_HARNESS, ROOT, Venv, run

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
    assets = {p.name for p in (ROOT / "conformance" / "report" / "assets").iterdir()}
    shipped_assets = {n.rsplit("/", 1)[1] for n in names if "/report/assets/" in n}
    assert assets and assets == shipped_assets  # the HTML page is drawn from them


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
