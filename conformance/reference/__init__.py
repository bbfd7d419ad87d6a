"""The reference resolver: the spec's server discovery, as a suite plug-in (`reference`).

`factory(env)` is the entry point the plug-in contract names: the current text's resolver, or
the same resolver following an older text where `env.spec` selects one.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from matrix_resolver_conformance import __version__
from matrix_resolver_conformance.reference.older_texts import for_env, spec_profile
from matrix_resolver_conformance.reference.resolver import DiscoveryError, ReferenceResolver
from matrix_resolver_conformance.run.resolvers import declare

if TYPE_CHECKING:
    from matrix_resolver_conformance.env import Env

__all__ = ["DiscoveryError", "ReferenceResolver", "factory"]


def factory(env: Env) -> ReferenceResolver:
    """One resolver (and one well-known cache) per scenario."""
    return for_env(env)


declare(
    factory, spec_profile=spec_profile, version=lambda: f"matrix-resolver-conformance {__version__}"
)
