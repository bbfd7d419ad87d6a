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


def ways_out(reason: str, cause: str) -> str:
    ways = []
    if cause in FIXES:
        ways.append(FIXES[cause])
    if os.geteuid() != 0:
        ways.append('run as root: sudo -E env PATH="$PATH" pytest ...')
    ports = privileged_ports()
    if cause != "host":
        ways.append(
            f"or --conformance-netns=off, after sudo sysctl -w "
            f"net.ipv4.ip_unprivileged_port_start={ports[0]} (the catalog binds ports "
            f"{', '.join(map(str, ports))}); IPv6 scenarios cannot run there"
        )
    else:
        ways.append(
            f"ports {', '.join(map(str, ports))} must be bindable "
            f"(sudo sysctl -w net.ipv4.ip_unprivileged_port_start={ports[0]})"
        )
    return (
        f"matrix-resolver-conformance: cannot build the fake world: {reason}. Ways out: "
        + "; ".join(ways)
        + "."
    )
