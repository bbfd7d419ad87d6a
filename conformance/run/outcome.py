"""What the suite saw of the implementation under test itself: how each call ended, and any
breach of the plug-in contract. The verdict uses it only to tell how a call ended; what the
implementation did on the network is judged from the world's log alone."""

from __future__ import annotations

from dataclasses import dataclass, field

SUMMARY_LIMIT = 160
RAISED_LIMIT = 2000  # enough for an exec child's stderr tail (20 lines) to reach the verdict


@dataclass
class Call:
    """One call of the resolver, as the harness saw it end."""

    what: str  # "fetch('origin.test')"
    returned: bool
    summary: str  # "returned <...>" / "raised X: y"
    traceback: str = ""  # the formatted traceback of a raise, for --tb=long
    claims: bool = True  # returning claims a response exists (a homeserver trigger does not)


@dataclass
class DriveOutcome:
    calls: list[Call] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # contract breaches: hang, leaks, ...
    elapsed: float = 0.0
    output: str = ""  # what the implementation printed (capped), if it ran apart from us


def short_repr(value: object, limit: int = SUMMARY_LIMIT) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def raised(exc: BaseException) -> str:
    text = f"raised {type(exc).__name__}: {exc}"
    return text if len(text) <= RAISED_LIMIT else text[: RAISED_LIMIT - 3] + "..."
