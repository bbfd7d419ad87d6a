"""The scenario model: a world, a server name, the sentence it checks and the expected observation.

Plain, frozen data, built by `catalog.load` from fixtures/*.toml (format: fixtures/README.md).
Every "none" of the fixtures is decoded there once: an expectation that nothing is sent is
`NO_SNI` or an empty `sites`, never a string to compare against.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass, replace

from matrix_resolver_conformance.catalog.rulesets import LATEST, descends_from, first_match

LEVELS = ("required", "recommended", "robustness")
STEPS = (
    "1", "2", "3", "3.1", "3.2", "3.3", "3.4", "3.5", "4", "5", "6", "tls", "grammar",
)  # fmt: skip


class Absent(enum.Enum):
    """An expectation that something is not sent at all (written "none" in the fixtures)."""

    NONE = "none"


NO_SNI = Absent.NONE
ExpectedSni = str | Absent | None  # None: not checked


def host_part(authority: str) -> str:
    """`[::1]:8448` -> `::1`, `a.test:8448` -> `a.test`, `a.test` -> `a.test` (total: also
    used on the deliberately malformed server names of the grammar scenarios)."""
    if authority.startswith("["):
        return authority[1:].partition("]")[0]
    return authority.rsplit(":", 1)[0] if authority.count(":") == 1 else authority


def describe_sni(sni: str | Absent | None) -> str:
    """ "no SNI" / "SNI 'x'", for an expectation or an observation (None observed = no SNI)."""
    return "no SNI" if sni is None or sni is NO_SNI else f"SNI {sni!r}"


@dataclass(frozen=True)
class CertDecl:
    """A certificate as a scenario states it: names, or one of the refusal variants."""

    names: tuple[str, ...] = ()  # empty: the default for that server
    variant: str = "valid"  # "valid" | "wrong-name" | "untrusted" | "expired"


@dataclass(frozen=True)
class WellKnownDecl:
    status: int = 200
    body: str = ""
    headers: tuple[tuple[str, str], ...] = (("Content-Type", "application/json"),)
    hang: bool = False
    pad_to: int = 0
    chunks: int = 0
    chunk_delay: float = 0.0
    endless: bool = False


@dataclass(frozen=True)
class ServerDecl:
    """A server the scenario places explicitly (everything else plausible gets a decoy)."""

    host: str
    port: int
    cert: CertDecl = CertDecl()
    refuse: bool = False  # nothing listens: connections are refused
    silent: bool = False  # accepts TCP, never answers
    plain: bool = False  # plain HTTP, no TLS
    well_known: WellKnownDecl | None = None
    documents: tuple[tuple[str, WellKnownDecl], ...] = ()  # other paths serving a delegation

    @property
    def label(self) -> str:
        return f"{self.host}:{self.port}"


@dataclass(frozen=True)
class Expectation:
    """What the spec demands, as observed by the world. Strings may hold ${host.v4} templates."""

    sites: tuple[str, ...]  # sites that may receive the federation request; () = none may
    or_none: bool = False  # no request at all is as acceptable (the spec allows either)
    host: str | None = None  # the Host header it must carry
    sni: ExpectedSni = None  # checked only when set
    cert: tuple[str, ...] = ()  # identity of the expected sites' certificate (default: host)
    well_known_at: tuple[str, ...] | None = None  # None: the default (see run/stage.py)
    well_known_host: str | None = None
    well_known_sni: ExpectedSni = None
    well_known_max: int | None = None
    well_known_min: int | None = None  # at least this many (e.g. `no-store` forbids caching)
    host_exact: bool = False  # compare Host case-sensitively (server names are case-sensitive)
    dns_absent: tuple[tuple[str, str], ...] = ()  # (name, type) queries that must not be made
    max_connections: tuple[tuple[str, int], ...] = ()  # (site, n): at most n connections there
    no_traffic: bool = False  # no DNS query and no connection at all

    @property
    def identity(self) -> tuple[str, ...]:
        """The names the expected server's certificate must carry."""
        if self.cert:
            return self.cert
        return (host_part(self.host),) if self.host is not None else ()

    def describe(self) -> str:
        if not self.sites:
            return "no federation request reaches any server"
        text = f"GET at {' or '.join(self.sites)} with Host {self.host!r}"
        text = text if self.sni is None else f"{text} and {describe_sni(self.sni)}"
        return f"{text}, or no request at all" if self.or_none else text

    def render(self, fill: Callable[[str], str]) -> Expectation:
        """This expectation with `fill` applied to every name it states (template filling)."""

        def opt(text: str | None) -> str | None:
            return None if text is None else fill(text)

        def sni(value: ExpectedSni) -> ExpectedSni:
            return fill(value) if isinstance(value, str) else value

        return replace(
            self,
            host=opt(self.host),
            sni=sni(self.sni),
            cert=tuple(fill(c) for c in self.cert),
            well_known_host=opt(self.well_known_host),
            well_known_sni=sni(self.well_known_sni),
            dns_absent=tuple((fill(n), t) for n, t in self.dns_absent),
        )


@dataclass(frozen=True)
class Override:
    """How one range of rule sets differs: another expectation (with the sentence of that text),
    or not applicable at all (`skip`). Resolved when the catalog is loaded."""

    within: str  # "..v1.7", "draft-b971bcee..draft-39b71413", "r0.1.0", "proposal-x"
    change: str = ""  # what that text says differently (shown by `diff`)
    sentence: str = ""
    expect: Expectation | None = None
    skip: str = ""
    level: str = ""  # another level in that text (e.g. a rule a proposal makes required)
    sentence_ids: tuple[str, ...] = ()  # the ids of `sentence` in that text


@dataclass(frozen=True)
class Scenario:
    id: str
    step: str
    level: str
    sentence: str
    server_name: str
    expect: Expectation
    note: str = ""
    fetches: int = 1
    dns: tuple[str, ...] = ()
    dns_servfail: tuple[str, ...] = ()
    dns_silent: tuple[str, ...] = ()
    dns_faults: tuple[tuple[str, str], ...] = ()  # ("name [TYPE]", fault), see fixtures/README
    well_known: WellKnownDecl | None = None  # shorthand for the origin's :443 server
    servers: tuple[ServerDecl, ...] = ()
    overrides: tuple[Override, ...] = ()
    rule: str = ""  # the rule its sentence states, when the quote does not say (catalog/rules.py)
    change: str = ""  # set on a scenario applied to a rule set with an override
    since: str = ""  # applies only to this rule set and those edited from it
    since_reason: str = ""
    sentence_ids: tuple[str, ...] = ()  # the sentences `sentence` quotes, by id (sentences.py)
    rests_on: tuple[str, ...] = ()  # every sentence the expectation depends on (`impact`)

    def under(self, ruleset: str = LATEST) -> Scenario | str:
        """This scenario as rule set `ruleset` has it, or the reason it does not apply. A
        proposal takes its own overrides, else its parent's (rulesets.first_match)."""
        if self.since and not descends_from(ruleset, self.since):
            return self.since_reason or f"not in the spec before {self.since}"
        index = first_match([o.within for o in self.overrides], ruleset)
        if index is None:
            return self
        o = self.overrides[index]
        if o.skip:
            return o.skip
        assert o.expect is not None
        return replace(
            self,
            expect=o.expect,
            sentence=o.sentence or self.sentence,
            sentence_ids=o.sentence_ids if o.sentence else self.sentence_ids,
            change=o.change,
            level=o.level or self.level,
        )
