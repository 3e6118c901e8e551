"""The eight step objects in runbook order; every CLI command and TUI worker gets them here.

The step modules are imported on the first call, not with this module: their names and
purposes are in ``catalog``, which is all the CLI parser and the TUI's first frame need.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from polaris_tui.steps.catalog import STEP_IDS

if TYPE_CHECKING:
    from polaris_tui.steps.base import Step


def all_steps() -> list[Step]:
    """Fresh step objects in runbook order."""
    from polaris_tui.steps.assets import AssetsStep
    from polaris_tui.steps.auth import AuthStep
    from polaris_tui.steps.deploy import DeployStep
    from polaris_tui.steps.dns import DnsStep
    from polaris_tui.steps.email_service import EmailServiceStep
    from polaris_tui.steps.kv import KvStep
    from polaris_tui.steps.route import RouteStep
    from polaris_tui.steps.secret import SecretStep

    steps: list[Step] = [
        DnsStep(),
        AuthStep(),
        EmailServiceStep(),
        AssetsStep(),
        KvStep(),
        SecretStep(),
        DeployStep(),
        RouteStep(),
    ]
    assert tuple(s.id for s in steps) == STEP_IDS
    return steps


def get_step(step_id: str) -> Step:
    for step in all_steps():
        if step.id == step_id:
            return step
    raise KeyError(step_id)
