"""How the reference reads each older text: the behaviours that differ, and a resolver for them.

The flags are the reference's own reading of docs/spec-history.md#rule-sets, used only to make the
reference follow `env.spec`. Scenarios never compute their expectations from them; they state
per-rule-set overrides by hand (fixtures/README.md), and the reference must agree.
"""

from __future__ import annotations

from dataclasses import astuple, dataclass, replace
from typing import TYPE_CHECKING
from urllib.parse import urldefrag, urljoin, urlsplit

from matrix_resolver_conformance.catalog.rulesets import LATEST, registry
from matrix_resolver_conformance.reference.resolver import (
    DEFAULT_PORT,
    SRV_SERVICES,
    DiscoveryError,
    ReferenceResolver,
)
from matrix_resolver_conformance.reference.server_name import ServerName, format_host_header
from matrix_resolver_conformance.reference.well_known import (
    ERROR_TTL,
    MAX_REDIRECTS,
    REDIRECT_STATUSES,
    WELL_KNOWN_PATH,
    InvalidBody,
    WellKnownError,
    WellKnownResult,
    parse_well_known_body,
    result_within,
)
from matrix_resolver_conformance.reference.well_known import _get as get_once

if TYPE_CHECKING:
    from matrix_resolver_conformance.env import Env

__all__ = ["CURRENT", "OlderTextResolver", "Reading", "reading"]


@dataclass(frozen=True)
class Reading:
    """What a text says where texts differ (defaults: the current text)."""

    explicit_port_step: bool = True  # hostname:port is its own step (from b971bcee)
    explicit_port_host_has_port: bool = True  # step 2 Host "(with port)" (from 1c30f5eb)
    ip_host_has_port: bool = True  # step 1 Host includes the given port (from 6421582b)
    delegated_ip_host: str = "if-provided"  # "without-port" | "with-port" | "if-provided"
    delegated_port_in_host: bool = True  # 3.2 Host `<delegated>:<port>` (from b971bcee)
    invalid_well_known: str = "step4"  # "unspecified" | "abort" | "step4"
    follow_redirects: bool = True  # from b971bcee
    caching: bool = True  # from 3c17a0e5
    matrix_fed: bool = True  # `_matrix-fed._tcp`, legacy deprecated, from v1.8
    error_gate: str = "non-200"  # "error-response" (d2f012f4): any 2xx is a response to use
    well_known_443_only: bool = False  # "port 443 exclusively" (until 1c30f5eb)


CURRENT = Reading()
_LEGACY_SRV_ONLY = replace(CURRENT, matrix_fed=False)  # r0.1.0 ... v1.7
# r0.1.0's schema said an invalid well-known fails discovery while the section said skip to
# step 4: those rule sets accept either (fixtures/step3.toml, "draft-6421582b..r0.1.0"); the
# reference follows the section (docs/spec-history.md#reading-r0.1.0-section-over-schema).
_D39B71413 = replace(
    _LEGACY_SRV_ONLY, ip_host_has_port=False, delegated_ip_host="with-port",
    invalid_well_known="abort",
)  # fmt: skip
_DB971BCEE = replace(
    _D39B71413, explicit_port_host_has_port=False, delegated_ip_host="without-port",
    caching=False, well_known_443_only=True,
)  # fmt: skip
_DD2F012F4 = replace(
    _DB971BCEE, explicit_port_step=False, delegated_port_in_host=False,
    invalid_well_known="unspecified", follow_redirects=False, error_gate="error-response",
)  # fmt: skip
_READINGS = {
    "draft-d2f012f4": _DD2F012F4,
    "draft-b971bcee": _DB971BCEE,
    "draft-39b71413": _D39B71413,
    "draft-6421582b": _LEGACY_SRV_ONLY,
}


def reading(ruleset: str) -> Reading:
    """The reference's reading of rule set `ruleset` (the current text from v1.8 on). The
    reference knows no proposal: it reads one as the text of the history it branches from
    (a proposal from v1.19 as v1.19), so a run under a proposal shows what the proposal would
    change for an implementation of today's text."""
    reg = registry()
    name = reg.base(ruleset)
    if name in _READINGS:
        return _READINGS[name]
    return CURRENT if reg.history.index(name) >= reg.history.index("v1.8") else _LEGACY_SRV_ONLY


class OlderTextResolver(ReferenceResolver):
    """The reference, following an older text where it differs from the current one."""

    def __init__(self, env: Env, text: Reading, **kwargs: object) -> None:
        super().__init__(env, **kwargs)  # type: ignore[arg-type]  # rng / clock pass through
        self._text = text
        self.follow_redirects = text.follow_redirects

    def _explicit_port(self, name: ServerName) -> ServerName:
        if name.port is not None and not name.is_ip and not self._text.explicit_port_step:
            return replace(name, port=None)  # d2f012f4: "port 443 exclusively"
        return name

    def _step1_host(self, name: ServerName) -> str:
        return str(name) if self._text.ip_host_has_port else format_host_header(name.host, None)

    def _step2_host(self, name: ServerName) -> str:
        return str(name) if self._text.explicit_port_host_has_port else name.host

    def _on_invalid_well_known(self, result: WellKnownResult) -> None:
        if result.invalid_body and self._text.invalid_well_known != "step4":
            raise DiscoveryError("3", f"invalid well-known, discovery aborted: {result.error}")

    def _step31_host(self, delegated: ServerName) -> str:
        """ "without port" (b971bcee) and "with port" (39b71413, read as the port used)."""
        how = self._text.delegated_ip_host
        if how == "without-port":
            return format_host_header(delegated.host, None)
        if how == "with-port":
            port = delegated.port if delegated.port is not None else DEFAULT_PORT
            return format_host_header(delegated.host, port)
        return str(delegated)

    def _step32_host(self, delegated: ServerName) -> str:
        return str(delegated) if self._text.delegated_port_in_host else delegated.host

    def _srv_services(self, steps: tuple[str, str, str]) -> list[tuple[str, str]]:
        if self._text.matrix_fed:
            return super()._srv_services(steps)
        return [(steps[0], SRV_SERVICES[1])]  # before v1.8: one SRV step, `_matrix._tcp`

    async def _well_known(self, hostname: str) -> WellKnownResult:
        """Where the drafts' well-known differs: d2f012f4 went on to SRV only after an "error
        response" (a 201 with a delegation is used); d2f012f4 and b971bcee used "port 443
        exclusively" (a redirect elsewhere is not followed there)."""
        text = self._text
        if text.error_gate == "non-200" and not text.well_known_443_only:
            return await super()._well_known(hostname)
        return await result_within(self._older_fetch(hostname), self._env.timeout)

    async def _older_fetch(self, hostname: str) -> tuple[ServerName, float]:
        url = f"https://{hostname}{WELL_KNOWN_PATH}"
        visited = {url}
        for _ in range(MAX_REDIRECTS + 1):
            response = await get_once(url, dns=self._dns, ssl_context=self._ssl,
                                      port=self._env.well_known_port,
                                      timeout=self._env.timeout)  # fmt: skip
            location = response.header("location")
            if response.status in REDIRECT_STATUSES and self.follow_redirects:
                if not location:
                    raise WellKnownError(f"{url}: {response.status} redirect without Location")
                try:
                    url = urldefrag(urljoin(url, location)).url
                    port = urlsplit(url).port
                except ValueError as exc:
                    raise WellKnownError(f"{url}: bad redirect Location: {exc}") from None
                if self._text.well_known_443_only and port not in (None, 443):
                    raise WellKnownError(f"{url}: not port 443 ('port 443 exclusively')")
                if url in visited:
                    raise WellKnownError(f"redirect loop back to {url}")
                visited.add(url)
                continue
            ok = 200 <= response.status < 300 if self._text.error_gate != "non-200" else (
                response.status == 200)  # fmt: skip
            if not ok:
                raise WellKnownError(f"{url}: status {response.status}")
            try:
                return parse_well_known_body(response.body), ERROR_TTL  # no caching text yet
            except WellKnownError as exc:
                raise InvalidBody(f"{url}: {exc}") from None
        raise WellKnownError(f"more than {MAX_REDIRECTS} redirects")

    def _cache_well_known(self, hostname: str, result: WellKnownResult) -> None:
        if self._text.caching:  # the caching paragraph arrived with 3c17a0e5
            super()._cache_well_known(hostname, result)


def for_env(env: Env) -> ReferenceResolver:
    """The resolver for `env.spec`: the plain current-text one wherever the text agrees."""
    text = reading(getattr(env, "spec", LATEST))
    return ReferenceResolver(env) if text == CURRENT else OlderTextResolver(env, text)


def spec_profile(ruleset: str) -> tuple[object, ...]:
    """What the reference's behaviour depends on under `ruleset`: its reading (not the name), so
    rule sets read alike share runs under `--conformance-spec=all`."""
    return astuple(reading(ruleset))


def drafts_read() -> set[str]:
    """The drafts the reference has a reading of (a test checks: every declared draft)."""
    return set(_READINGS)
