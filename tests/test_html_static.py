"""The HTML report without a browser: the diagram's plan (report/sequence.py), the page's static
part and data (report/html.py), and `matrix-resolver-conformance render`. What a person sees in
Chromium is tests/test_html_report.py."""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from typing import Any

import pytest

from matrix_resolver_conformance.report import sequence
from matrix_resolver_conformance.report.html import ReportError, embed_json, load, render
from matrix_resolver_conformance.tools.cli import main as cli
from tests.html_dom import Node, parse

ROOT = Path(__file__).resolve().parents[1]
HOSTILE = "</script><script>window.pwned = 1</script><!-- <b>not bold</b> \u2028"

SITES = {
    "origin:443": {"role": "decoy", "endpoints": "127.16.1.3:443"},
    "origin:8449": {"role": "expected", "endpoints": "127.16.1.3:8449"},
    "target:8450": {"role": "decoy", "endpoints": "127.16.1.4:8450"},
    "target:8448": {"role": "decoy", "endpoints": "127.16.1.4:8448"},
}


def dns(name: str, rtype: str, outcome: str = "NOERROR 1 answer", **more: Any) -> dict[str, Any]:
    return {"t": 1.0, "kind": "dns", "transport": "udp", "name": name, "type": rtype,
            "outcome": outcome, **more}  # fmt: skip


def conn(cid: int, site: str, **more: Any) -> dict[str, Any]:
    host, _, port = site.partition(":")
    out = {"t": 2.0, "kind": "connection", "id": cid, "site": site,
           "role": SITES.get(site, {"role": "dns"})["role"], "address": "127.16.1.3",
           "port": int(port), "tls": True, "client_hello": True, "sni": f"{host}.test",
           "established": True, "error": None, "received": 150}  # fmt: skip
    out.update(more)
    return out


def req(cid: int, site: str, path: str, status: int | None = 200) -> dict[str, Any]:
    return {"t": 3.0, "kind": "request", "connection": cid, "site": site,
            "role": SITES[site]["role"], "method": "GET", "path": path, "host": "origin.test",
            "status": status, "well_known": path.startswith("/.well-known")}  # fmt: skip


WK, FED = "/.well-known/matrix/server", "/_matrix/federation/v1/version"
DECOY_HIT_TRACE = {
    "sites": SITES,
    "events": [
        dns("origin.test", "A"),
        conn(0, "origin:443"),
        req(0, "origin:443", WK, 404),
        conn(1, "target:8450"),
        req(1, "target:8450", FED),
    ],
}


def lanes(plan: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {lane["label"]: lane for lane in plan["lanes"]}


# -- the diagram's plan --------------------------------------------------------------------------


def test_a_federation_request_at_a_decoy_is_a_hit_and_the_expected_site_never_reached() -> None:
    plan = sequence.plan(DECOY_HIT_TRACE)
    assert plan is not None
    by = lanes(plan)
    assert [lane["label"] for lane in plan["lanes"]] == [
        "resolver", "DNS", "origin:443", "target:8450", "origin:8449"]  # fmt: skip
    assert (by["target:8450"]["role"], by["target:8450"]["state"]) == ("decoy", "hit")
    assert by["origin:443"]["state"] == "lookup"  # asked for the well-known, which is allowed
    assert (by["origin:8449"]["role"], by["origin:8449"]["state"]) == ("expected", "idle")
    rows = plan["rows"]
    assert [(r["kind"], r["tone"]) for r in rows] == [
        ("dns", "dns"), ("connect", "plain"), ("request", "plain"), ("response", "plain"),
        ("connect", "wrong"), ("request", "wrong"), ("response", "wrong")]  # fmt: skip
    assert rows[4]["text"] == "connect 127.16.1.3:8450 · TLS · SNI target.test"
    assert (rows[5]["text"], rows[5]["note"]) == (f"GET {FED}", "Host origin.test")
    assert rows[6]["text"] == "200" and rows[6]["b"] == sequence.RESOLVER
    assert plan["quiet"] == ["target:8448 (decoy)"]


def test_a_well_known_request_the_judge_refused_is_a_hit() -> None:
    problems = ["a well-known request went to decoy origin:443 (allowed: nowhere), Host 'x'"]
    plan = sequence.plan(DECOY_HIT_TRACE, problems)
    assert plan is not None
    assert lanes(plan)["origin:443"]["state"] == "hit"
    assert {r["tone"] for r in plan["rows"][1:4]} == {"wrong"}


def test_handshakes_sni_and_odd_traffic_are_told() -> None:
    trace = {
        "sites": SITES,
        "events": [
            dns("?", "?", "FORMERR", readable=False, size=7, raw="00ff"),
            dns("origin.test", "SRV", "SERVFAIL", transport="tcp"),
            dict(conn(0, "dns:53"), site="dns", tls=False, client_hello=False, sni=None),
            conn(1, "origin:8449", sni=None, established=False, error="certificate refused"),
            conn(2, "origin:8449", client_hello=False, sni=None, established=False),
            conn(3, "target:8448", tls=False, first_bytes="16030102"),
            {"t": 9.0, "kind": "telepathy"},
        ],
    }
    plan = sequence.plan(trace)
    assert plan is not None
    rows = plan["rows"]
    assert rows[0]["warn"] and rows[0]["note"] == "FORMERR; starts 00ff"
    assert rows[1]["text"] == "SRV origin.test over TCP" and rows[1]["warn"]
    assert rows[2]["b"] == sequence.DNS and "DNS over TCP" in rows[2]["text"]
    assert rows[3]["text"].endswith("TLS · no SNI") and rows[3]["fail"]
    assert rows[3]["note"] == "handshake failed: certificate refused" and rows[3]["tone"] == "ok"
    assert rows[4]["text"].endswith("no ClientHello")
    assert "plain TCP" in rows[5]["text"] and "ClientHello" in rows[5]["note"] and rows[5]["warn"]
    assert rows[5]["tone"] == "wrong"  # a decoy reached
    assert rows[6]["kind"] == "other" and rows[6]["text"] == "telepathy event"
    assert sequence.plan(None) is None and sequence.plan({}) is None
    assert sequence.endpoint("fd00::1", 443) == "[fd00::1]:443"


# -- the page ------------------------------------------------------------------------------------


def entry(sid: str, outcome: str, trace: dict[str, Any], **more: Any) -> dict[str, Any]:
    out = {"id": sid, "spec": "v1.19", "step": "2", "level": "required", "outcome": outcome,
           "unavailable": False, "expected": "GET at origin:8449", "observed": "GET at target",
           "problems": [], "rule": "destination", "failures": [], "held": ["host"],
           "sentence": "If the hostname is not an IP literal ...", "seconds": 0.1,
           "trace": trace}  # fmt: skip
    out.update(more)
    return out


@pytest.fixture
def reports() -> list[dict[str, Any]]:
    failure = {"rule": "destination", "level": "required", "message": "reached decoy target:8450",
               "sentence": "If the hostname is not an IP literal ..."}  # fmt: skip
    new = {
        "format": 2, "trace_format": 1, "suite_version": "0.2.0", "catalog_hash": "abc",
        "resolver": "tests.broken:X", "resolver_version": None, "spec": "v1.19",
        "results": [
            entry("step2-a", "failed", DECOY_HIT_TRACE, failures=[failure],
                  problems=[failure["message"]], observed="GET at target " + HOSTILE),
            entry("step2-b", "passed", DECOY_HIT_TRACE),
            entry("step9-new", "skipped", {}, level="robustness", step="9", unavailable=True),
        ],
    }  # fmt: skip
    return [new, copy.deepcopy(FORMAT_1)]


# The first results of a format 1 report (no `format` key, no failures, no trace): Synapse's
# docs/reports/synapse.json as it was before the 369-scenario runs.
FORMAT_1: dict[str, Any] = {
    "resolver": "synapse", "resolver_version": "matrix-synapse 1.163.2 (Twisted 26.10.0)",
    "spec": "v1.19",
    "results": [
        {"id": "grammar-bracketed-dns-name-refused", "spec": "v1.19", "step": "grammar",
         "level": "required", "outcome": "passed",
         "expected": "no federation request reaches any server",
         "observed": "no federation request reached any server", "problems": [],
         "sentence": 'hostname = IPv4address / "[" IPv6address "]" / dns-name', "seconds": 0.1032},
        {"id": "grammar-colon-without-port-refused", "spec": "v1.19", "step": "grammar",
         "level": "required", "outcome": "failed",
         "expected": "no federation request reaches any server",
         "observed": "no federation request; connect origin:8448 (127.17.1.5:8448) TLS SNI "
                     "origin.test:, handshake failed: the client aborted the handshake (e.g. it "
                     "refused the certificate)",
         "problems": ["expected no network traffic at all; saw 6 DNS queries and 2 connections"],
         "sentence": 'server_name = hostname [ ":" port ]', "seconds": 0.1231},
        {"id": "grammar-dns-name-of-256-characters-refused", "spec": "v1.19", "step": "grammar",
         "level": "required", "outcome": "passed",
         "expected": "no federation request reaches any server",
         "observed": "no federation request reached any server", "problems": [],
         "sentence": "dns-name = 1*255dns-char", "seconds": 1.1071},
    ],
}  # fmt: skip


def data_of(dom: Node) -> dict[str, Any]:
    node = next(n for n in dom.walk() if n.attrs.get("id") == "report-data")
    decoded: dict[str, Any] = json.loads(node.text())
    return decoded


def test_the_page_is_self_contained_and_its_data_cannot_close_the_script(
    reports: list[dict[str, Any]],
) -> None:
    page = render(reports)
    dom = parse(page)
    for node in dom.walk():  # nothing to fetch: no source, no link but within the page
        assert "src" not in node.attrs, node.tag
        assert node.attrs.get("href", "#")[:1] == "#" or node.attrs["href"] == "data:,", node.attrs
        assert node.tag not in ("iframe", "object", "embed", "img", "audio", "video", "base")
    code = [n.text() for n in dom.walk()
            if n.tag in ("style", "script") and n.attrs.get("id") != "report-data"]  # fmt: skip
    assert len(code) == 2  # the style and the script, inline
    for needle in ("@import", "url(", "@font-face", "fetch(", "xmlhttprequest", "import("):
        assert all(needle not in c.lower() for c in code), needle
    urls = {u for c in code for u in re.findall(r"https?://[^\s\"']+", c)}
    assert urls <= {"http://www.w3.org/2000/svg"}, urls  # a namespace, never fetched
    assert page.lower().count("</script") == 2  # the data's own end and the script's
    data = data_of(dom)
    assert data["res"][[r["id"] for r in data["rows"]].index("step2-a")][0]["observed"].endswith(
        HOSTILE
    )
    assert embed_json({"x": "</script>\u2028&"}) == '{"x":"\\u003c/script\\u003e\\u2028\\u0026"}'


def test_grid_matrix_and_data_of_mixed_formats(reports: list[dict[str, Any]]) -> None:
    dom = parse(render(reports, notes={("tests.broken:X", "step2-a"): "deviation: it does"}))
    grid = dom.find_all("table", "grid")[0]
    every = {"data-step": "", "data-level": ""}
    cell = next(td for td in grid.find_all("td", "cell") if every.items() <= td.attrs.items())
    assert [b.text() for b in cell.find_all("b")] == ["1", "1", "1"]
    matrix = next(t for t in dom.find_all("table") if t.attrs.get("id") == "matrix")
    marks = {tr.find("td", "id").text(): [td.text() for td in tr.find_all("td", "o")]
             for tr in matrix.find_all("tr", "r")}  # fmt: skip
    assert marks["step2-a"] == ["✗", "·"] and marks["step9-new"] == ["⊘", "·"]
    assert [tb.attrs["data-step"] for tb in matrix.find_all("tbody")][-1] == "9"  # unknown: last
    data = data_of(dom)
    first = data["res"][[r["id"] for r in data["rows"]].index("step2-a")][0]
    assert first["note"] == "deviation: it does" and first["diagram"]["lanes"][3][3] == "hit"
    olds = [row[1] for row in data["res"] if row[1] is not None]
    assert olds and all(r["diagram"] is None and r["failures"] is None for r in olds)
    assert "format 1 report" in dom.text()  # the page says what the old reports lack


def test_one_row_per_rule_set_when_a_report_judged_a_scenario_by_several(
    reports: list[dict[str, Any]],
) -> None:
    doc = reports[0]
    doc["results"].append(dict(doc["results"][0], spec="v1.7"))
    data = data_of(parse(render([doc])))
    assert [(r["id"], r["spec"]) for r in data["rows"] if r["id"] == "step2-a"] == [
        ("step2-a", "v1.19"), ("step2-a", "v1.7")]  # fmt: skip


def test_what_render_refuses(tmp_path: Path, reports: list[dict[str, Any]]) -> None:
    with pytest.raises(ReportError):
        render([])
    with pytest.raises(ReportError):
        render(reports, labels=["only one"])
    bad = tmp_path / "bad.json"
    bad.write_text('{"results": [{"id": "x"}]}', encoding="utf-8")
    with pytest.raises(ReportError, match="lacks"):
        load(bad)
    with pytest.raises(ReportError):
        load(tmp_path / "missing.json")


def test_the_render_command(tmp_path: Path, reports: list[dict[str, Any]]) -> None:
    paths = []
    for n, doc in enumerate(reports):
        paths.append(tmp_path / f"r{n}.json")
        paths[-1].write_text(json.dumps(doc), encoding="utf-8")
    out = tmp_path / "report.html"
    args = ["render", *map(str, paths), "--output", str(out), "--label", "A", "--label", "B"]
    assert cli(args) == 0
    dom = parse(out.read_text(encoding="utf-8"))
    assert [c.find("caption").text() for c in dom.find_all("table", "grid")] == ["A", "B"]
    assert cli(["render", str(tmp_path / "missing.json"), "--output", str(out)]) == 2
