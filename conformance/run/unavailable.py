"""What to say when the world cannot be built here: the cause, and the ways out that work.

One line, because it is the whole message a CI log shows before the run stops; each way out is
one that really works for that cause (a sysctl for a sysctl, root for a missing capability, the
machine's loopback with exactly the ports the catalog binds).
"""

from __future__ import annotations

import os

from matrix_resolver_conformance.catalog import load_catalog
from matrix_resolver_conformance.run.stage import stage

FIXES = {
    "max_userns": "sudo sysctl -w user.max_user_namespaces=15000",
    "userns_clone": "sudo sysctl -w kernel.unprivileged_userns_clone=1",
    "apparmor": "sudo sysctl -w kernel.apparmor_restrict_unprivileged_userns=0 "
    "(the default on Ubuntu 24.04 runners)",
    "cap": "give the container CAP_SYS_ADMIN (docker run --cap-add=SYS_ADMIN, or --privileged)",
}


def privileged_ports() -> list[int]:
    """The ports below 1024 that the catalog's worlds bind."""
    ports: set[int] = set()
    for scenario in load_catalog():
        ports |= {site.port for site in stage(scenario).world.sites if site.port < 1024}
    return sorted(ports)


def ways_out(reason: str, cause: str, mode: str = "auto") -> str:
    """The one-line message for a world that cannot be built: `reason` in words, `cause` the
    key of what refused the private namespace (netns_holder.refusal_cause; "off" when none was
    tried), `mode` the --conformance-netns asked for. The machine's loopback is offered last:
    its IPv6 scenarios cannot run, so it needs --conformance-allow-unavailable as well."""
    ways = []
    if cause in FIXES:
        ways.append(FIXES[cause])
    if cause == "off":
        ways.append("drop --conformance-netns=off (a private namespace needs no bindable ports)")
    if os.geteuid() != 0:
        ways.append('run as root: sudo -E env PATH="$PATH" pytest ...')
    ports = privileged_ports()
    flags = "--conformance-allow-unavailable"
    if mode == "require":
        flags = "--conformance-netns=off " + flags
    ways.append(
        f"or run on the machine's loopback without the IPv6 scenarios: sudo sysctl -w "
        f"net.ipv4.ip_unprivileged_port_start={ports[0]} (the catalog binds ports "
        f"{', '.join(map(str, ports))}), then pass {flags}"
    )
    return (
        f"matrix-resolver-conformance: cannot build the fake world: {reason}. Ways out: "
        + "; ".join(ways)
        + "."
    )
