"""Homeserver profiles: how to start, configure, wait for, trigger and isolate one kind of server.

A profile is a small TOML file (README, "Whole homeservers", has the format and a worked example);
the suite ships `profiles/<name>.toml`. Strings may hold placeholders, filled in per process:

    {bin}          the server's program (the profile's `bin`, or --homeserver-bin=PATH)
    {python}       the Python running the suite
    {data_dir}     a fresh directory for the server's files (removed afterwards)
    {ca_file}      the fake world's CA (PEM): the only trust root to configure
    {dns_host}     the world's DNS server (port 53); /etc/resolv.conf names it too
    {listen_host}  {listen_port}  where the server must listen for the trigger (plain HTTP)
    {server_name}  a name of the server's own
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from matrix_resolver_conformance.catalog.load import read_toml

PROFILES_DIR = Path(__file__).resolve().parent / "profiles"
TRIGGERS = ("key-query", "profile-query", "http")
ISOLATION = ("fresh-names", "fresh-process")
PLACEHOLDERS = ("bin", "python", "data_dir", "ca_file", "dns_host", "listen_host",
                "listen_port", "server_name")  # fmt: skip
_PLACEHOLDER = re.compile(r"\{([a-z_]+)\}")


class ProfileError(ValueError):
    """A profile names nothing usable or is malformed; the message says which and where."""


@dataclass(frozen=True)
class Trigger:
    """How one fetch is asked for: a request to the server that makes it send one federation
    request to the server name (`{target}` in `path`/`body` of an `http` trigger)."""

    kind: str
    federation_path: str  # the request that reaches the world (judged instead of env.path)
    timeout: float  # seconds one trigger may take: the server's own fixed timeouts + margin
    method: str = "GET"
    path: str = ""
    body: str = ""


@dataclass(frozen=True)
class Profile:
    name: str
    source: str  # the file it came from
    command: tuple[str, ...]
    bin: str = "{python}"
    prepare: tuple[tuple[str, ...], ...] = ()  # commands run once per process before it starts
    version: tuple[str, ...] = ()  # a command printing what is tested
    environment: tuple[tuple[str, str], ...] = ()
    files: tuple[tuple[str, str], ...] = ()  # data_dir-relative path -> template
    ready_path: str = "/_matrix/client/versions"
    ready_timeout: float = 60.0
    trigger: Trigger = field(default_factory=lambda: Trigger("key-query", "", 12.0))
    isolation: str = "fresh-names"
    quiet: float = 0.3  # seconds without new traffic before a scenario is judged
    listen_port: int = 8008
    restarts: int = 3  # crashes tolerated (each costs the scenario it happened in)

    def fill(self, text: str, values: dict[str, str]) -> str:
        def one(m: re.Match[str]) -> str:
            key = m.group(1)
            if key not in values:
                raise ProfileError(f"{self.source}: unknown placeholder {{{key}}}")
            return values[key]

        return _PLACEHOLDER.sub(one, text)


def shipped() -> list[str]:
    return sorted(p.stem for p in PROFILES_DIR.glob("*.toml"))


def load_profile(spec: str) -> Profile:
    """`--homeserver=NAME` (a shipped profile) or `--homeserver=PATH` (a TOML file)."""
    path = Path(spec)
    if path.suffix != ".toml":
        path = PROFILES_DIR / f"{spec}.toml"
        if not path.exists():
            raise ProfileError(
                f"--homeserver={spec}: no such profile (shipped: "
                f"{', '.join(shipped())}); or give a .toml file"
            )
    elif not path.exists():
        raise ProfileError(f"--homeserver={spec}: no such file")
    try:
        return _profile(read_toml(path), str(path))
    except (KeyError, TypeError, ValueError) as e:
        raise ProfileError(f"--homeserver={spec}: {e}") from None


def _only(table: dict[str, Any], allowed: set[str], where: str) -> None:
    unknown = set(table) - allowed
    if unknown:
        raise ValueError(f"{where}: unknown key(s) {sorted(unknown)}; allowed: {sorted(allowed)}")


def _argv(value: Any, where: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
        raise ValueError(f"{where} must be a non-empty list of strings")
    return tuple(value)


def _profile(raw: dict[str, Any], source: str) -> Profile:
    _only(raw, {"name", "description", "command", "bin", "prepare", "version", "environment",
                "files", "ready", "trigger", "isolation", "listen_port"}, "profile")  # fmt: skip
    ready = raw.get("ready", {})
    _only(ready, {"path", "timeout"}, "[ready]")
    trigger = raw.get("trigger", {})
    _only(trigger, {"kind", "federation_path", "timeout", "method", "path", "body"}, "[trigger]")
    kind = trigger.get("kind", "key-query")
    if kind not in TRIGGERS:
        raise ValueError(f"[trigger] kind {kind!r} is not one of {', '.join(TRIGGERS)}")
    if kind == "http" and not trigger.get("path"):
        raise ValueError("[trigger] kind 'http' needs a path (with {target})")
    default_path = {
        "key-query": "/_matrix/key/v2/server",
        "profile-query": "/_matrix/federation/v1/query/profile",
    }.get(kind, "")
    isolation = raw.get("isolation", {})
    _only(isolation, {"mode", "quiet", "restarts"}, "[isolation]")
    mode = isolation.get("mode", "fresh-names")
    if mode not in ISOLATION:
        raise ValueError(f"[isolation] mode {mode!r} is not one of {', '.join(ISOLATION)}")
    profile = Profile(
        name=str(raw.get("name", Path(source).stem)),
        source=source,
        command=_argv(raw["command"], "command"),
        bin=str(raw.get("bin", "{python}")),
        prepare=tuple(_argv(c, "prepare[]") for c in raw.get("prepare", [])),
        version=_argv(raw["version"], "version") if "version" in raw else (),
        environment=tuple((str(k), str(v)) for k, v in raw.get("environment", {}).items()),
        files=tuple((str(k), str(v)) for k, v in raw.get("files", {}).items()),
        ready_path=str(ready.get("path", "/_matrix/client/versions")),
        ready_timeout=float(ready.get("timeout", 60)),
        trigger=Trigger(
            kind=kind,
            federation_path=str(trigger.get("federation_path", default_path)),
            timeout=float(trigger.get("timeout", 12)),
            method=str(trigger.get("method", "GET")),
            path=str(trigger.get("path", "")),
            body=str(trigger.get("body", "")),
        ),
        isolation=mode,
        quiet=float(isolation.get("quiet", 0.3)),
        restarts=int(isolation.get("restarts", 3)),
        listen_port=int(raw.get("listen_port", 8008)),
    )
    if not profile.trigger.federation_path.startswith("/"):
        raise ValueError("[trigger] federation_path must be the path the server requests")
    for text in (*profile.command, *(v for _, v in profile.files)):
        for key in _PLACEHOLDER.findall(text):
            if key not in PLACEHOLDERS:
                raise ValueError(
                    f"unknown placeholder {{{key}}} (known: {', '.join(PLACEHOLDERS)})"
                )
    return profile
