"""The step model: data plus inspect / plan / apply / verify, rendered alike by the TUI and CLI.

A step never talks to the outside world directly: it receives a ``Context`` whose adapters
(Cloudflare client, R2 client, DNS prober, HTTP prober, vault) are real or sandbox-backed.
"""

from __future__ import annotations

import asyncio
import time
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any, ClassVar

from polaris_tui.steps.catalog import STEP_INFO

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


HIDDEN_KEYS = ("id",)  # API ids mean nothing to the operator in a diff


def render_value(value: Any, *, other: Any = None, shown: str = "") -> str:
    """A before/after value as one readable line for the CLI and the TUI's plan table.

    Mappings read ``key=value``; when the other side is a mapping too only the keys that differ
    are shown, so an update says what changes (``proxied=False`` → ``proxied=True``); text
    values already in ``shown`` (the change's target line) are not repeated.
    """
    if value is None:
        return ""
    if isinstance(value, dict):
        keys = [k for k in value if k not in HIDDEN_KEYS]
        if isinstance(other, dict):
            keys = [k for k in keys if other.get(k) != value[k]] or keys
        keys = [k for k in keys if not (isinstance(value[k], str) and value[k] in shown)] or keys
        return ", ".join(f"{k}={render_value(value[k])}" for k in keys)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(render_value(v) for v in value) + "]"
    return " ".join(str(value).split())


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

    def before_text(self) -> str:
        return render_value(self.before, other=self.after, shown=self.target)

    def after_text(self) -> str:
        return render_value(self.after, other=self.before, shown=self.target)

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


Progress = Callable[[str, float | None], None]
"""Progress callback: (message, fraction 0..1 or None when unknown)."""


def no_progress(message: str, fraction: float | None = None) -> None:
    """A progress sink for callers that do not display progress."""


class Step(ABC):
    """Base class: subclasses set ``id`` and implement all four operations (abstract, so a
    step missing one fails when it is created, not halfway through a run)."""

    id: ClassVar[str]

    @property
    def title(self) -> str:
        """From the catalog, which the TUI reads before any step module is imported."""
        return STEP_INFO[self.id].title

    @property
    def purpose(self) -> str:
        return STEP_INFO[self.id].purpose

    @abstractmethod
    def inspect(self, ctx: Context) -> Inspection: ...

    @abstractmethod
    def plan(self, ctx: Context) -> list[Change]: ...

    @abstractmethod
    def apply(
        self, ctx: Context, changes: list[Change], *, progress: Progress = no_progress
    ) -> ApplyResult: ...

    @abstractmethod
    async def verify(self, ctx: Context) -> list[Check]: ...

    def verify_timeout(self, ctx: Context, default: float) -> float:
        """How long the runner lets ``verify`` take; longer for a step whose check waits
        for something to arrive (route: the delivered test message)."""
        return default


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
