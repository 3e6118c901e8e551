"""Keyboard walks shared by the TUI tests."""

from __future__ import annotations

from textual.pilot import Pilot

from polaris_tui.steps.catalog import STEP_IDS
from screens.app import StepItem
from screens.confirm import ConfirmScreen
from screens.secret import SecretScreen
from screens.step_panel import StepPanel
from tests.tui.conftest import settle
from tests.tui.screen_text import screen_text


async def apply_current(pilot: Pilot[object], seen: list[str]) -> None:
    """Press a, read the confirmation, confirm (typing the hostname when asked), wait."""
    app = pilot.app
    await pilot.press("a")
    await pilot.pause()
    confirm = app.screen
    assert isinstance(confirm, ConfirmScreen)
    seen.append(screen_text(app))
    if confirm.require_text:
        assert " " not in confirm.require_text, "the operator types a hostname, not a record"
        await pilot.press(*confirm.require_text, "enter")
    else:
        await pilot.press("y")
    await settle(pilot)
    seen.append(screen_text(app))


async def walk_runbook(pilot: Pilot[object], seen: list[str]) -> list[str]:
    """Down the sidebar applying each step, then back up to any step a later one changed
    (Email Routing adds its own SPF record, so auth shows drift); returns the applied steps.
    """
    app = pilot.app
    applied: list[str] = []
    for index, step_id in enumerate(STEP_IDS):
        if index:
            await pilot.press("down")
            await settle(pilot)
        await _apply_here(pilot, step_id, seen, applied)
    position = len(STEP_IDS) - 1
    for index, step_id in enumerate(STEP_IDS):
        if app.query_one(f"#step-{step_id}", StepItem).state == "done":
            continue
        await pilot.press(*(["up"] * (position - index) if position > index else []))
        await pilot.press(*(["down"] * (index - position) if index > position else []))
        position = index
        await settle(pilot)
        await _apply_here(pilot, step_id, seen, applied)
    for step_id in STEP_IDS:
        state = app.query_one(f"#step-{step_id}", StepItem).state
        assert state == "done", (step_id, state)
    return applied


async def _apply_here(
    pilot: Pilot[object], step_id: str, seen: list[str], applied: list[str]
) -> None:
    app = pilot.app
    panel = app.query_one(f"#panel-{step_id}", StepPanel)
    assert app.current_panel is panel  # type: ignore[attr-defined]
    seen.append(screen_text(app))
    assert panel.snapshot is not None and panel.snapshot.failure is None, step_id
    if panel.pending_changes:
        await apply_current(pilot, seen)
        applied.append(step_id)
    if isinstance(app.screen, SecretScreen):
        assert step_id == "secret"
        await pilot.press("escape")
        await settle(pilot)
    assert panel.pending_changes == [], f"{step_id}: re-plan after apply is not empty"
    assert "✘ Not applied" not in screen_text(app)
