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

__all__ = ["DnsClient", "DnsLookupError", "SrvRecord", "order_srv"]


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

    Within a priority, zero-weight records go first in the pool; a random number
    in [0, total weight] picks the first record whose running sum reaches it, so
    zero-weight records are picked only when nothing else is left or by a draw of 0.
    """
    ordered: list[SrvRecord] = []
    for priority in sorted({r.priority for r in records}):
        group = [r for r in records if r.priority == priority]
        pool = [r for r in group if r.weight == 0] + [r for r in group if r.weight != 0]
        while pool:
            pick = rng.randint(0, sum(r.weight for r in pool))
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

        Both queries run together; one family failing is tolerated when the other
        gave addresses. No address at all raises `DnsLookupError` with the reasons.
        """
        results = await asyncio.gather(
            self._query(name, "AAAA"), self._query(name, "A"), return_exceptions=True
        )
        found: list[str] = []
        reasons: list[str] = []
        for rdtype, result in zip(("AAAA", "A"), results, strict=True):
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
