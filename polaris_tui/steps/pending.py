"""A registered step whose automation is not written yet: honestly blocked, never fake success."""

from __future__ import annotations

from typing import TYPE_CHECKING

from polaris_tui.steps.base import Inspection, Step, StepState

if TYPE_CHECKING:
    from polaris_tui.context import Context


class PendingStep(Step):
    implemented = False

    def __init__(self, step_id: str, title: str, purpose: str) -> None:
        self.id = step_id  # type: ignore[misc]
        self.title = title  # type: ignore[misc]
        self.purpose = purpose  # type: ignore[misc]

    def inspect(self, ctx: Context) -> Inspection:
        return Inspection(StepState.BLOCKED, "not implemented yet")
