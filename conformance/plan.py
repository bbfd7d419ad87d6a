"""Lift a plan-only implementation into a real request: connect exactly as the plan says.

Some implementations only *decide* (address, port, `Host`, TLS name) and leave the request to
their caller. The suite judges what reaches the wire, so it makes that request for them, taking
every decision verbatim and adding none of its own (no DNS, no defaults, no retries beyond the
plan's own address list):

    from matrix_resolver_conformance.plan import request_by_plan

    async def fetch(server_name):
        plan = my_library.resolve(server_name)          # your decision
        return await request_by_plan(env, {             # the suite's connection
            "address": plan.ip, "port": plan.port,
            "host": plan.host_header, "tls_name": plan.tls_name,
        })

A plan is a dict:

- `address`: an IP address (no brackets), or a non-empty list of them, tried in order until one
  connects (TCP and TLS);
- `port`: the TCP port, 1-65535;
- `host`: the `Host` header, verbatim (printable ASCII, no control characters);
- `tls_name`: the name for SNI and the certificate check; an IP address means no SNI and a check
  of the certificate's IP addresses.
"""

from __future__ import annotations

import ipaddress
from typing import TYPE_CHECKING, Any

from matrix_resolver_conformance.wire.https_client import connect_first

if TYPE_CHECKING:
    from matrix_resolver_conformance.env import Env

__all__ = ["PLAN_KEYS", "PlanError", "request_by_plan", "validate_plan"]

PLAN_KEYS = ("address", "port", "host", "tls_name")


class PlanError(ValueError):
    """The plan is missing a key or has a malformed value; the message says which."""


def _address(value: Any, where: str) -> str:
    if not isinstance(value, str) or not value:
        raise PlanError(f"plan {where} must be an IP address string, got {value!r}")
    try:
        return str(ipaddress.ip_address(value))
    except ValueError:
        raise PlanError(
            f"plan {where} must be an IP address (IPv6 without brackets; the suite does no DNS "
            f"for a plan), got {value!r}"
        ) from None


def _text(plan: dict[str, Any], key: str, *, spaces: bool) -> str:
    """A non-empty ASCII string without control characters (CR/LF could forge headers).

    The `Host` may contain spaces: it is sent verbatim, as the implementation decided, and the
    server trims or refuses it as HTTP says. A TLS name never may."""
    value = plan[key]
    if not isinstance(value, str) or not value:
        raise PlanError(f"plan {key!r} must be a non-empty string, got {value!r}")
    lowest = " " if spaces else "!"
    if not value.isascii() or any(ch < lowest or ch == "\x7f" for ch in value):
        what = "printable ASCII" if spaces else "printable ASCII without spaces"
        raise PlanError(f"plan {key!r} must be {what}, got {value!r}")
    return value


def validate_plan(plan: Any) -> tuple[list[str], int, str, str]:
    """(addresses, port, host, tls_name) from a plan dict, or `PlanError`."""
    if not isinstance(plan, dict):
        raise PlanError(f"a plan must be an object with keys {', '.join(PLAN_KEYS)}, got {plan!r}")
    missing = [k for k in PLAN_KEYS if k not in plan]
    if missing:
        raise PlanError(f"plan is missing {', '.join(missing)} (has: {', '.join(plan) or 'none'})")
    unknown = sorted(set(plan) - set(PLAN_KEYS))
    if unknown:
        raise PlanError(
            f"plan has unknown key(s) {', '.join(unknown)}; the keys are {', '.join(PLAN_KEYS)}"
        )
    raw = plan["address"]
    if isinstance(raw, list):
        if not raw:
            raise PlanError("plan 'address' is an empty list")
        addresses = [_address(a, f"'address'[{i}]") for i, a in enumerate(raw)]
    else:
        addresses = [_address(raw, "'address'")]
    port = plan["port"]
    if isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535:
        raise PlanError(f"plan 'port' must be an integer 1-65535, got {port!r}")
    tls_name = _text(plan, "tls_name", spaces=False)
    if tls_name.startswith("["):
        raise PlanError(
            f"plan 'tls_name' must be a name or an IP address without brackets, got {tls_name!r}"
        )
    return addresses, port, _text(plan, "host", spaces=True), tls_name


async def request_by_plan(env: Env, plan: dict[str, Any]) -> int:
    """`GET env.path` exactly as `plan` says; the HTTP status of the response.

    Raises `PlanError` for a bad plan (before any traffic), `ConnectError` when no address
    connects (TCP or TLS), `FetchError` when the response is missing or broken.
    """
    addresses, port, host, tls_name = validate_plan(plan)
    response = await connect_first(
        addresses,
        port,
        tls_name=tls_name,
        host_header=host,
        path=env.path,
        ssl_context=env.ssl_context(),
        timeout=env.timeout,
    )
    return response.status
