"""The suite's pytest options: registered under one unambiguous prefix, checked before the run.

Every option is `--conformance-...`, so no other plugin's `--spec` or `--level` can collide with
ours. `--resolver` (and `--pyargs conformance`), which users type, are shorthands rewritten to
the long forms before pytest parses the command line, and only while no other plugin owns the
name: a collision can never stop pytest from starting.
"""

from __future__ import annotations

import importlib.util
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

PACKAGE_DIR = Path(__file__).resolve().parent
LEVELS = ("required", "recommended", "robustness")  # as catalog.model.LEVELS (a test checks)
SHORTHANDS = {
    "--resolver": "--conformance-resolver",
    "--homeserver": "--conformance-homeserver",
    "--homeserver-bin": "--conformance-homeserver-bin",
}
PACKAGE = "matrix_resolver_conformance"
CHECKOUT_NAME = "conformance"  # `pytest --pyargs conformance`, as README has always said


def add_options(parser: pytest.Parser) -> None:
    group = parser.getgroup("matrix-resolver-conformance", "Matrix server-name resolution suite")
    add = group.addoption
    add(
        "--conformance-resolver",
        dest="conformance_resolver",
        default="reference",
        metavar="MODULE:ATTR|NAME|exec:COMMAND",
        help="the implementation under test (default: the built-in 'reference'); "
        "--resolver=... is the same, unless another plugin owns that name",
    )
    add(
        "--conformance-homeserver",
        dest="conformance_homeserver",
        default=None,
        metavar="NAME|PROFILE.toml",
        help="a whole homeserver process as the implementation under test: a shipped profile "
        "(synapse) or a profile file (README, 'Whole homeservers'); --homeserver=... is the same",
    )
    add(
        "--conformance-homeserver-bin",
        dest="conformance_homeserver_bin",
        default=None,
        metavar="PATH",
        help="the homeserver's program, instead of the profile's `bin` (--homeserver-bin=...)",
    )
    add(
        "--conformance-level",
        dest="conformance_level",
        default="robustness",
        choices=LEVELS,
        help="failures at this level and above fail the run; below it they are reported as "
        "xfail (default: robustness, i.e. everything counts)",
    )
    add(
        "--conformance-spec",
        dest="conformance_spec",
        default="latest",
        metavar="RULESET",
        help="the text whose rules apply: a release (r0.1.0 ... v1.19), a seed draft "
        "(draft-b971bcee ...), a proposal (fixtures/spec/proposal-*.toml), several separated "
        "by commas (OLD,NEW: a regression check), 'all' (drafts and releases) or 'proposals' "
        "(default: latest)",
    )
    add(
        "--conformance-report",
        dest="conformance_report",
        default=None,
        metavar="PATH",
        help="write a JSON report of every scenario's outcome to PATH",
    )
    add(
        "--conformance-html",
        dest="conformance_html",
        default=None,
        metavar="PATH",
        help="write a self-contained HTML report (grid, matrix, sequence diagrams) to PATH",
    )
    add(
        "--conformance-step-timeout",
        dest="conformance_step_timeout",
        type=float,
        default=1.0,
        metavar="SECONDS",
        help="env.timeout: seconds a resolver may spend on one step (default 1)",
    )
    add(
        "--conformance-netns",
        dest="conformance_netns",
        default="auto",
        choices=("auto", "require", "off"),
        help="run the fake world in a private network namespace (default: auto)",
    )
    add(
        "--conformance-in-process",
        dest="conformance_in_process",
        action="store_true",
        help="run the implementation on a thread of pytest's own process, for debugging: "
        "UNPROTECTED (a crash, hang or monkeypatch of the implementation hits the run)",
    )
    add(
        "--conformance-allow-unavailable",
        dest="conformance_allow_unavailable",
        action="store_true",
        help="do not fail the run when scenarios this machine cannot host (IPv6 test addresses, "
        "privileged ports) are skipped",
    )


def rewrite_shorthands(args: list[str], parser: pytest.Parser) -> None:
    """`--resolver=X` -> `--conformance-resolver=X`, `--pyargs conformance` -> our package, in
    place, unless another plugin (or conftest) has registered that name. Only options and
    positional arguments are rewritten, never an option's value (`-m conformance`)."""
    options = {name: opt for opt in _all_options(parser) for name in opt.names()}
    positional: list[int] = []
    value_next = False
    for i, arg in enumerate(args):
        if value_next:
            value_next = False
        elif arg == "--":
            positional += range(i + 1, len(args))
            break
        elif arg.startswith("--"):
            flag, sep, value = arg.partition("=")
            if flag in SHORTHANDS and flag not in options:
                args[i] = SHORTHANDS[flag] + sep + value
            value_next = not sep and flag in options and _takes_value(options[flag])
        elif arg.startswith("-") and len(arg) > 1:
            value_next = arg[:2] == arg and arg in options and _takes_value(options[arg])
        else:
            positional.append(i)
    if "--pyargs" in args and _checkout_name_is_ours():
        for i in positional:
            head, sep, rest = args[i].partition("::")
            if head == CHECKOUT_NAME or head.startswith(CHECKOUT_NAME + "."):
                args[i] = PACKAGE + head[len(CHECKOUT_NAME) :] + sep + rest


def _takes_value(option: Any) -> bool:
    """Does this option (a pytest Argument) take the next argument as its value?"""
    attrs = option.attrs()
    nargs = attrs.get("nargs")
    if nargs is not None:
        return bool(nargs != 0)
    action = attrs.get("action", "store")  # pytest 8 keeps the name; 9 the argparse Action
    return not isinstance(action, str) or action in ("store", "append", "extend")


def _all_options(parser: pytest.Parser) -> list[Any]:
    groups = [*parser._groups, parser._anonymous]  # no public way to list registered options
    return [opt for group in groups for opt in group.options]


def _checkout_name_is_ours() -> bool:
    """`conformance` names this package unless another installed distribution owns that name."""
    try:
        spec = importlib.util.find_spec(CHECKOUT_NAME)
    except (ImportError, ValueError):
        return False
    if spec is None:
        return True
    origins = [*(spec.submodule_search_locations or []), spec.origin or ""]
    return any(Path(p).resolve() in (PACKAGE_DIR, PACKAGE_DIR / "__init__.py") for p in origins)


@dataclass(frozen=True)
class RunOptions:
    resolver: str
    level: str
    spec: str
    rulesets: tuple[str, ...]
    report: str | None
    html: str | None
    homeserver: str | None
    homeserver_bin: str | None
    step_timeout: float
    netns: str
    allow_unavailable: bool
    in_process: bool

    @property
    def ruleset_label(self) -> str:
        return self.rulesets[0] if len(self.rulesets) == 1 else self.spec


def read_options(config: pytest.Config) -> RunOptions:
    """The options, checked: every mistake is one-line usage error before anything runs."""
    from matrix_resolver_conformance.catalog.rulesets import RuleSetError, selection

    get = config.getoption
    timeout = get("conformance_step_timeout")
    if not timeout > 0:
        raise pytest.UsageError("--conformance-step-timeout must be a positive number of seconds")
    spec = get("conformance_spec")
    try:
        rulesets = tuple(selection(spec))
    except RuleSetError as e:
        raise pytest.UsageError(f"--conformance-spec={spec}: {e}") from None
    report, html = get("conformance_report"), get("conformance_html")
    for option, path in (("report", report), ("html", html)):
        if path:
            _check_writable(option, path)
    homeserver = get("conformance_homeserver")
    if homeserver and get("conformance_resolver") != "reference":
        raise pytest.UsageError("give --resolver or --homeserver, not both")
    return RunOptions(
        resolver=get("conformance_resolver"),
        level=get("conformance_level"),
        spec=spec,
        rulesets=rulesets,
        report=report,
        html=html,
        homeserver=homeserver,
        homeserver_bin=get("conformance_homeserver_bin"),
        step_timeout=timeout,
        netns=get("conformance_netns"),
        allow_unavailable=get("conformance_allow_unavailable"),
        in_process=get("conformance_in_process"),
    )


def _check_writable(option: str, path: str) -> None:
    """A report that cannot be written must stop the run before it starts, not after."""
    target = Path(path)
    folder = target.parent if str(target.parent) else Path(".")
    if target.is_dir():
        raise pytest.UsageError(f"--conformance-{option}={path}: is a directory")
    if not folder.is_dir():
        raise pytest.UsageError(f"--conformance-{option}={path}: no directory {folder}")
    if not os.access(folder, os.W_OK) or (target.exists() and not os.access(target, os.W_OK)):
        raise pytest.UsageError(f"--conformance-{option}={path}: not writable")
