"""Synapse's real server discovery as a suite resolver: `--resolver=synapse`.

    pip install 'matrix-resolver-conformance[synapse]'
    pytest --pyargs conformance --resolver=synapse -n 2

Each scenario gets what a Synapse homeserver builds for its outbound federation, from Synapse's
own classes, configured only through their config and constructor parameters (nothing patched):

- a `HomeServerConfig` from `parse_config_dict`, with a server name of its own, the fake world's CA
  as `federation_custom_ca_list`, `federation_verify_certificates: true`, and loopback and the
  suite's IPv6 test range (fd00:5e::/32) allowed in `ip_range_whitelist` (Synapse blocks private
  addresses by default);
- its TLS policy `FederationPolicyForHTTPS(config)` (SNI, certificate checks);
- `MatrixFederationAgent`: the whole discovery layer (IP literals, ports, the well-known fetch
  and its cache, `_matrix-fed._tcp` and `_matrix._tcp` SRV, the 8448 fallback, `Host`), with the
  config's IP allow/block lists and a `SrvResolver` whose twisted.names client asks
  `env.dns_server` (the agent's documented `_srv_resolver` parameter; the default is the same
  client reading the system's resolv.conf) with a fresh cache.

One substitution is unavoidable: turning a host name into addresses. In production Synapse does it
through the reactor's `nameResolver`, i.e. getaddrinfo, which reads the system's resolver
configuration and cannot be pointed at a test DNS server; in the suite's network namespace it
would simply fail for every fake name. So the agent is given a pass-through reactor proxy whose
`nameResolver` asks `env.dns_server` for AAAA and A, separately, as getaddrinfo's stub resolver
does (`twisted_bridge.DnsHostnameResolver`: numeric hosts parsed by getaddrinfo itself with
AI_NUMERICHOST, IPv6 first, CNAMEs followed, a failed family ignored). Synapse's own IP
blocklisting wrapper still sits between the agent and that resolver, and nothing global changes.
Scenarios that turn on how a system resolver follows CNAMEs, orders families or treats a failed
AAAA/A query test this stand-in, not Synapse.

Timeouts: the agent has none of its own, not even for the well-known fetch or a TLS handshake
(Synapse's `MatrixFederationHttpClient` wraps each request in `federation.client_timeout`, 60 s
by default). A fetch here gives up after 4 x `env.timeout` (or when the suite cancels it),
cancels the request on the reactor thread and raises. Synapse's client cancels once and lets
the rest run on; here the cancel is repeated until the request stops (its well-known fetch
turns a cancellation into "no well-known" and carries on to step 4), so an abandoned fetch
reaches no server. DNS queries time out after `env.timeout`; TCP connects keep Twisted's 30 s.
The Twisted reactor runs once per process on a daemon thread (`twisted_bridge`).
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import os
import tempfile
import threading
import warnings
from typing import Any

try:
    # Synapse and Twisted warn about their own deprecations on import: not ours to show.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        import synapse

        # imported (with warnings) by the first config otherwise:
        import synapse.api.filtering
        import twisted.web.static  # noqa: F401
        from signedjson.key import generate_signing_key, write_signing_keys
        from synapse.config.homeserver import HomeServerConfig
        from synapse.crypto.context_factory import FederationPolicyForHTTPS
        from synapse.http.federation.matrix_federation_agent import MatrixFederationAgent
        from synapse.http.federation.srv_resolver import SrvResolver
        from synapse.logging.context import (
            LoggingContext,
            make_deferred_yieldable,
            run_in_background,
        )
        from synapse.util.clock import Clock
        from twisted.internet import defer
        from twisted.names import client as dns_client
        from twisted.web.client import PartialDownloadError, readBody

        from matrix_resolver_conformance.adapters.twisted_bridge import (
            DnsHostnameResolver,
            NameResolverReactor,
            call_in_reactor,
            ensure_reactor,
            in_reactor,
        )
        from matrix_resolver_conformance.run.resolvers import declare
except ImportError as exc:
    raise ImportError(
        f"the synapse resolver needs Synapse ({exc}): "
        "pip install 'matrix-resolver-conformance[synapse]'"
    ) from exc

__all__ = ["IP_ALLOWLIST", "factory"]

IP_ALLOWLIST = ["127.0.0.0/8", "::1/128", "fd00::/8"]  # the fake world: 127/8, fd00:5e::/32
FETCH_TIMEOUTS = 4  # a fetch gives up after this many env.timeout
CLOSE_TIMEOUT = 0.5

# Synapse logs every well-known and connection failure at INFO; the suite's output stays readable.
for _name in ("synapse", "twisted"):
    logging.getLogger(_name).setLevel(logging.WARNING)

_serial = itertools.count(1)
_lock = threading.Lock()
_workdir: tempfile.TemporaryDirectory[str] | None = None


def _files() -> str:
    """A per-process directory with the signing key (and the media store the config insists on
    creating); removed when the process exits."""
    global _workdir
    with _lock:
        if _workdir is None:
            _workdir = tempfile.TemporaryDirectory(prefix="conformance-synapse-")
            with open(os.path.join(_workdir.name, "signing.key"), "w") as f:
                write_signing_keys(f, [generate_signing_key("conformance")])
        return _workdir.name


def homeserver_config(env: Any, server_name: str) -> HomeServerConfig:
    """A real HomeServerConfig for a homeserver named `server_name` in the fake world."""
    directory = _files()
    config = HomeServerConfig()
    config.parse_config_dict(
        {
            "server_name": server_name,
            "report_stats": False,
            "signing_key_path": os.path.join(directory, "signing.key"),
            "macaroon_secret_key": "conformance-not-a-secret",
            "suppress_key_server_warning": True,
            "trusted_key_servers": [],
            "database": {"name": "sqlite3", "args": {"database": ":memory:"}},
            "media_store_path": os.path.join(directory, "media_store"),
            "federation_custom_ca_list": [env.ca_file],
            "federation_verify_certificates": True,
            "ip_range_whitelist": IP_ALLOWLIST,
        },
        config_dir_path=directory,
        data_dir_path=directory,
    )
    return config


def _build_agent(env: Any, config: HomeServerConfig) -> tuple[MatrixFederationAgent, Clock]:
    """On the reactor thread: the agent as Synapse builds it, pointed at the fake world."""
    reactor = ensure_reactor()
    dns = dns_client.Resolver(
        servers=[tuple(env.dns_server)], timeout=(env.timeout,), reactor=reactor
    )
    proxy: Any = NameResolverReactor(reactor, DnsHostnameResolver(dns))  # provides the reactor
    server_name = config.server.server_name
    clock = Clock(proxy, server_name)
    agent = MatrixFederationAgent(
        server_name=server_name,
        reactor=proxy,
        clock=clock,
        tls_client_options_factory=FederationPolicyForHTTPS(config),
        user_agent=f"Synapse/{synapse.__version__}".encode("ascii"),
        ip_allowlist=config.server.federation_ip_range_allowlist,
        ip_blocklist=config.server.federation_ip_range_blocklist,
        _srv_resolver=SrvResolver(dns_client=dns, cache={}),
    )
    return agent, clock


def _get(agent: MatrixFederationAgent, uri: bytes, our_name: str) -> defer.Deferred:
    """On the reactor thread: one GET through the agent -> Deferred of (status, body)."""
    return defer.ensureDeferred(_request(agent, uri, our_name))


async def _request(agent: MatrixFederationAgent, uri: bytes, our_name: str) -> tuple[int, bytes]:
    # In a logging context of its own, as Synapse's requests run (its metrics expect one), and
    # called as MatrixFederationHttpClient calls it: run_in_background, make_deferred_yieldable.
    with LoggingContext(name="conformance-fetch", server_name=our_name):
        request = run_in_background(agent.request, b"GET", uri)
        response = await make_deferred_yieldable(request)
        try:
            body = await make_deferred_yieldable(readBody(response))
        except PartialDownloadError as e:  # the response arrived, only its body broke off
            body = e.response or b""
        except defer.CancelledError:
            raise
        except Exception:  # likewise: still an HTTP response
            body = b""
        return response.code, body


def _close(agent: MatrixFederationAgent, clock: Clock) -> defer.Deferred:
    clock.shutdown()
    # The agent offers no close(); its connection pool is the only thing that outlives a fetch.
    return agent._pool.closeCachedConnections()


async def factory(env: Any) -> Any:
    """The plug-in contract's factory: one Synapse federation agent for this scenario."""
    our_name = f"adapter-{os.getpid()}-{next(_serial)}.conformance.invalid"
    config = homeserver_config(env, our_name)  # a name of its own: its caches register metrics
    ensure_reactor()
    agent, clock = await in_reactor(_build_agent, env, config, timeout=10)
    limit = env.timeout * FETCH_TIMEOUTS

    async def fetch(server_name: str) -> tuple[int, bytes]:
        """One federation GET of `env.path` from `server_name`; (status, body)."""
        # As Synapse's MatrixFederationRequest builds it (non-ASCII names fail here).
        uri = b"matrix-federation://" + server_name.encode("ascii") + env.path.encode("ascii")
        try:
            return await in_reactor(_get, agent, uri, our_name, timeout=limit)
        except asyncio.TimeoutError:
            raise TimeoutError(
                f"no response within {limit:g} s ({FETCH_TIMEOUTS} x env.timeout; Synapse's "
                "agent has no timeout of its own): request cancelled"
            ) from None

    def close() -> None:
        """Close the agent's pooled connections and stop its clock's calls. Synchronous on
        purpose: the suite calls a sync close() even after cancelling a hung fetch, while
        an async aclose() would then not be awaited."""
        call_in_reactor(_close, agent, clock, timeout=CLOSE_TIMEOUT)

    fetch.close = close  # type: ignore[attr-defined]  # the contract's optional close()
    return fetch


def _version() -> str:
    import twisted
    from synapse import __version__ as synapse_version

    return f"matrix-synapse {synapse_version} (Twisted {twisted.__version__})"


declare(factory, version=_version, spec_profile=lambda spec: None)  # it follows one text
