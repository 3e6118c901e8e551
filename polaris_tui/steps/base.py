"""The step model: plan / apply / verify, rendered alike by the TUI and CLI.

A step never talks to the outside world directly: it receives a ``Context`` whose ports
(DNS records, Email Routing and Sending, Workers, KV, R2, the DNS and HTTP probers, the vault)
are real or sandbox-backed. All three operations are coroutines: a step awaits its ports and
overlaps its independent reads with ``asyncio.gather``; it never starts an event loop or a
thread pool of its own (synchronous front ends go through ``polaris_tui.blocking``).
"""

from __future__ import annotations

import asyncio
import time
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

from polaris_tui.plan import Action, Change, Plan, StepState, make_plan
from polaris_tui.steps.catalog import STEP_INFO
from polaris_tui.waiting import Progress as Progress  # steps name it from here
from polaris_tui.waiting import no_progress as no_progress

if TYPE_CHECKING:
    from polaris_tui.context import Context

# The plan vocabulary, named here too: every step imports its model from this module.
__all__ = [
    "Action",
    "ApplyResult",
    "Change",
    "Check",
    "Plan",
    "Progress",
    "Step",
    "StepState",
    "make_plan",
    "no_progress",
    "timed_check",
]


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


@dataclass
class ApplyResult:
    ok: bool
    applied: list[Change] = field(default_factory=list)
    detail: str = ""
    messages: list[str] = field(default_factory=list)


class Step(ABC):
    """Base class: subclasses set ``id`` and implement all three operations (abstract, so a
    step missing one fails when it is created, not halfway through a run).

    ``plan`` observes (read-only) and returns the one Plan its status, facts and changes all
    come from; ``apply`` carries out changes of a plan the runner has checked is current.
    """

    id: ClassVar[str]

    @property
    def title(self) -> str:
        """From the catalog, which the TUI reads before any step module is imported."""
        return STEP_INFO[self.id].title

    @property
    def purpose(self) -> str:
        return STEP_INFO[self.id].purpose

    @abstractmethod
    async def plan(self, ctx: Context) -> Plan: ...

    @abstractmethod
    async def apply(
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
