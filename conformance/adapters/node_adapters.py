"""The npm implementations, plugged in over the subprocess protocol.

    npm install --prefix <this folder>/node     # once; the versions are pinned in package.json
    pytest --pyargs conformance --resolver=rocketchat
    pytest --pyargs conformance --resolver=appservice-bridge

Each factory runs `node node/<script>.mjs` once per scenario (a fresh process: the libraries'
module-level caches cannot leak between scenarios). The packages are not installed on demand: the
suite runs inside a private network namespace where the npm registry is unreachable, so a missing
install fails with a one-line message saying what to run.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from matrix_resolver_conformance.adapters.exec_protocol import exec_factory
from matrix_resolver_conformance.run.resolvers import declare
from matrix_resolver_harness.addresses import endpoint

if TYPE_CHECKING:
    from matrix_resolver_conformance.env import Env

__all__ = [
    "NODE_DIR",
    "NodeAdapterUnavailable",
    "appservice_bridge",
    "check_installed",
    "rocketchat",
]

NODE_DIR = Path(__file__).resolve().with_name("node")
ROCKETCHAT = "@rocket.chat/federation-sdk"
APPSERVICE_BRIDGE = "matrix-appservice-bridge"

_ready: dict[str, str] = {}  # package -> node executable, once checked


class NodeAdapterUnavailable(RuntimeError):
    """node, or the pinned npm package, is missing; the message says what to run."""


def _pinned(package: str) -> str:
    manifest = json.loads((NODE_DIR / "package.json").read_text())
    return manifest["dependencies"][package]


def check_installed(package: str) -> str:
    """The path of `node`, once `package` is installed at its pinned version; else raise."""
    if package in _ready:
        return _ready[package]
    node = shutil.which("node")
    if node is None:
        raise NodeAdapterUnavailable(f"{package}: `node` (Node.js >= 20) is not on PATH")
    advice = f"run `npm install --prefix {NODE_DIR}`"
    installed = NODE_DIR / "node_modules" / package / "package.json"
    try:
        version = json.loads(installed.read_text())["version"]
    except (OSError, ValueError, KeyError):
        raise NodeAdapterUnavailable(
            f"{package} is not installed for the npm adapters: {advice}"
        ) from None
    pinned = _pinned(package)
    if version != pinned:
        raise NodeAdapterUnavailable(
            f"{package} {version} is installed, the adapter pins {pinned}: {advice}"
        )
    _ready[package] = node
    return node


def _node_factory(
    package: str, script: str, extra_env: Callable[[Env], Mapping[str, str]]
) -> Callable[[Env], Any]:
    node = check_installed(package)
    return exec_factory([node, str(NODE_DIR / script)], extra_env=extra_env)


def rocketchat(env: Env) -> Any:
    """`@rocket.chat/federation-sdk`: discovery and request by `makeSignedRequest` (status)."""
    factory = _node_factory(
        ROCKETCHAT,
        "rocketchat.mjs",
        lambda e: {
            "HOMESERVER_CONFIG_DNS_SERVERS": endpoint(
                *e.dns_server
            ),  # its SRV/CNAME resolver, read at load
            "NODE_EXTRA_CA_CERTS": e.ca_file,  # read by node at start-up
        },
    )
    return factory(env)


def appservice_bridge(env: Env) -> Any:
    """`matrix-appservice-bridge`'s MatrixHostResolver: a plan the suite carries out."""
    factory = _node_factory(
        APPSERVICE_BRIDGE,
        "appservice_bridge.mjs",
        lambda e: {
            "NODE_EXTRA_CA_CERTS": e.ca_file,  # for the well-known fetch (node's global fetch)
        },
    )
    return factory(env)


# What the report names as tested; a missing install is one usage error before the run, not a
# failure per scenario; neither follows `env.spec`, so every rule set can share a run.
declare(
    rocketchat,
    version=lambda: f"{ROCKETCHAT} {_pinned(ROCKETCHAT)}",
    check_available=lambda: check_installed(ROCKETCHAT),
    spec_profile=lambda spec: None,
)
declare(
    appservice_bridge,
    version=lambda: f"{APPSERVICE_BRIDGE} {_pinned(APPSERVICE_BRIDGE)}",
    check_available=lambda: check_installed(APPSERVICE_BRIDGE),
    spec_profile=lambda spec: None,
)
