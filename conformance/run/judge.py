"""The judge: compare what the world observed with what the scenario expects.

Only the observation log counts. What `fetch` returned or raised is used for one thing: a fetch
that *returned* although no server answered a federation request is reporting a response that
does not exist, which is itself a failure.
"""

from __future__ import annotations

from dataclasses import dataclass

from matrix_resolver_conformance.catalog.model import (
    NO_SNI,
    Expectation,
    ExpectedSni,
    Scenario,
    describe_sni,
)
from matrix_resolver_conformance.catalog.rules import rule_for
from matrix_resolver_conformance.run.outcome import DriveOutcome
from matrix_resolver_harness.observations import HttpRequest, ObservationLog


@dataclass(frozen=True)
class Failure:
    """One broken rule: which, at which level, per which sentence, and what happened."""

    rule: str
    level: str
    sentence: str
    message: str


@dataclass
class Verdict:
    passed: bool
    failures: list[Failure]
    checked: list[str]  # the rules this scenario checked, in the order they were checked
    expected: str
    observed: str
    message: str = ""

    @property
    def problems(self) -> list[str]:
        return [f.message for f in self.failures]

    def held(self) -> list[str]:
        """The rules checked that held."""
        broken = {f.rule for f in self.failures}
        return [r for r in self.checked if r not in broken]


Problems = list[tuple[str, str]]  # (rule, message), as the checks find them


@dataclass(frozen=True)
class Judged:
    """The expectation with templates filled in for this world."""

    expect: Expectation
    path: str
    fetches: int
    roles: dict[str, str]
    well_known_at: tuple[str, ...]
    endpoints: dict[str, str]  # site label -> "127.16.0.5:8449 / [fd00:5e::3]:8449"


def _same(a: str | None, b: str | None) -> bool:
    """Host names compare case-insensitively (DNS, TLS and HTTP all do)."""
    return (a or "").lower() == (b or "").lower()


def _sni_matches(observed: str | None, expected: ExpectedSni) -> bool:
    if expected is NO_SNI:
        return observed is None
    return observed is not None and _same(observed, expected if isinstance(expected, str) else "")


def _role(judged: Judged, site: str) -> str:
    return judged.roles.get(site, "unknown")


def _check_request(req: HttpRequest, judged: Judged, problems: Problems) -> None:
    e = judged.expect
    where = f"{_role(judged, req.site)} {req.site}"
    if req.site not in e.sites:
        wanted = f"instead of {' or '.join(e.sites)}" if e.sites else "where none may arrive"
        problems.append((
            "destination",
            f"a federation request reached {where} ({req.connection.endpoint}) "
            f"{wanted}; it carried "
            + ("no Host" if req.host is None else f"Host {req.host!r}")
            + (f", SNI {req.sni!r}" if req.sni else ", no SNI"),
        ))  # fmt: skip
        return
    if req.method != "GET" or req.path != judged.path:
        problems.append(
            (
                "request",
                f"the request at {req.site} was {req.method} {req.path}, "
                f"expected GET {judged.path}",
            )
        )
    if not _same(req.host, e.host) or (e.host_exact and req.host != e.host):
        problems.append(
            ("host", f"the request at {req.site} carried Host {req.host!r}, expected {e.host!r}")
        )
    if e.sni is not None and not _sni_matches(req.sni, e.sni):
        problems.append(
            (
                "sni",
                f"the TLS handshake at {req.site} sent {describe_sni(req.sni)}, "
                f"expected {describe_sni(e.sni)}",
            )
        )


def _check_failed_handshakes(log: ObservationLog, judged: Judged, problems: Problems) -> None:
    """A handshake that failed at the right server is the clearest sign of a wrong TLS name."""
    identity = ", ".join(judged.expect.identity)
    for conn in log.connections():
        if conn.site in judged.expect.sites and conn.tls and not conn.established:
            sni = f"SNI {conn.sni!r}" if conn.sni is not None else "no SNI"
            problems.append((
                "certificate",
                f"the TLS handshake at {conn.site} did not complete ({sni}; "
                f"{conn.error or 'no reason'}); that server's certificate is for {identity}",
            ))  # fmt: skip


def _check_well_known(log: ObservationLog, judged: Judged, problems: Problems) -> None:
    e = judged.expect
    wk = [r for r in log.requests() if r.well_known]
    for req in wk:
        if req.site not in judged.well_known_at:
            allowed = ", ".join(judged.well_known_at) or "nowhere"
            problems.append((
                "well-known",
                f"a well-known request went to {_role(judged, req.site)} {req.site} "
                f"(allowed: {allowed}), Host {req.host!r}",
            ))  # fmt: skip
    at_origin = [r for r in wk if judged.well_known_at and r.site == judged.well_known_at[0]]
    for req in at_origin:
        if e.well_known_host is not None and not _same(req.host, e.well_known_host):
            problems.append((
                "well-known",
                f"the well-known request carried Host {req.host!r}, "
                f"expected {e.well_known_host!r}",
            ))  # fmt: skip
        if e.well_known_sni is not None and not _sni_matches(req.sni, e.well_known_sni):
            problems.append((
                "sni",
                f"the well-known request's TLS handshake sent "
                f"{describe_sni(req.sni)}, expected {describe_sni(e.well_known_sni)}",
            ))  # fmt: skip
    if e.well_known_max is not None and len(wk) > e.well_known_max:
        problems.append((
            "caching",
            f"the well-known was requested {len(wk)} times over {judged.fetches} "
            f"fetch(es); at most {e.well_known_max} expected",
        ))  # fmt: skip
    if e.well_known_min is not None and len(wk) < e.well_known_min:
        problems.append((
            "caching",
            f"the well-known was requested {len(wk)} times over {judged.fetches} "
            f"fetch(es); at least {e.well_known_min} expected",
        ))  # fmt: skip


def _check_dns_and_traffic(log: ObservationLog, e: Expectation, problems: Problems) -> None:
    for name, rtype in e.dns_absent:
        hits = [
            q for q in log.dns_queries() if _same(q.name.rstrip("."), name) and q.rtype == rtype
        ]
        if hits:
            problems.append(
                ("dns", f"queried {rtype} {name} ({len(hits)}x), which is not needed here")
            )
    if e.no_traffic:
        n_dns, n_conn = len(log.dns_queries()), len(log.connections())
        if n_dns or n_conn:
            problems.append((
                "traffic",
                f"expected no network traffic at all; saw {n_dns} DNS message(s) and "
                f"{n_conn} connection(s)",
            ))  # fmt: skip


def observed_summary(log: ObservationLog) -> str:
    fed = [r for r in log.requests() if not r.well_known]
    if not fed:
        failed = [c for c in log.connections() if c.tls and not c.established]
        if failed:
            return "no federation request; " + "; ".join(c.describe() for c in failed[:3])
        return "no federation request reached any server"
    return "; ".join(r.describe() for r in fed)


def judge(scenario: Scenario, judged: Judged, log: ObservationLog, drive: DriveOutcome) -> Verdict:
    e = judged.expect
    problems: Problems = [("contract", p) for p in drive.problems]
    fed = [r for r in log.requests() if not r.well_known]
    for req in fed:
        _check_request(req, judged, problems)
    nothing_allowed = e.or_none and not fed  # no request at all, which this scenario accepts
    if e.sites and not nothing_allowed:
        _check_failed_handshakes(log, judged, problems)
        good = [r for r in fed if r.site in e.sites]
        if len(good) != judged.fetches:
            problems.append((
                "destination",
                f"{len(good)} federation request(s) reached {' or '.join(e.sites)}; "
                f"expected exactly {judged.fetches} (one per fetch)",
            ))  # fmt: skip
        for call in drive.calls:
            if not call.returned and call.claims:
                problems.append(
                    ("contract", f"{call.what} {call.summary} (a request was expected to succeed)")
                )
    elif not fed:  # none was expected (or none came, and that was allowed)
        for call in drive.calls:
            if call.returned and call.claims:
                problems.append((
                    "contract",
                    f"{call.what} {call.summary}, but no server answered any federation "
                    "request: the response it reports does not exist",
                ))  # fmt: skip
    _check_well_known(log, judged, problems)
    _check_dns_and_traffic(log, e, problems)
    for site_label, most in e.max_connections:
        n = sum(1 for c in log.connections() if c.site == site_label)
        if n > most:
            problems.append(
                (
                    "caching",
                    f"{n} connections reached {site_label} over "
                    f"{judged.fetches} fetch(es); at most {most} expected",
                )
            )
    failures = []
    for name, message in problems:
        rule = rule_for(scenario, name)
        failures.append(Failure(name, rule.level, rule.sentence, message))
    verdict = Verdict(not failures, failures, _checked(judged), _expected_text(judged),
                      observed_summary(log))  # fmt: skip
    verdict.message = _message(scenario, verdict, log, drive)
    return verdict


def _checked(judged: Judged) -> list[str]:
    e = judged.expect
    rules = ["destination"]
    if e.sites:
        rules += ["request", "host", "certificate"]
    if e.sni is not None or e.well_known_sni is not None:
        rules.append("sni")
    rules.append("well-known")
    if e.well_known_max is not None or e.well_known_min is not None:
        rules.append("caching")
    if e.dns_absent:
        rules.append("dns")
    if e.no_traffic:
        rules.append("traffic")
    return [*rules, "contract"]


def _expected_text(judged: Judged) -> str:
    e = judged.expect
    if not e.sites:
        return e.describe()
    where = " or ".join(f"{s} ({judged.endpoints.get(s, '?')})" for s in e.sites)
    text = f"GET {judged.path} at {where}, Host {e.host!r}"
    return text if e.sni is None else f"{text}, {describe_sni(e.sni)}"


def _message(scenario: Scenario, v: Verdict, log: ObservationLog, drive: DriveOutcome) -> str:
    lines = [
        f"[{scenario.level}] step {scenario.step}: {scenario.id}",
        f'spec: "{scenario.sentence}"',
    ]
    if scenario.change:
        lines.append(f"this rule set differs from the current text: {scenario.change}")
    if scenario.note:
        lines.append(f"note: {scenario.note}")
    lines += [f"expected: {v.expected}", f"observed: {v.observed}"]
    if v.failures:
        held = [r for r in v.held() if r != "contract"]
        if held:
            lines.append("held: " + ", ".join(held))
        lines.append("why it fails (the rule broken, its level):")
        lines += [f"  - [{f.rule}, {f.level}] {f.message}" for f in v.failures]
        others = {(f.rule, f.sentence) for f in v.failures if f.sentence != scenario.sentence}
        lines += [f'  {rule} rule: "{sentence}"' for rule, sentence in sorted(others)]
    lines.append("what the world saw, in order:")
    lines += [f"  {line}" for line in log.describe()] or ["  (nothing)"]
    lines.append("the implementation under test:")
    lines += [f"  {c.what} {c.summary}" for c in drive.calls] or ["  (no fetch completed)"]
    return "\n".join(lines)
