"""Commands that read the catalog and reports without judging anything: the CLI and its pages."""
