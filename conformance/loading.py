"""Turn `--resolver=MODULE:ATTR` or `--resolver=NAME` into a factory, with one-line errors."""

from __future__ import annotations

import importlib
import inspect
import os
import sys
from collections.abc import Callable
from importlib.metadata import entry_points
from typing import Any

GROUP = "matrix_resolver_conformance.resolvers"


class ResolverLoadError(ValueError):
    """--resolver names nothing usable; the message says what and how to fix it."""


def installed_names() -> list[str]:
    return sorted({ep.name for ep in entry_points(group=GROUP)})


def load_factory(spec: str) -> Callable[..., Any]:
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
