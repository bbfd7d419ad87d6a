"""Turn `--resolver=MODULE:ATTR`, `--resolver=NAME` or `--resolver=exec:COMMAND` into a factory,
with one-line errors."""

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


def load_factory(spec: str) -> Callable[..., Any]:
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
    from conformance.adapters.exec_protocol import exec_factory

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
        raise ResolverLoadError(f"--resolver={spec}: {factory!r} is not callable; "
                                "it must be a factory taking env")
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
