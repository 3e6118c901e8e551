"""Walk the runbook in the sandbox with the keyboard alone, as an operator would."""

from __future__ import annotations

from pathlib import Path

from screens.app import create_app
from screens.settings import SettingsScreen
from screens.verify import VerifyPanel
from tests.tui.conftest import SIZE, secret_values, settle
from tests.tui.screen_text import screen_text
from tests.tui.walk import walk_runbook


async def test_walk_whole_runbook_by_keys(tmp_path: Path) -> None:
    app = create_app(sandbox=True, sandbox_dir=tmp_path / "sbx")
    seen: list[str] = []
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert app.ctx is not None, "the sandbox context did not load"
        seen.append(screen_text(app))
        assert "SANDBOX" in seen[-1]
        assert "polaris.test" in seen[-1]

        # settings: the form opens, validates and saves with the keyboard
        await pilot.press("s")
        await settle(pilot)
        assert isinstance(app.screen, SettingsScreen)
        seen.append(screen_text(app))
        assert "Keyring backend" in seen[-1]
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert not isinstance(app.screen, SettingsScreen)

        applied = await walk_runbook(pilot, seen)

        await pilot.press("v")
        await settle(pilot)
        verify = app.query_one(VerifyPanel)
        assert app.current_panel is verify and verify.report is not None
        seen.append(screen_text(app))
        failing = [c for c in verify.report.checks if not c.ok]
        assert not failing, [(c.id, c.detail) for c in failing]
        assert verify.report.ok
        assert "all checks passed" in seen[-1]

        await pilot.press("h")
        await settle(pilot)
        seen.append(screen_text(app))
        for step_id in applied:
            assert step_id in seen[-1]

        secrets = secret_values(app)
        assert any(len(s) >= 16 for s in secrets)
    for text in seen:
        for secret in secrets:
            assert secret not in text
