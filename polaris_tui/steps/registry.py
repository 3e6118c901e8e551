"""The eight steps in runbook order; the TUI sidebar and every CLI command read this list."""

from __future__ import annotations

from polaris_tui.steps.assets import AssetsStep
from polaris_tui.steps.auth import AuthStep
from polaris_tui.steps.base import Step
from polaris_tui.steps.deploy import DeployStep
from polaris_tui.steps.dns import DnsStep
from polaris_tui.steps.email_service import EmailServiceStep
from polaris_tui.steps.kv import KvStep
from polaris_tui.steps.route import RouteStep
from polaris_tui.steps.secret import SecretStep

STEP_IDS: tuple[str, ...] = (
    "dns",
    "auth",
    "email-service",
    "assets",
    "kv",
    "secret",
    "deploy",
    "route",
)


def all_steps() -> list[Step]:
    """Fresh step objects in runbook order."""
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
