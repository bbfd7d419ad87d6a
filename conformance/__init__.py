"""matrix-resolver-conformance: a conformance suite for Matrix federation server-name resolution.

Installed as `matrix_resolver_conformance` (the repository's `conformance/` folder); the fake
world is `matrix_resolver_harness` (`harness/`), the catalog is data (`fixtures/`). README's
"Layout" says which room holds what. Kept free of imports: it is the package's face and its
version source, imported by every pytest start.
"""

__version__ = "0.2.0"
