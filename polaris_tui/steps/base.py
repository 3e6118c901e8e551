"""The step model: data plus inspect / plan / apply / verify, rendered alike by the TUI and CLI.

A step never talks to the outside world directly: it receives a ``Context`` whose adapters
(Cloudflare client, R2 client, DNS prober, HTTP prober, vault) are real or sandbox-backed.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any, ClassVar

if TYPE_CHECKING:
    from polaris_tui.context import Context


class Action(StrEnum):
    CREATE = "create"
    UPDATE = "update"
    DELETE = "delete"
    NOOP = "noop"


class StepState(StrEnum):
    DONE = "done"
    PENDING = "pending"
    DRIFT = "drift"
    FAILED = "failed"
    BLOCKED = "blocked"


@dataclass(frozen=True)
class Change:
    """One planned change; ``owned`` is False for things the tool did not create."""

    action: Action
    kind: str
    target: str
    before: Any = None
    after: Any = None
    note: str = ""
    owned: bool = True

    @property
    def needs_delete_permission(self) -> bool:
        """Deleting or replacing what the tool did not create needs --allow-delete."""
        return self.action is Action.DELETE and not self.owned

    def to_json(self) -> dict[str, Any]:
        return {
            "action": str(self.action),
            "kind": self.kind,
            "target": self.target,
            "before": self.before,
            "after": self.after,
            "note": self.note,
            "owned": self.owned,
        }


@dataclass
class Check:
    """One verification result; ``guidance`` is filled from the troubleshooting catalog."""

    id: str
    step: str
    ok: bool
    detail: str
    guidance: str = ""
    ms: float = 0.0
    data: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        out.pop("data")
        return out


@dataclass(frozen=True)
class Inspection:
    """Read-only current state of a step: what exists now, in the step's own terms."""

    state: StepState
    summary: str
    facts: dict[str, Any] = field(default_factory=dict)


@dataclass
class ApplyResult:
    ok: bool
    applied: list[Change] = field(default_factory=list)
    detail: str = ""
    messages: list[str] = field(default_factory=list)


class StepNotImplemented(Exception):
    """The step exists in the registry but its automation has not been written yet."""


Progress = Callable[[str, float | None], None]
"""Progress callback: (message, fraction 0..1 or None when unknown)."""


def no_progress(message: str, fraction: float | None = None) -> None:
    """A progress sink for callers that do not display progress."""


class Step:
    """Base class: subclasses set the class attributes and override the four operations."""

    id: ClassVar[str]
    title: ClassVar[str]
    purpose: ClassVar[str]  # plain words from the runbook: what and why
    implemented: ClassVar[bool] = True

    def inspect(self, ctx: Context) -> Inspection:
        raise StepNotImplemented(self.id)

    def plan(self, ctx: Context) -> list[Change]:
        raise StepNotImplemented(self.id)

    def apply(
        self, ctx: Context, changes: list[Change], *, progress: Progress = no_progress
    ) -> ApplyResult:
        raise StepNotImplemented(self.id)

    async def verify(self, ctx: Context) -> list[Check]:
        raise StepNotImplemented(self.id)


async def timed_check(
    step: str,
    check_id: str,
    run: Callable[[], Awaitable[tuple[bool, str]]],
    timeout: float,
    *,
    started: float | None = None,
) -> Check:
    """Run one check with a timeout and measure it; an exception is a failed check, not a crash.

    ``started`` (a ``time.perf_counter()`` value) starts the clock when the check's inputs
    were requested, so a check that first waited for a shared read is not shown as faster.
    """
    if started is None:
        started = time.perf_counter()
    try:
        ok, detail = await asyncio.wait_for(run(), timeout)
    except TimeoutError:
        ok, detail = False, f"no answer within {timeout:g}s"
    except Exception as exc:  # a check reports failures; it never takes verify-all down
        ok, detail = False, f"{type(exc).__name__}: {exc}"
    return Check(check_id, step, ok, detail, ms=(time.perf_counter() - started) * 1000)
