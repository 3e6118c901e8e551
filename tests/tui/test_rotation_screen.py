"""Rotation from the TUI: graceful + promote as a guided pair, emergency from the palette."""

from __future__ import annotations

import asyncio
import dataclasses
from pathlib import Path

from screens.app import create_app
from screens.confirm import ConfirmScreen
from screens.rotation import RotationScreen
from screens.secret import MASK, SecretScreen
from tests.tui.conftest import SIZE, secret_values, settle
from tests.tui.screen_text import screen_text
from tests.tui.walk import walk_runbook


async def _confirm_and_read_secret(pilot, seen: list[str], danger: bool) -> str:  # type: ignore[no-untyped-def]
    app = pilot.app
    confirm = app.screen
    assert isinstance(confirm, ConfirmScreen) and confirm.danger is danger
    seen.append(screen_text(app))
    await pilot.press("y")
    await settle(pilot)
    secret_screen = app.screen
    assert isinstance(secret_screen, SecretScreen), screen_text(app)
    seen.append(screen_text(app))
    assert MASK in seen[-1]
    await pilot.press("escape")
    await settle(pilot)
    assert isinstance(app.screen, RotationScreen)
    seen.append(screen_text(app))
    return secret_screen._secret


async def test_graceful_promote_then_emergency_from_palette(tmp_path: Path) -> None:
    app = create_app(sandbox=True, sandbox_dir=tmp_path / "sbx")
    seen: list[str] = []
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert app.ctx is not None
        await walk_runbook(pilot, seen)
        # the walk's verify sent a real message signed with A: promote waits for a quiet A,
        # shortened here to a second (as the app would have been switched meanwhile)
        app.ctx.config = dataclasses.replace(app.ctx.config, promote_quiet_seconds=1)
        vault = app.ctx.vault
        first = vault.get("polaris-secret-a")

        await pilot.press("ctrl+r")
        await settle(pilot)
        assert isinstance(app.screen, RotationScreen)
        await pilot.press("g")
        await pilot.pause()
        staged = await _confirm_and_read_secret(pilot, seen, danger=False)
        assert "Rotation complete" in seen[-1]
        assert vault.get("polaris-secret-b") == staged and vault.get("polaris-secret-a") == first
        assert "Then press p to promote" in seen[-1] or "promote" in seen[-1]

        await asyncio.sleep(1.5)  # past the quiet period: A has signed nothing since the walk
        await pilot.press("p")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("y")
        await settle(pilot)
        seen.append(screen_text(app))
        assert "Rotation complete" in seen[-1], seen[-1]
        assert vault.get("polaris-secret-a") == staged and not vault.get("polaris-secret-b")

        await pilot.press("escape")
        await settle(pilot)
        await pilot.press("ctrl+p")
        await pilot.pause()
        await pilot.press(*"emergency")
        await pilot.pause()
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, ConfirmScreen), screen_text(app)
        new = await _confirm_and_read_secret(pilot, seen, danger=True)
        text = seen[-1]
        assert "Rotation complete" in text, text
        assert "rejected (401)" in text
        assert "probe: new secret: accepted as key A" in text, text  # said once, not "new  new"
        assert "CF_EMAIL_WORKER_SECRET" in text
        assert vault.get("polaris-secret-a") == new != staged
        assert not vault.get("polaris-secret-b")
        secrets = [*secret_values(app), first, staged]
    for screen in seen:
        for secret in secrets:
            assert secret not in screen
