"""The eight steps in runbook order; the TUI sidebar and every CLI command read this list."""

from __future__ import annotations

from polaris_tui.steps.auth import AuthStep
from polaris_tui.steps.base import Step
from polaris_tui.steps.dns import DnsStep
from polaris_tui.steps.pending import PendingStep

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
        PendingStep(
            "email-service",
            "Email Routing and Sending",
            "Enable Email Routing and Email Sending on the zone and publish the DKIM "
            "records Cloudflare asks for, then wait until DKIM is verified.",
        ),
        PendingStep(
            "assets",
            "Brand assets on R2",
            "Upload the four brand PNGs the email templates reference and serve them "
            "publicly at assets.<domain> through an R2 custom domain.",
        ),
        PendingStep(
            "kv",
            "KV nonce store",
            "Create the KV namespaces (production and preview) the relay uses to reject "
            "replayed requests.",
        ),
        PendingStep(
            "secret",
            "Signing secret",
            "Generate the HMAC secret the app signs requests with, keep it in the "
            "keyring and put it on the Worker.",
        ),
        PendingStep(
            "deploy",
            "Deploy the relay Worker",
            "Upload the signed email relay Worker with its KV, send_email and variable bindings.",
        ),
        PendingStep(
            "route",
            "Bind mail.<domain>",
            "Route mail.<domain>/* to the Worker so the app can reach POST /send.",
        ),
    ]
    assert tuple(s.id for s in steps) == STEP_IDS
    return steps


def get_step(step_id: str) -> Step:
    for step in all_steps():
        if step.id == step_id:
            return step
    raise KeyError(step_id)
