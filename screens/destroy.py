"""The palette's Destroy command: every step's teardown planned and shown in one dialog,
confirmed by typing the domain, then removed in the runbook's reverse order.

The engine decides what is the tool's (``polaris_tui.destroy``); keyring secrets are never
purged from here (``polaris-tui destroy all --purge-secrets`` does that).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual.widgets import Static

from polaris_tui import destroy
from polaris_tui.steps.base import Action
from screens.confirm import ConfirmScreen
from screens.widgets import escape

if TYPE_CHECKING:
    from textual.app import App

    from polaris_tui.context import Context

TITLE = "Destroy"


def start(app: App[object], ctx: Context) -> None:
    """Plan in a thread (the plans read Cloudflare), then ask."""
    app.run_worker(lambda: _plan(app, ctx), thread=True, group="destroy", exit_on_error=False)


def _plan(app: App[object], ctx: Context) -> None:
    from polaris_tui.runner import StepFailure

    try:
        plans = [(step_id, destroy.plan(ctx, step_id)) for step_id in destroy.ORDER]
    except StepFailure as failure:
        app.call_from_thread(app.notify, str(failure), title=TITLE, severity="error")
        return
    lines = [
        f"{step_id}: remove {c.kind.replace('_', ' ')} {c.target}"
        for step_id, changes in plans
        for c in changes
        if c.action is Action.DELETE
    ]
    if not lines:
        app.call_from_thread(app.notify, "Nothing polaris-tui created is left.", title=TITLE)
        return
    domain = ctx.config.domain
    screen = ConfirmScreen(
        f"Destroy what polaris-tui created for {domain}?",
        f"{len(lines)} thing(s) are removed, the runbook in reverse. Your own records and "
        "settings, and the secrets in the keyring, stay.",
        body=[Static(escape("\n".join(lines)), id="destroy-plan")],
        confirm_label="Destroy",
        require_text=domain,
        danger=True,
    )

    def after(ok: bool | None) -> None:
        if ok:
            app.run_worker(
                lambda: _remove(app, ctx), thread=True, group="destroy", exit_on_error=False
            )

    app.call_from_thread(app.push_screen, screen, after)


def _remove(app: App[object], ctx: Context) -> None:
    """Each step planned again right before its removal (earlier ones change later plans)."""
    from polaris_tui.apply_lock import ApplyLocked, apply_lock
    from polaris_tui.runner import StepFailure

    removed = 0
    try:
        with apply_lock(ctx.state.path.parent, "polaris-tui TUI: destroy all"):
            for step_id in destroy.ORDER:
                result = destroy.apply(ctx, step_id, destroy.plan(ctx, step_id))
                removed += len(result.applied)
    except (StepFailure, ApplyLocked) as failure:
        app.call_from_thread(app.notify, str(failure), title=TITLE, severity="error")
    else:
        app.call_from_thread(app.notify, f"{removed} thing(s) removed.", title=TITLE)
    app.call_from_thread(app.run_action, "refresh")
