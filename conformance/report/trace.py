"""A scenario's observation log as structured data, for reports that are re-rendered later.

Format version TRACE_VERSION (docs/report-format.md): `{"sites": {label: {"role", "endpoints",
"well_known"}}, "events": [...]}` (`well_known`: the well-known may be asked there; from version
2), events in the order the world saw them, each with `t` (milliseconds since the
world started) and `kind`:

- `dns`: transport, name, type, outcome; for bytes that were no query: readable false, size, raw
  (hex of their start);
- `connection`: id, site, role, address, port, tls, client_hello, sni, established, error,
  received (bytes of HTTP), first_bytes (hex, when they made no request);
- `request`: connection (its id), site, role, method, path, host, status, well_known.
"""

from __future__ import annotations

from typing import Any

from matrix_resolver_harness.observations import Connection, DnsQuery, HttpRequest, ObservationLog

TRACE_VERSION = 2


def trace(
    log: ObservationLog,
    roles: dict[str, str],
    endpoints: dict[str, str],
    well_known_at: tuple[str, ...] = (),
) -> dict[str, Any]:
    sites = {
        label: {"role": role, "endpoints": endpoints.get(label, ""),
                "well_known": label in well_known_at}
        for label, role in sorted(roles.items())
    }  # fmt: skip
    events = []
    for t, event in log.events:
        ms = round(t * 1000, 2)
        if isinstance(event, DnsQuery):
            events.append(_dns(ms, event))
        elif isinstance(event, Connection):
            events.append(_connection(ms, event, roles))
        elif isinstance(event, HttpRequest):
            events.append(_request(ms, event, roles))
    return {"sites": sites, "events": events}


def _dns(ms: float, q: DnsQuery) -> dict[str, Any]:
    out: dict[str, Any] = {"t": ms, "kind": "dns", "transport": q.transport, "name": q.name,
                           "type": q.rtype, "outcome": q.outcome}  # fmt: skip
    if not q.readable:
        out.update(readable=False, size=q.size, raw=q.raw)
    return out


def _role(site: str, roles: dict[str, str]) -> str:
    return "dns" if site == "dns" else roles.get(site, "unknown")


def _connection(ms: float, c: Connection, roles: dict[str, str]) -> dict[str, Any]:
    out: dict[str, Any] = {
        "t": ms, "kind": "connection", "id": c.id, "site": c.site, "role": _role(c.site, roles),
        "address": c.address, "port": c.port, "tls": c.tls, "client_hello": c.client_hello,
        "sni": c.sni, "established": c.established, "error": c.error, "received": c.received,
    }  # fmt: skip
    if c.first_bytes and not c.requests:
        out["first_bytes"] = c.first_bytes.hex()
    return out


def _request(ms: float, r: HttpRequest, roles: dict[str, str]) -> dict[str, Any]:
    return {
        "t": ms, "kind": "request", "connection": r.connection.id, "site": r.site,
        "role": _role(r.site, roles), "method": r.method, "path": r.path, "host": r.host,
        "status": r.status, "well_known": r.well_known,
    }  # fmt: skip
