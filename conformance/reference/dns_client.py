"""DNS look-ups against the scenario's one DNS server, never the system resolver.

The resolver needs three answers the spec leaves implicit
(docs/spec-history.md#gap-srv-lookup-failure, #gap-srv-order): "not found"
(NXDOMAIN or NODATA, which lets discovery fall through), "failed" (SERVFAIL,
timeout, ...: an unknown answer, which must not be taken for an absent record),
and the RFC 2782 order in which SRV targets are tried.
"""

from __future__ import annotations

import asyncio
import random
from dataclasses import dataclass

import dns.asyncresolver
import dns.exception
import dns.name
import dns.rdatatype
import dns.resolver

__all__ = ["RESOLUTION_DELAY", "DnsClient", "DnsLookupError", "SrvRecord", "order_srv"]

# Once one address family has answered with addresses, how long the other may still take.
RESOLUTION_DELAY = 0.25


class DnsLookupError(Exception):
    """A query got no usable answer: "not found" is not an error, this is."""


@dataclass(frozen=True)
class SrvRecord:
    """One SRV answer; `target` is absolute text such as `"host.test."` or `"."`."""

    priority: int
    weight: int
    port: int
    target: str

    @property
    def unavailable(self) -> bool:
        """The RFC 2782 "." target: "service decidedly not available"."""
        return self.target == "."


def order_srv(records: list[SrvRecord], rng: random.Random) -> list[SrvRecord]:
    """RFC 2782 order: priority ascending, weighted random within one priority.

    Within a priority, a number drawn from 1 to the pool's total weight picks the first record
    whose running sum reaches it. RFC 2782 draws from 0, which gives a zero-weight record a
    1 in (total + 1) chance of going first; like Synapse ("to remove an off-by-one error") and
    Go's net package, the draw starts at 1, so zero-weight records are tried only once every
    record with a weight has been (in answer order; a pool of zero weights keeps its order).
    The order is then a function of the weights alone wherever they decide it (a weight of 0
    against 65535 always loses), which keeps the weight scenarios deterministic.
    """
    ordered: list[SrvRecord] = []
    for priority in sorted({r.priority for r in records}):
        pool = [r for r in records if r.priority == priority]
        while pool:
            total = sum(r.weight for r in pool)
            if total == 0:
                ordered.extend(pool)
                break
            pick = rng.randint(1, total)
            running = 0
            for index, record in enumerate(pool):
                running += record.weight
                if running >= pick:
                    ordered.append(pool.pop(index))
                    break
    return ordered


def _failure_text(exc: Exception) -> str:
    """A short reason such as `SERVFAIL` or `timeout` for an exception from dnspython."""
    if isinstance(exc, dns.resolver.NoNameservers):
        errors = exc.kwargs.get("errors") or []
        reasons = sorted({str(err[3]) for err in errors})
        return ", ".join(reasons) if reasons else "no nameserver answered"
    if isinstance(exc, dns.exception.Timeout):
        return "timeout"
    if isinstance(exc, dns.resolver.YXDOMAIN):
        return "YXDOMAIN"
    return f"{type(exc).__name__}: {exc}"


class DnsClient:
    """Asynchronous queries to one (host, port) DNS server with one time limit."""

    def __init__(self, server: tuple[str, int], timeout: float) -> None:
        # configure=False: no /etc/resolv.conf, no search list, no system defaults.
        resolver = dns.asyncresolver.Resolver(configure=False)
        resolver.nameservers = [server[0]]
        resolver.port = server[1]
        resolver.timeout = timeout
        resolver.lifetime = timeout
        resolver.cache = None
        self._resolver = resolver
        self._timeout = timeout

    async def _query(self, name: str, rdtype: str) -> list | None:
        """Records of `rdtype` at `name`; None for NXDOMAIN or NODATA."""
        qname = dns.name.from_text(name)  # always absolute: no search list
        try:
            answer = await self._resolver.resolve(qname, rdtype, search=False)
        except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer):
            return None
        except dns.exception.DNSException as exc:
            raise DnsLookupError(_failure_text(exc)) from exc
        return list(answer)

    async def srv(self, name: str) -> list[SrvRecord]:
        """SRV records at `name` in answer order; [] when not found."""
        rdatas = await self._query(name, "SRV")
        if rdatas is None:
            return []
        return [SrvRecord(r.priority, r.weight, r.port, r.target.to_text()) for r in rdatas]

    async def addresses(self, name: str) -> list[str]:
        """Every AAAA then A address of `name` (CNAMEs followed).

        Both queries run together. Once one family has given addresses, the other gets at most
        `RESOLUTION_DELAY` more (RFC 8305 section 3's "resolution delay", kept long enough that a
        loaded machine still sees both families answer): a family that fails, or is never
        answered, is tolerated when the other gave addresses, without waiting out the whole
        timeout. No address at all raises `DnsLookupError` with the reasons.
        """
        queries = {
            rdtype: asyncio.ensure_future(self._query(name, rdtype)) for rdtype in ("AAAA", "A")
        }
        try:
            done, pending = await asyncio.wait(
                queries.values(), return_when=asyncio.FIRST_COMPLETED
            )
            if pending and any(_gave_addresses(task) for task in done):
                await asyncio.wait(pending, timeout=min(RESOLUTION_DELAY, self._timeout))
            elif pending:
                await asyncio.wait(pending)
        finally:
            for task in queries.values():
                task.cancel()  # no-op for the finished ones
            await asyncio.gather(*queries.values(), return_exceptions=True)
        found: list[str] = []
        reasons: list[str] = []
        for rdtype, task in queries.items():
            if task.cancelled():
                reasons.append(f"{rdtype} not answered within {RESOLUTION_DELAY}s of the other")
                continue
            result = task.exception() or task.result()
            if isinstance(result, DnsLookupError):
                reasons.append(f"{rdtype} {result}")
            elif isinstance(result, BaseException):
                raise result
            elif result is None:
                reasons.append(f"{rdtype} not found")
            else:
                found.extend(r.address for r in result)
        if not found:
            raise DnsLookupError(f"no addresses for {name} ({'; '.join(reasons)})")
        return found


def _gave_addresses(task: asyncio.Future[list | None]) -> bool:
    return not task.cancelled() and task.exception() is None and bool(task.result())
