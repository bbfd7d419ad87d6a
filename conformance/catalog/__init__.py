"""The catalog: scenarios as data (fixtures/), their model, the rule sets and spec sentences."""

from matrix_resolver_conformance.catalog.load import CatalogError, fixtures_dir, load_catalog
from matrix_resolver_conformance.catalog.model import LEVELS, STEPS, Expectation, Scenario

__all__ = [
    "LEVELS",
    "STEPS",
    "CatalogError",
    "Expectation",
    "Scenario",
    "fixtures_dir",
    "load_catalog",
]
