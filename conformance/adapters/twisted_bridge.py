"""Drive Twisted code from the suite's asyncio threads, and resolve host names without getaddrinfo.

- One reactor per process, run by `reactor.run(installSignalHandlers=False)` on a daemon thread
  (a reactor cannot be restarted), started by the first `ensure_reactor()`. The thread is started
  from a resolver thread, so it inherits that thread's network namespace: the fake world's.
- `in_reactor(fn)` runs `fn` on the reactor thread (`callFromThread`) and awaits its Deferred
  from the caller's asyncio loop (`call_soon_threadsafe`); on asyncio cancellation or timeout it
  cancels the Deferred from the reactor thread (again at every reactor turn while it has not
  fired, for up to CANCEL_GRACE) and raises only then, so nothing of a finished fetch keeps
  running. `call_in_reactor(fn)` is the same for a synchronous caller.
- `DnsHostnameResolver` is an `IHostnameResolver` (getaddrinfo's job): numeric hosts as
  getaddrinfo(AI_NUMERICHOST) reads them, names by asking AAAA and A separately through
  `twisted.names` of the one DNS server it is given; `NameResolverReactor`
  hands it to code that takes a reactor, passing everything else through to the real reactor.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
from collections.abc import Callable
from typing import Any

from twisted.internet import defer
from twisted.internet.address import IPv4Address, IPv6Address
from twisted.internet.interfaces import IHostnameResolver, IHostResolution
from twisted.names import dns
from twisted.python.failure import Failure
from zope.interface import directlyProvides, implementer, providedBy

CANCEL_GRACE = 0.5  # seconds a cancelled Deferred gets to unwind (the suite allows 1 s in all)
MAX_CNAME_HOPS = 8

_lock = threading.Lock()
_thread: threading.Thread | None = None


def ensure_reactor() -> Any:
    """The global reactor, running on its daemon thread (started on the first call)."""
    global _thread
    from twisted.internet import reactor as installed

    reactor: Any = installed  # zope interfaces confuse mypy's view of its methods
    with _lock:
        if _thread is None:
            ready = threading.Event()
            reactor.callWhenRunning(ready.set)
            thread = threading.Thread(
                target=reactor.run,
                kwargs={"installSignalHandlers": False},
                name="twisted-reactor",
                daemon=True,
            )
            thread.start()
            if not ready.wait(10):
                raise RuntimeError("the Twisted reactor did not start within 10 s")
            _thread = thread
    return reactor


class TwistedError(Exception):
    """A Deferred failed; the message unwraps Twisted's nested failures."""


def describe(error: BaseException | Failure) -> str:
    """`ResponseNeverReceived: SSL error: certificate verify failed` rather than a repr of
    a list of Failures: follows `.reasons` (twisted.web's wrapper exceptions) and OpenSSL's
    nested error tuples."""
    exc = error.value if isinstance(error, Failure) else error
    name = type(exc).__name__
    reasons = getattr(exc, "reasons", None)
    if reasons:
        return f"{name}: " + "; ".join(describe(r) for r in reasons)
    args = getattr(exc, "args", ())
    if name == "Error" and args and isinstance(args[0], list):  # OpenSSL.SSL.Error
        parts = [str(t[-1]) if isinstance(t, tuple) else str(t) for t in args[0]]
        return "SSL error: " + ", ".join(parts)
    text = str(exc).strip() or repr(exc)
    return f"{name}: {text}"


async def in_reactor(fn: Callable[..., Any], *args: Any, timeout: float | None = None) -> Any:
    """Run `fn(*args)` on the reactor thread; return its (Deferred's) result here."""
    reactor = ensure_reactor()
    loop = asyncio.get_running_loop()
    result: asyncio.Future[Any] = loop.create_future()
    state: dict[str, Any] = {"deferred": None, "cancelled": False, "done": False}

    def settle(outcome: Any) -> None:  # on the caller's loop
        if result.done():
            return
        if isinstance(outcome, Failure):
            result.set_exception(TwistedError(describe(outcome)))
        else:
            result.set_result(outcome)

    def deliver(outcome: Any) -> None:  # on the reactor thread; the Failure is consumed here
        state["done"] = True
        with contextlib.suppress(RuntimeError):  # the caller's loop is already closed
            loop.call_soon_threadsafe(settle, outcome)

    def start() -> None:
        if state["cancelled"]:
            deliver(Failure(defer.CancelledError()))
            return
        d = defer.maybeDeferred(fn, *args)
        state["deferred"] = d
        d.addBoth(deliver)

    def cancel() -> None:
        state["cancelled"] = True
        if state["deferred"] is not None:
            _cancel_until_done(reactor, state)

    reactor.callFromThread(start)
    try:
        return await asyncio.wait_for(asyncio.shield(result), timeout)
    except (asyncio.TimeoutError, asyncio.CancelledError):
        # Raise only once the work has stopped (or CANCEL_GRACE has passed), so that nothing
        # of this call overlaps with the caller's next one.
        reactor.callFromThread(cancel)
        with contextlib.suppress(Exception, asyncio.CancelledError):
            await asyncio.wait_for(asyncio.shield(result), CANCEL_GRACE)
        result.cancel()  # an outcome arriving later is no longer wanted
        raise


def _cancel_until_done(reactor: Any, state: dict[str, Any], until: float | None = None) -> None:
    """Cancel the Deferred, and again at every reactor turn until it fires (CANCEL_GRACE at
    most).

    One cancel is not always enough: code that catches the failure of a cancelled inner
    request and carries on with its next step (Synapse's well-known fetch reads
    `ResponseNeverReceived([CancelledError])` as "no well-known" and goes on to SRV and
    8448) is waiting on something new, which only a new cancel reaches. Without this, the
    abandoned request could still reach a server after its fetch has raised.
    """
    now = reactor.seconds()
    until = now + CANCEL_GRACE if until is None else until
    if state["done"] or now > until:
        return
    state["deferred"].cancel()
    reactor.callLater(0, _cancel_until_done, reactor, state, until)


def call_in_reactor(fn: Callable[..., Any], *args: Any, timeout: float) -> Any:
    """Blocking variant of `in_reactor` for synchronous callers (not the reactor thread)."""
    reactor = ensure_reactor()
    finished = threading.Event()
    box: list[Any] = []

    def start() -> None:
        def keep(outcome: Any) -> None:
            box.append(outcome)
            finished.set()

        defer.maybeDeferred(fn, *args).addBoth(keep)

    reactor.callFromThread(start)
    if not finished.wait(timeout):
        raise TimeoutError(f"the reactor did not finish {fn.__name__} within {timeout:g} s")
    if isinstance(box[0], Failure):
        raise TwistedError(describe(box[0]))
    return box[0]


@implementer(IHostResolution)
class _Resolution:
    def __init__(self, name: str) -> None:
        self.name = name

    def cancel(self) -> None:
        raise NotImplementedError  # as twisted.internet._resolver.HostResolution


@implementer(IHostnameResolver)
class DnsHostnameResolver:
    """A name's addresses as getaddrinfo would give them, from one DNS server.

    Numeric hosts are parsed exactly as getaddrinfo parses them (it is called with
    AI_NUMERICHOST, which never touches the network), so `127.1` is 127.0.0.1 and a literal
    resolves to itself without a query. Any other name is looked up: AAAA and A separately
    and at once (an `ANY` query, as `getHostByName` sends, is not what a stub resolver does),
    following CNAME chains in the answers (re-asked past the chain's end, up to 8 hops), IPv6
    addresses first (the usual order for a host with global IPv6). A failed query (SERVFAIL,
    timeout, NXDOMAIN) counts as no addresses of that family; when both give nothing, the
    resolution completes empty and the caller reports "no results for hostname lookup", as
    with getaddrinfo.
    """

    def __init__(self, dns_client: Any) -> None:
        self._dns = dns_client  # a twisted.names IResolver

    def resolveHostName(
        self,
        resolutionReceiver: Any,  # an IResolutionReceiver (zope interfaces confuse mypy)
        hostName: str,
        portNumber: int = 0,
        addressTypes: Any = None,
        transportSemantics: str = "TCP",
    ) -> Any:
        resolutionReceiver.resolutionBegan(_Resolution(hostName))
        families = [
            f for f, kind in _FAMILIES.items() if addressTypes is None or kind in addressTypes
        ]
        numeric = _numeric(hostName, portNumber)
        if numeric is not None:
            d = defer.succeed([(f, addr) for f, addr in numeric if f in families])
        else:
            d = self._lookup(hostName, portNumber, families)

        def done(found: list[tuple[int, tuple[Any, ...]]]) -> None:
            for family, sockaddr in found:
                resolutionReceiver.addressResolved(_FAMILIES[family]("TCP", *sockaddr))
            resolutionReceiver.resolutionComplete()

        d.addCallbacks(done, lambda _: resolutionReceiver.resolutionComplete())
        return resolutionReceiver

    def _lookup(self, name: str, port: int, families: list[int]) -> defer.Deferred:
        lookups = []
        if socket.AF_INET6 in families:
            lookups.append(self._family(name, dns.AAAA, self._dns.lookupIPV6Address))
        if socket.AF_INET in families:
            lookups.append(self._family(name, dns.A, self._dns.lookupAddress))
        d = defer.gatherResults(lookups, consumeErrors=True)
        d.addCallback(
            lambda lists: [
                (f, (ip, port, 0, 0) if f == socket.AF_INET6 else (ip, port))
                for found in lists
                for f, ip in found
            ]
        )
        return d

    @defer.inlineCallbacks
    def _family(self, name: str, rtype: int, lookup: Callable[..., Any]) -> Any:
        owner = _text(name)
        for _ in range(MAX_CNAME_HOPS):
            try:
                answers, _authority, _additional = yield lookup(owner)
            except Exception:
                return []  # failed or absent: no addresses of this family
            chain = _cname_chain(answers, owner)
            found = [
                _ip(rr.payload)
                for rr in answers
                if rr.type == rtype and _text(rr.name.name) in chain
            ]
            if found or chain[-1] == owner:
                return found
            owner = chain[-1]  # the chain ends outside the answer: ask for its end
        return []


def _text(name: bytes | str) -> str:
    if isinstance(name, bytes):
        name = name.decode("ascii", "replace")
    return name.rstrip(".").lower()


def _cname_chain(answers: list[Any], start: str) -> list[str]:
    """`start` and the names its CNAME records in `answers` lead to, in order."""
    targets = {
        _text(rr.name.name): _text(rr.payload.name.name) for rr in answers if rr.type == dns.CNAME
    }
    chain = [start]
    while chain[-1] in targets and targets[chain[-1]] not in chain:
        chain.append(targets[chain[-1]])
    return chain


_FAMILIES: dict[int, type[IPv4Address] | type[IPv6Address]] = {
    socket.AF_INET6: IPv6Address,
    socket.AF_INET: IPv4Address,
}


def _numeric(host: str, port: int) -> list[tuple[int, tuple[Any, ...]]] | None:
    """getaddrinfo's reading of a numeric host (no network), or None for a name."""
    try:
        infos = socket.getaddrinfo(
            host, port, socket.AF_UNSPEC, socket.SOCK_STREAM, 0, socket.AI_NUMERICHOST
        )
    except (OSError, UnicodeError, ValueError):
        return None
    # A zone stays in the scope-id field only: a host text with "%zone" is no IP address to
    # the code that checks it (netaddr), as getaddrinfo's callers expect.
    return [
        (family, (str(sockaddr[0]).split("%")[0], *sockaddr[1:]))
        for family, _t, _p, _c, sockaddr in infos
        if family in _FAMILIES
    ]


def _ip(payload: Any) -> tuple[int, str]:
    if isinstance(payload, dns.Record_AAAA):
        return socket.AF_INET6, socket.inet_ntop(socket.AF_INET6, payload.address)
    return socket.AF_INET, payload.dottedQuad()


class NameResolverReactor:
    """The real reactor in every respect but `nameResolver`: a pass-through proxy that provides
    the same interfaces, so code that takes a reactor resolves names with `name_resolver`
    while nothing global changes."""

    def __init__(self, reactor: Any, name_resolver: Any) -> None:
        self._reactor = reactor
        self.nameResolver = name_resolver
        directlyProvides(self, providedBy(reactor))

    def __getattr__(self, attr: str) -> Any:
        return getattr(self._reactor, attr)
