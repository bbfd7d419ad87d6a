"""Just enough of a GitHub Actions runner to execute a job's `run:` steps for real
(tests/test_ci_kit*.py): the YAML blocks of docs/ci.md, the composite action in action.yml.

`job_script` turns a job's steps into one bash script (one script, so that the whole job runs
under one sandbox, as a job runs on one machine) that does what the runner does for each step:

- `${{ NAME }}` in `run:`, `env:`, `with:` and `working-directory:` becomes the context's value
  (`github.workspace`, `runner.temp`, `inputs.level`, `matrix.spec`, ...); anything else, or an
  expression that is more than a name, is an error here, so a job cannot use what is not
  emulated without this module saying so;
- `if:` is one of `success()` (the default), `always()`, `!cancelled()`, `failure()`, and
  `inputs.NAME == 'x'` / `!= 'x'`, joined by `&&`;
- the step runs as `bash --noprofile --norc -eo pipefail FILE` (GitHub's `shell: bash`) in the
  workspace (or its `working-directory`), with the job's `env:`, then the step's, and fresh
  `GITHUB_ENV`, `GITHUB_PATH`, `GITHUB_OUTPUT` and `GITHUB_STEP_SUMMARY` files, which are applied
  (GITHUB_ENV's `NAME=value` lines, GITHUB_PATH's folders) to the steps after it;
- a failed step fails the job: later steps run only if their `if:` says so.

A `uses:` step whose action is the composite action given as `local_action` is expanded into
that action's steps (its `with:` are the inputs, the action's defaults fill in the rest, and
`github.action_path` is where the action is); any other `uses:` step (a checkout, setup-python,
upload-artifact) is not run: the caller stands in for it and finds it, with its `with:` values
after substitution, in the returned `Step`s.

The script writes, under `state`: `results` (one line per step: `INDEX<TAB>exit code`, or
`INDEX<TAB>skipped`), `step-INDEX.log` (what the step printed), `outputs-INDEX` (its
GITHUB_OUTPUT) and `summary.md` (every step's GITHUB_STEP_SUMMARY).
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

EXPRESSION = re.compile(r"\$\{\{\s*(.*?)\s*\}\}")
NAME = re.compile(r"[A-Za-z_][\w-]*(?:\.[\w-]+)*")
COMPARISON = re.compile(r"inputs\.([\w-]+)\s*(==|!=)\s*'([^']*)'")
STATUS = {
    "success()": '[ "$failed" = 0 ]',
    "always()": "true",
    "!cancelled()": "true",
    "failure()": '[ "$failed" = 1 ]',
}


class Unsupported(ValueError):
    """The job uses something this emulation does not do."""


@dataclass(frozen=True)
class Step:
    index: int
    name: str
    uses: str | None  # None: a `run:` step
    with_: dict[str, str] = field(default_factory=dict)
    run: str | None = None
    outer: str | None = None  # the `uses:` of the local action this step was expanded from


def substitute(text: str, context: Mapping[str, str]) -> str:
    def value(match: re.Match[str]) -> str:
        expr = match[1]
        if not NAME.fullmatch(expr) or expr not in context:
            raise Unsupported(f"expression not emulated: ${{{{ {expr} }}}} in {text!r}")
        return context[expr]

    return EXPRESSION.sub(value, text)


def condition(expr: str | None, context: Mapping[str, str]) -> str:
    """A bash condition for an `if:` (`$failed` is 1 once a step has failed)."""
    if expr is None:
        return STATUS["success()"]
    inner = expr.strip()
    if inner.startswith("${{") and inner.endswith("}}"):
        inner = inner[3:-2].strip()
    tests: list[str] = []
    status = False
    for term in (t.strip() for t in inner.split("&&")):
        if term in STATUS:
            status = True
            tests.append(STATUS[term])
        elif match := COMPARISON.fullmatch(term):
            key = f"inputs.{match[1]}"
            if key not in context:
                raise Unsupported(f"if: {expr!r}: no input {match[1]}")
            equal = context[key] == match[3]
            tests.append("true" if equal == (match[2] == "==") else "false")
        else:
            raise Unsupported(f"if: {expr!r}: {term!r} is not emulated")
    if not status:  # GitHub adds success() to an if: without a status function
        tests.insert(0, STATUS["success()"])
    return " && ".join(tests)


def _strings(mapping: Mapping[str, Any] | None, context: Mapping[str, str]) -> dict[str, str]:
    return {str(k): substitute(_text(v), context) for k, v in (mapping or {}).items()}


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


@dataclass
class _Builder:
    state: Path
    workspace: Path
    local_action: tuple[str, Mapping[str, Any], Path] | None
    default_shell: str | None
    steps: list[Step] = field(default_factory=list)
    lines: list[str] = field(default_factory=list)

    def add(
        self,
        raw: Mapping[str, Any],
        context: Mapping[str, str],
        env: Mapping[str, str],
        outer: str | None = None,
    ) -> None:
        index = len(self.steps)
        name = str(raw.get("name") or raw.get("uses") or f"step {index}")
        uses = raw.get("uses")
        if uses is not None:
            with_ = _strings(raw.get("with"), context)
            self.steps.append(Step(index, name, str(uses), with_, outer=outer))
            if self.local_action and uses == self.local_action[0]:
                self._expand(raw, context, env, with_)
            return
        shell = raw.get("shell", self.default_shell)
        if shell != "bash":
            raise Unsupported(f"step {name!r}: shell {shell!r} (only bash is emulated)")
        run = substitute(str(raw["run"]), context)
        step_env = {**env, **_strings(raw.get("env"), context)}
        where = self.workspace / substitute(str(raw.get("working-directory", ".")), context)
        self.steps.append(Step(index, name, None, run=run, outer=outer))
        script = self.state / f"step-{index}.sh"
        script.write_text(run)
        exports = "".join(f"export {k}={shlex.quote(v)}; " for k, v in step_env.items())
        q = shlex.quote
        log, out = q(str(self.state / f"step-{index}.log")), q(str(self.state / f"outputs-{index}"))
        self.lines += [
            f"# {index}: {name}",
            f"if {condition(raw.get('if'), context)}; then",
            f'  : > "$GITHUB_ENV"; : > "$GITHUB_PATH"; : > {out}; : > "$STEP_SUMMARY_FILE"',
            f'  ( {exports}export GITHUB_OUTPUT={out} GITHUB_STEP_SUMMARY="$STEP_SUMMARY_FILE"; '
            f"cd {q(str(where))} && exec bash --noprofile --norc -eo pipefail {q(str(script))} )"
            f" > {log} 2>&1",
            "  rc=$?",
            f'  printf \'%s\\t%s\\n\' {index} "$rc" >> "$STATE/results"',
            f"  printf '=== %s: %s (exit %s)\\n' {index} {q(name)} \"$rc\"; cat {log}",
            '  cat "$STEP_SUMMARY_FILE" >> "$STATE/summary.md"',
            "  apply_files",
            '  if [ "$rc" != 0 ]; then failed=1; fi',
            "else",
            f"  printf '%s\\tskipped\\n' {index} >> \"$STATE/results\"",
            "fi",
        ]

    def _expand(
        self,
        raw: Mapping[str, Any],
        context: Mapping[str, str],
        env: Mapping[str, str],
        with_: Mapping[str, str],
    ) -> None:
        assert self.local_action is not None
        uses, action, path = self.local_action
        declared = action.get("inputs") or {}
        unknown = set(with_) - set(declared)
        if unknown:
            raise Unsupported(f"{uses}: no such input(s) {sorted(unknown)}")
        inner = dict(context)
        inner["github.action_path"] = str(path)
        for key, spec in declared.items():
            inner[f"inputs.{key}"] = with_.get(key, _text((spec or {}).get("default", "")))
        runs = action["runs"]
        if runs.get("using") != "composite":
            raise Unsupported(f"{uses}: runs.using is not composite")
        inner_env = {**env, "GITHUB_ACTION_PATH": str(path)}
        for step in runs["steps"]:
            self.add(step, inner, inner_env, outer=uses)


PRELUDE = """\
set -u
failed=0
STATE={state}
mkdir -p "$STATE"
: > "$STATE/results"; : > "$STATE/summary.md"
export GITHUB_ENV="$STATE/github-env" GITHUB_PATH="$STATE/github-path"
STEP_SUMMARY_FILE="$STATE/step-summary"
apply_files() {{
  local line
  while IFS= read -r line; do
    [ -n "$line" ] && PATH="$line:$PATH"
  done < "$GITHUB_PATH"
  export PATH
  while IFS= read -r line; do
    case "$line" in
      *'<<'*) echo "ci_runner: GITHUB_ENV's heredoc form is not emulated: $line" >&2; failed=1 ;;
      *=*) export "${{line%%=*}}=${{line#*=}}" ;;
    esac
  done < "$GITHUB_ENV"
}}
"""


def job_script(
    job: Mapping[str, Any],
    *,
    state: Path,
    workspace: Path,
    context: Mapping[str, str],
    runner_env: Mapping[str, str],
    workflow_env: Mapping[str, Any] | None = None,
    local_action: tuple[str, Mapping[str, Any], Path] | None = None,
    env_overrides: Mapping[str, str] | None = None,
) -> tuple[Path, list[Step]]:
    """The job as a bash script (at state/job.sh), and its steps.

    `runner_env`: what the runner itself provides (HOME, PATH, RUNNER_TEMP, ...);
    `env_overrides`: values that replace an `env:` entry of that name wherever one is set (the
    test's stand-in for editing the pasted job, e.g. RESOLVER)."""
    state.mkdir(parents=True, exist_ok=True)
    defaults = ((job.get("defaults") or {}).get("run") or {}).get("shell")
    builder = _Builder(state, workspace, local_action, defaults)
    env = {**_strings(workflow_env, context), **_strings(job.get("env"), context)}
    overrides = dict(env_overrides or {})
    used = set(overrides) & set(env)
    env.update({k: overrides[k] for k in used})
    for raw in job["steps"]:
        step = dict(raw)
        if "env" in step:
            mine = set(overrides) & set(step["env"])
            step["env"] = {**step["env"], **{k: overrides[k] for k in mine}}
            used |= mine
        builder.add(step, context, env)
    if set(overrides) - used:
        raise Unsupported(f"no env: entry to override: {sorted(set(overrides) - used)}")
    head = PRELUDE.format(state=shlex.quote(str(state)))
    exports = "".join(f"export {k}={shlex.quote(v)}\n" for k, v in runner_env.items())
    body = "\n".join(builder.lines)
    script = state / "job.sh"
    script.write_text(f'{head}{exports}{body}\nexit "$failed"\n')
    return script, builder.steps


def results(state: Path) -> dict[int, int | None]:
    """Each step's exit code, None if it was skipped (missing: it never came to it)."""
    out: dict[int, int | None] = {}
    for line in (state / "results").read_text().splitlines():
        index, _, rc = line.partition("\t")
        out[int(index)] = None if rc == "skipped" else int(rc)
    return out


def outputs(state: Path, index: int) -> dict[str, str]:
    text = (state / f"outputs-{index}").read_text()
    return dict(line.split("=", 1) for line in text.splitlines() if "=" in line)


def marked_blocks(markdown: str, marker: str = "ci-kit") -> dict[tuple[str, str], str]:
    """The fenced YAML blocks whose first line is `# MARKER: KIND NAME`, by (KIND, NAME)."""
    found: dict[tuple[str, str], str] = {}
    fence = re.compile(r"^```ya?ml\n(.*?)^```", re.M | re.S)
    head = re.compile(rf"#\s*{re.escape(marker)}:\s*(\S+)\s+(\S+)\s*$")
    for match in fence.finditer(markdown):
        first, _, _ = match[1].partition("\n")
        if m := head.fullmatch(first.strip()):
            key = (m[1], m[2])
            if key in found:
                raise ValueError(f"two blocks marked {marker}: {key[0]} {key[1]}")
            found[key] = match[1]
    return found


def step_named(steps: Sequence[Step], prefix: str) -> Step:
    (step,) = [s for s in steps if s.name.startswith(prefix)]
    return step
