"""Adapters that plug real implementations into the suite (each an optional extra)."""
