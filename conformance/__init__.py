"""matrix-resolver-conformance: a conformance suite for Matrix federation server-name resolution.

Layout: `harness` is the fake world, `fixtures/` the scenario catalog as data, and this package
the judge (pytest plugin, contract, verdicts, reports, the reference resolver)."""

__version__ = "0.1.0"
