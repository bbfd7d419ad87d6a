"""`matrix-resolver-conformance`: read the catalog without running it.

    matrix-resolver-conformance list [--format text|json]
    matrix-resolver-conformance coverage [--output PATH] [--check]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from conformance.scenarios import CatalogError, load_catalog
from conformance.traceability import load_sentences, render_markdown


def _list(args: argparse.Namespace) -> int:
    catalog = load_catalog()
    if args.format == "json":
        rows = [{"id": s.id, "step": s.step, "level": s.level, "sentence": s.sentence}
                for s in catalog]
        print(json.dumps(rows, indent=2))
        return 0
    for s in catalog:
        print(f"{s.id}\n    step {s.step} [{s.level}] \"{s.sentence}\"")
    print(f"{len(catalog)} scenarios")
    return 0


def _coverage(args: argparse.Namespace) -> int:
    text = render_markdown(load_sentences(), load_catalog())
    if args.check:
        out = Path(args.output)
        current = out.read_text(encoding="utf-8") if out.exists() else ""
        if current != text:
            print(f"{args.output} is out of date: run matrix-resolver-conformance coverage "
                  f"--output {args.output}", file=sys.stderr)
            return 1
        return 0
    if args.output == "-":
        sys.stdout.write(text)
    else:
        Path(args.output).write_text(text, encoding="utf-8")
        print(f"wrote {args.output}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="matrix-resolver-conformance", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    p_list = sub.add_parser("list", help="every scenario with its step, level and spec sentence")
    p_list.add_argument("--format", choices=("text", "json"), default="text")
    p_list.set_defaults(run=_list)
    p_cov = sub.add_parser("coverage", help="spec sentence -> scenarios (docs/coverage.md)")
    p_cov.add_argument("--output", default="docs/coverage.md", help="file, or - for stdout")
    p_cov.add_argument("--check", action="store_true", help="fail if --output is out of date")
    p_cov.set_defaults(run=_coverage)
    args = parser.parse_args(argv)
    try:
        return args.run(args)
    except CatalogError as e:
        print(f"matrix-resolver-conformance: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
