"""Turn `--resolver=MODULE:ATTR`, `--resolver=NAME` or `--resolver=exec:COMMAND` into a factory,
with one-line errors, and read what a factory says about itself (version, shared runs)."""

from __future__ import annotations

import importlib
import inspect
import os
import shlex
import shutil
import sys
from collections.abc import Callable
from importlib.metadata import entry_points
from typing import Any

GROUP = "matrix_resolver_conformance.resolvers"
EXEC_PREFIX = "exec:"


class ResolverLoadError(ValueError):
    """--resolver names nothing usable; the message says what and how to fix it."""


def installed_names() -> list[str]:
    return sorted({ep.name for ep in entry_points(group=GROUP)})


def load(spec: str) -> Callable[..., Any]:
    """The factory `spec` names, ready to use: its module imported, its signature and (for
    adapters that declare `check_available`) its dependencies checked."""
    factory = _load(spec)
    check = getattr(factory, "check_available", None)
    if callable(check):
        try:
            check()
        except Exception as e:
            raise ResolverLoadError(f"--resolver={spec}: {e}") from None
    return factory


def declare(factory: Callable[..., Any], **attributes: Any) -> Callable[..., Any]:
    """Give a factory the attributes the suite reads (README, "The plug-in contract"):
    `version`, `spec_profile`, `check_available`. Returns the factory."""
    for name, value in attributes.items():
        if name not in ("version", "spec_profile", "check_available"):
            raise TypeError(f"a factory attribute the suite does not read: {name}")
        setattr(factory, name, value)
    return factory


def describe(factory: Callable[..., Any], rulesets: list[str]) -> dict[str, Any]:
    """`version` (what was tested) and `profiles` (ruleset -> what the factory's behaviour
    depends on, as text, or None: see README on shared runs), from the factory's attributes."""
    version = getattr(factory, "version", None)
    try:
        version = str(version()) if callable(version) else version
    except Exception as e:  # a report must not fail over a version string
        version = f"unknown ({e})"
    profile_of = getattr(factory, "spec_profile", None)
    profiles: dict[str, str | None] = {}
    for ruleset in rulesets:
        try:
            profiles[ruleset] = repr(profile_of(ruleset)) if callable(profile_of) else None
        except Exception:  # a broken profile function only costs the reuse
            profiles[ruleset] = None
    return {"version": version, "profiles": profiles}


def _load(spec: str) -> Callable[..., Any]:
    if spec.startswith(EXEC_PREFIX):
        return _from_command(spec)
    if ":" in spec:
        factory = _from_module(spec)
    else:
        matches = [ep for ep in entry_points(group=GROUP) if ep.name == spec]
        if not matches:
            raise ResolverLoadError(
                f"--resolver={spec}: no resolver of that name is installed "
                f"(entry point group {GROUP!r} has: {', '.join(installed_names()) or 'none'}); "
                "or give MODULE:ATTR"
            )
        try:
            factory = matches[0].load()
        except Exception as e:
            raise ResolverLoadError(f"--resolver={spec}: loading it failed: {e}") from None
    _check_signature(spec, factory)
    return factory


def _from_command(spec: str) -> Callable[..., Any]:
    """`exec:COMMAND ARGS...`: a program speaking the subprocess protocol
    (docs/subprocess-protocol.md), started once per scenario."""
    try:
        argv = shlex.split(spec[len(EXEC_PREFIX) :])
    except ValueError as e:
        raise ResolverLoadError(f"--resolver={spec}: cannot split the command: {e}") from None
    if not argv:
        raise ResolverLoadError(
            f"--resolver={spec}: no command given, e.g. exec:node my-resolver.mjs"
        )
    program = argv[0]
    if os.sep in program:
        found = os.path.isfile(program) and os.access(program, os.X_OK)
    else:
        found = shutil.which(program) is not None
    if not found:
        raise ResolverLoadError(
            f"--resolver={spec}: command {program!r} not found or not executable"
            + ("" if os.sep in program else " on PATH")
        )
    from matrix_resolver_conformance.adapters.exec_protocol import exec_factory

    return exec_factory(argv)


def _from_module(spec: str) -> Callable[..., Any]:
    module_name, _, attr = spec.partition(":")
    if not module_name or not attr:
        raise ResolverLoadError(
            f"--resolver={spec}: expected MODULE:ATTR, e.g. mypkg.testing:resolver"
        )
    try:
        obj: Any = _import(module_name)
    except Exception as e:
        raise ResolverLoadError(f"--resolver={spec}: cannot import {module_name!r}: {e}") from None
    for part in attr.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise ResolverLoadError(
                f"--resolver={spec}: module {module_name!r} has no attribute {attr!r}"
            ) from None
    return obj


def _import(module_name: str) -> Any:
    """Import MODULE from the environment, else from the current directory (as `python -m`
    would), since the `pytest` script does not put the current directory on sys.path."""
    try:
        return importlib.import_module(module_name)
    except ModuleNotFoundError as e:
        top = module_name.split(".")[0]
        if e.name != top or os.getcwd() in sys.path:
            raise
        sys.path.insert(0, os.getcwd())
        return importlib.import_module(module_name)


def _check_signature(spec: str, factory: Any) -> None:
    if not callable(factory):
        raise ResolverLoadError(
            f"--resolver={spec}: {factory!r} is not callable; it must be a factory taking env"
        )
    try:
        sig = inspect.signature(factory)
    except (TypeError, ValueError):
        return  # builtins and C callables: trust them
    try:
        sig.bind(object())
    except TypeError:
        raise ResolverLoadError(
            f"--resolver={spec}: the factory must accept exactly one argument (env); "
            f"its signature is {sig}"
        ) from None
