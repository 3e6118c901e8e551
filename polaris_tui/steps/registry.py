"""The step objects in runbook order; every CLI command and TUI worker gets them here.

Each step's module and class are named in ``catalog`` and imported on the first call, not
with this module: the CLI parser and the TUI's first frame need only the catalog's words.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from polaris_tui.steps.catalog import STEP_INFO, STEPS, StepInfo

if TYPE_CHECKING:
    from polaris_tui.steps.base import Step


def _make(info: StepInfo) -> Step:
    module = importlib.import_module(f"polaris_tui.steps.{info.module}")
    step: Step = getattr(module, info.class_name)()
    if step.id != info.id:
        raise TypeError(
            f"{info.module}.{info.class_name} has id {step.id!r}; the catalog names it {info.id!r}"
        )
    return step


def all_steps() -> list[Step]:
    """Fresh step objects in runbook order."""
    return [_make(info) for info in STEPS]


def get_step(step_id: str) -> Step:
    """One fresh step object; KeyError for an id the catalog does not name."""
    return _make(STEP_INFO[step_id])
