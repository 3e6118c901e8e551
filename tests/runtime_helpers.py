"""Helpers for the runtime steps' tests (kv, secret, deploy, route, rotation, verify, demo)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from polaris_tui import runner
from polaris_tui.context import Context
from polaris_tui.steps.base import ApplyResult
from polaris_tui.steps.registry import get_step

RELAY_STEPS = ("kv", "secret", "deploy", "route")
# Real sends need the sender's domain onboarded: Cloudflare refuses a send_email from a
# domain without Email Service, and without Email Sending reaches verified addresses only.
SENDING_STEPS = ("email-service", *RELAY_STEPS)
CLI = Path(sys.executable).parent / "polaris-tui"


async def apply_step(ctx: Context, step_id: str, *, allow_delete: bool = False) -> ApplyResult:
    """Apply one step the way `apply STEP --yes` does."""
    step = get_step(step_id)
    planned = await runner.plan_async(ctx, step)
    return await runner.apply_async(
        ctx, step, planned, confirm=lambda _s, _c: True, allow_delete=allow_delete
    )


async def pending(ctx: Context, step_id: str) -> list[Any]:
    return (await runner.plan_async(ctx, get_step(step_id))).pending


def run_cli(
    sandbox_dir: Path, *args: str, timeout: float = 180, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess:
    """The console script against a sandbox folder, as an operator runs it."""
    return subprocess.run(
        [str(CLI), "--sandbox", "--sandbox-dir", str(sandbox_dir), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, "POLARIS_SANDBOX_ACTIVATION_MS": "300", **(env or {})},
        check=False,
    )


def assert_not_on_disk(ctx: Context, value: str) -> None:
    """The secret is nowhere in the sandbox folder except its keyring file."""
    assert ctx.sandbox is not None
    for path in Path(ctx.sandbox.directory).rglob("*"):
        if path.is_file() and path.name != "keyring.json":
            assert value.encode() not in path.read_bytes(), path


async def verify(ctx: Context, step_id: str) -> dict[str, Any]:
    """The step's checks through the runner (so failures carry their guidance), by id."""
    return {c.id: c for c in (await runner.verify_async(ctx, [get_step(step_id)])).checks}
