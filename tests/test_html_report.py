"""The HTML report (report/html.py) as a person sees it, in a real browser.

A handful of scenarios run through the suite twice, in subprocesses as a user runs it: the
reference judged by v1.7 (some pass, some are skipped: not in that text) and a resolver that
ignores explicit ports (some fail, one of them by sending its federation request to a decoy).
The two reports make one page, which headless Chromium (Debian's `chromium` and
`chromium-driver`, driven by Selenium) opens with the network off. Checked:

- the step x level grids and the matrix show the counts and outcomes of the JSON;
- clicking the failing scenario's cell opens its detail: failed rules with levels, and the
  sequence diagram with the decoy hit marked (its lane red, the expected site green and "never
  reached", the arrow carrying SNI and Host); the other implementation's tab shows the run that
  went right; a passing scenario's allowed well-known lookup at a decoy is not marked as a hit;
- the filters list what they say;
- no console error anywhere, after opening every scenario of every column (and of
  docs/implementations.html, four format 2 reports of the 369-scenario catalog, each with its
  diagrams);
- nothing is fetched (offline, no resource loaded), and text cannot close the data's <script>
  (tests/test_html_static.py checks the same without a browser);
- 4 reports x 400 scenarios stay usable: file size, time to ready, time to open a scenario.

One screenshot (a failing scenario's diagram) is saved under the run's basetemp, and copied to
$CONFORMANCE_ARTIFACTS when set; its path is printed and recorded as a property of the test.
"""

from __future__ import annotations

import copy
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from matrix_resolver_conformance.report.html import render

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM, CHROMEDRIVER = Path("/usr/bin/chromium"), Path("/usr/bin/chromedriver")
HINT = "needs apt-get install -y chromium chromium-driver and pip install -e '.[dev]' (selenium)"
SCENARIOS = (
    "step1-ipv4-literal-explicit-port",
    "step2-explicit-port-a-record",  # broken: the federation request goes to decoy target:8450
    "step2-explicit-port-skips-well-known",
    "step3-201-skips-to-step4",
    "step4-srv-target-aaaa-only",  # broken passes it, asking decoy origin:443 for the well-known
    "step4-srv-matrix-fed-on-hostname",  # skipped by v1.7
)
BROKEN = "tests.broken_resolvers:ExplicitPortIgnored"
DECOY_HIT = ("step2-explicit-port-a-record", "target:8450", "origin:8449")  # id, decoy, expected
HOSTILE = "</script><script>window.pwned = 1</script><!-- <b>not bold</b>"
SYMBOL = {"passed": "✓", "failed": "✗", "skipped": "–"}


def _missing() -> list[str]:
    missing = [str(p) for p in (CHROMIUM, CHROMEDRIVER) if not p.exists()]
    if importlib.util.find_spec("selenium") is None:
        missing.append("selenium")
    return missing


if _missing():  # one line in the summary, and no suite run for nothing
    pytest.skip(f"{HINT} (missing: {', '.join(_missing())})", allow_module_level=True)


def run_suite(tmp: Path, name: str, *args: str) -> dict[str, Any]:
    report = tmp / f"{name}.json"
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    cmd = [
        sys.executable, "-m", "pytest", "--pyargs", "conformance", "-q", "-p", "no:cacheprovider",
        "-k", " or ".join(SCENARIOS), f"--conformance-report={report}", *args,
    ]  # fmt: skip
    proc = subprocess.run(
        cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300, check=False
    )
    tail = (proc.stdout + proc.stderr)[-2000:]
    assert proc.returncode in (0, 1) and report.exists(), f"{name}: exit {proc.returncode}\n{tail}"
    doc: dict[str, Any] = json.loads(report.read_text(encoding="utf-8"))
    return doc


@pytest.fixture(scope="module")
def reports(tmp_path_factory: pytest.TempPathFactory) -> list[dict[str, Any]]:
    tmp = tmp_path_factory.mktemp("html-reports")
    ref = run_suite(tmp, "reference", "--conformance-spec=v1.7")
    broken = run_suite(tmp, "broken", f"--conformance-resolver={BROKEN}")
    outcomes = Counter(r["outcome"] for doc in (ref, broken) for r in doc["results"])
    assert all(outcomes[o] for o in ("passed", "failed", "skipped")), outcomes
    for r in broken["results"]:  # text that would end the data's <script> if badly escaped
        if r["id"] == DECOY_HIT[0]:
            r["observed"] += " " + HOSTILE
    return [ref, broken]


@pytest.fixture(scope="module")
def page(reports: list[dict[str, Any]], tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("html-page") / "report.html"
    path.write_text(render(reports), encoding="utf-8")
    return path


# -- in Chromium ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    profile = tempfile.mkdtemp(prefix="conformance-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for arg in ("--headless=new", "--disable-gpu", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", "--no-first-run",
                "--disable-dev-shm-usage", "--window-size=1500,1100",
                f"--user-data-dir={profile}"):  # fmt: skip
        options.add_argument(arg)
    if os.geteuid() == 0:
        options.add_argument("--no-sandbox")  # Chromium refuses to run as root otherwise
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    try:
        driver.execute_cdp_cmd("Network.enable", {})
        driver.execute_cdp_cmd(
            "Network.emulateNetworkConditions",
            {"offline": True, "latency": 0, "downloadThroughput": -1, "uploadThroughput": -1},
        )
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def open_page(driver: Any, path: Path) -> float:
    """Load the page; the milliseconds until its script was done (it sets data-ready)."""
    from selenium.common.exceptions import TimeoutException
    from selenium.webdriver.support.ui import WebDriverWait

    # get() may return before a large file's document has replaced the old one: mark the old
    driver.execute_script("document.documentElement.dataset.old = 'yes'")
    driver.get(path.as_uri())
    ready = "const d = document.documentElement.dataset; return d.old ? undefined : d.ready"
    try:
        value = WebDriverWait(driver, 20).until(lambda d: d.execute_script(ready))
    except TimeoutException:
        raise AssertionError(
            f"the page's script did not finish: {console_errors(driver)}"
        ) from None
    return float(value)


def console_errors(driver: Any) -> list[dict[str, Any]]:
    """The browser log's errors since the last call (reading it empties it)."""
    return [e for e in driver.get_log("browser") if e["level"] in ("SEVERE", "ERROR")]


def by_css(driver: Any, css: str) -> Any:
    from selenium.webdriver.common.by import By

    return driver.find_element(By.CSS_SELECTOR, css)


def wait_css(driver: Any, css: str, seconds: float = 5) -> Any:
    """The first element matching css, once there is one (the page reacts to a click in a task
    of its own: hashchange)."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, seconds).until(
        lambda d: (d.find_elements(By.CSS_SELECTOR, css) or [None])[0]
    )


def all_css(root: Any, css: str) -> list[Any]:
    from selenium.webdriver.common.by import By

    return list(root.find_elements(By.CSS_SELECTOR, css))


def test_grids_and_matrix_show_the_counts_of_the_json(
    browser: Any, page: Path, reports: list[dict[str, Any]]
) -> None:
    open_page(browser, page)
    assert browser.execute_script("return window.pwned") is None
    shown = browser.execute_script("""
        return Array.from(document.querySelectorAll('table.grid td.cell[data-impl]')).map(td =>
          [Number(td.dataset.impl), td.dataset.step, td.dataset.level,
           ...Array.from(td.querySelectorAll('b.n')).map(b => Number(b.textContent))]);""")
    expected = []
    for i, doc in enumerate(reports):
        counts: dict[tuple[str, str], Counter[str]] = {}
        for r in doc["results"]:
            for key in ((r["step"], r["level"]), (r["step"], ""), ("", r["level"]), ("", "")):
                counts.setdefault(key, Counter())[r["outcome"]] += 1
        for (step, level), c in counts.items():
            expected.append([i, step, level, c["passed"], c["failed"], c["skipped"]])
    assert sorted(shown) == sorted(expected)
    assert by_css(browser, "table.grid").is_displayed()
    cells = browser.execute_script("""
        return Array.from(document.querySelectorAll('#matrix tr.r')).map(tr =>
          [tr.querySelector('td.id a').textContent,
           ...Array.from(tr.querySelectorAll('td.o')).map(td => td.textContent)]);""")
    outcomes = [{r["id"]: SYMBOL[r["outcome"]] for r in doc["results"]} for doc in reports]
    for sid, *marks in cells:
        assert marks == [o.get(sid, "·") for o in outcomes], sid
    assert {c[0] for c in cells} == {r["id"] for doc in reports for r in doc["results"]}
    assert console_errors(browser) == []


def test_clicking_a_failure_shows_its_diagram_with_the_decoy_marked(
    browser: Any,
    page: Path,
    tmp_path_factory: pytest.TempPathFactory,
    record_property: Any,
    capsys: pytest.CaptureFixture[str],
) -> None:
    sid, decoy, expected = DECOY_HIT
    open_page(browser, page)
    row = next(tr for tr in all_css(browser, "#matrix tr.r") if sid in tr.text)
    cell = all_css(row, "td.o")[1]  # the broken resolver's column
    assert cell.text == "✗"
    all_css(cell, "a")[0].click()
    box = wait_css(browser, "#detail[open] .detail")
    assert by_css(browser, "#detail .badge").text.lower() == "failed"
    assert sid in by_css(browser, "#d-title").text
    failures = [
        [td.text for td in all_css(tr, "td")] for tr in all_css(box, "table.failures tbody tr")
    ]
    assert failures[0][:2] == ["destination", "required"], failures
    assert HOSTILE in by_css(browser, "#detail dd.observed").text  # shown as text, not run
    assert browser.execute_script("return window.pwned") is None

    lanes = {g.get_attribute("data-site"): g for g in all_css(box, "svg.seq g.lane")}
    assert {"resolver", "DNS", decoy, expected} <= set(lanes)
    assert {"decoy", "hit"} <= set(lanes[decoy].get_attribute("class").split())
    assert "DECOY HIT" in lanes[decoy].text
    assert "idle" in lanes[expected].get_attribute("class").split()
    assert "NEVER REACHED" in lanes[expected].text
    colour = browser.execute_script(
        "return getComputedStyle(arguments[0].querySelector('rect')).fill", lanes[decoy]
    )
    green = browser.execute_script(
        "return getComputedStyle(arguments[0].querySelector('rect')).stroke", lanes[expected]
    )
    assert colour == "rgb(207, 34, 46)" and green == "rgb(26, 127, 55)", (colour, green)
    wrong = " | ".join(g.text for g in all_css(box, f'svg.seq g.m.wrong[data-site="{decoy}"]'))
    assert "GET /_matrix/federation/v1/version" in wrong and "Host origin.test" in wrong
    assert "SNI origin.test" in wrong, wrong  # the connection's arrow says which SNI it sent
    assert "decoy hit" in by_css(browser, "#detail .legend").text

    browser.execute_script(
        "arguments[0].scrollIntoView({block: 'center'})", by_css(browser, "#detail svg.seq")
    )
    shot = tmp_path_factory.getbasetemp() / "html-report-decoy-hit.png"
    assert browser.save_screenshot(str(shot))
    record_property("screenshot", str(shot))
    artifacts = os.environ.get("CONFORMANCE_ARTIFACTS")
    if artifacts:
        Path(artifacts).mkdir(parents=True, exist_ok=True)
        shutil.copy(shot, Path(artifacts) / shot.name)
    with capsys.disabled():
        print(f"\nHTML report screenshot: {shot}" + (f" (and in {artifacts})" if artifacts else ""))

    tab = next(b for b in all_css(browser, "#d-tabs button") if "reference" in b.text)
    tab.click()  # the same scenario, as the reference did it: straight to the expected site
    box = wait_css(browser, "#detail .detail[data-impl='0']")
    lanes = {g.get_attribute("data-site"): g for g in all_css(box, "svg.seq g.lane")}
    assert "idle" not in lanes[expected].get_attribute("class").split()
    assert not all_css(box, "svg.seq g.lane.hit") and not all_css(box, "svg.seq g.m.wrong")
    assert "GET /_matrix/federation/v1/version" in " ".join(
        g.text for g in all_css(box, "svg.seq g.m.ok")
    )
    assert console_errors(browser) == []


def test_an_allowed_well_known_lookup_at_a_decoy_is_no_hit(browser: Any, page: Path) -> None:
    open_page(browser, page)
    row = next(tr for tr in all_css(browser, "#matrix tr.r") if "step4-srv-target-aaaa" in tr.text)
    cell = all_css(row, "td.o")[1]
    assert cell.text == "✓"
    all_css(cell, "a")[0].click()
    box = wait_css(browser, "#detail[open] .detail")
    lane = by_css(box, 'svg.seq g.lane[data-site="origin:443"]')
    assert {"decoy", "lookup"} <= set(lane.get_attribute("class").split())
    assert "WELL-KNOWN LOOKUP" in lane.text
    assert not all_css(box, "svg.seq g.lane.hit") and not all_css(box, "svg.seq g.m.wrong")
    by_css(browser, "#d-close").click()
    assert not browser.execute_script("return document.getElementById('detail').open")
    assert console_errors(browser) == []


def test_filters_list_what_they_say(
    browser: Any, page: Path, reports: list[dict[str, Any]]
) -> None:
    from selenium.webdriver.support.ui import Select

    open_page(browser, page)

    def shown() -> set[str]:
        return {tr.text.split()[0] for tr in all_css(browser, "#matrix tr.r") if tr.is_displayed()}

    everything = {r["id"] for doc in reports for r in doc["results"]}
    assert shown() == everything
    Select(by_css(browser, "#f-outcome")).select_by_value("f")
    failed = {r["id"] for doc in reports for r in doc["results"] if r["outcome"] == "failed"}
    assert shown() == failed
    Select(by_css(browser, "#f-outcome")).select_by_value("s")
    Select(by_css(browser, "#f-impl")).select_by_value("0")
    skipped = {r["id"] for r in reports[0]["results"] if r["outcome"] == "skipped"}
    assert shown() == skipped
    by_css(browser, "#f-reset").click()
    Select(by_css(browser, "#f-step")).select_by_value("2")
    assert shown() == {r["id"] for r in reports[0]["results"] if r["step"] == "2"}
    by_css(browser, "#f-reset").click()
    by_css(browser, ".grid[data-impl='1'] td.cell[data-step=''][data-level=''] b.n.f").click()
    assert shown() == failed  # a grid's number lists those scenarios
    assert console_errors(browser) == []


OPEN_EVERY_DETAIL = """
const data = JSON.parse(document.getElementById('report-data').textContent);
const out = [];
for (let k = 0; k < data.rows.length; k++) {
  for (let i = 0; i < data.impls.length; i++) {
    if (!data.res[k][i]) continue;
    window.conformanceReport.open(k, i);  // not via the address: browsers throttle history
    const d = document.querySelector('#detail[open] .detail');
    out.push([k, i, d ? d.dataset.k + '.' + d.dataset.impl : null,
              !!d && !!d.querySelector('svg.seq'), !!d && !!d.querySelector('p.notrace'),
              data.res[k][i].outcome]);
  }
}
document.getElementById('detail').close();
return out;
"""


@pytest.mark.parametrize("which", ["this run", "docs/implementations.html"])
def test_every_scenario_opens_without_a_console_error_and_nothing_is_fetched(
    browser: Any, page: Path, which: str
) -> None:
    path = page if which == "this run" else ROOT / "docs" / "implementations.html"
    if not path.exists():
        pytest.skip(f"no {path}")
    open_page(browser, path)
    opened = browser.execute_script(OPEN_EVERY_DETAIL)
    wrong = [(k, i, got) for k, i, got, *_ in opened if f"{k}.{i}" != got]
    assert opened and not wrong, (wrong[:5], console_errors(browser)[:3])
    assert all(svg or notrace for *_, svg, notrace, _ in opened)
    # format 2 (this run's and the committed reports alike): every scenario that ran has its
    # diagram; a skipped one (not in the rule set, or not runnable here) has no trace
    ran = [(k, i, svg) for k, i, _, svg, _, outcome in opened if outcome != "skipped"]
    assert len(ran) >= len(opened) - 2 * len({i for _, i, *_ in opened})
    assert all(svg for *_, svg in ran), [(k, i) for k, i, svg in ran if not svg][:5]
    resources = browser.execute_script("return performance.getEntriesByType('resource').length")
    assert resources == 0, "the page loaded something"
    assert console_errors(browser) == []


def test_four_reports_of_400_scenarios_stay_usable(
    browser: Any,
    reports: list[dict[str, Any]],
    tmp_path_factory: pytest.TempPathFactory,
    capsys: pytest.CaptureFixture[str],
) -> None:
    big = []
    for n in range(4):
        doc = copy.deepcopy(reports[n % 2])
        base = doc["results"]
        doc["results"] = [dict(copy.deepcopy(base[j % len(base)]), id=f"{base[j % len(base)]['id']}"
                               f"-{j:03d}") for j in range(400)]  # fmt: skip
        doc["resolver"] = f"implementation {n + 1}"
        big.append(doc)
    started = time.perf_counter()
    text = render(big)
    rendered = time.perf_counter() - started
    path = tmp_path_factory.mktemp("html-big") / "big.html"
    path.write_text(text, encoding="utf-8")
    size = path.stat().st_size
    ready = open_page(browser, path)
    opened = browser.execute_script("""
        const t = performance.now();
        window.conformanceReport.open(399, 3);
        document.querySelector('#detail[open] svg.seq').getBoundingClientRect();  // laid out
        return performance.now() - t;""")
    with capsys.disabled():
        print(f"\n4 x 400 scenarios: {size / 1e6:.2f} MB, rendered in {rendered:.2f} s, "
              f"ready in {ready:.0f} ms, a scenario opens in {opened:.0f} ms")  # fmt: skip
    assert size < 8e6
    assert ready < 10_000 and opened < 2_000
    assert console_errors(browser) == []
