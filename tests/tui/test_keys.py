"""Each screen binds and shows only its own keys; the dialogs that can lose work default to
the safe answer."""

from __future__ import annotations

from pathlib import Path

from screens.app import create_app
from screens.confirm import ConfirmScreen
from screens.rotation import RotationScreen
from screens.settings import SettingsScreen
from screens.step_panel import StepPanel
from tests.tui.conftest import settle
from tests.tui.screen_text import screen_text

RUNBOOK_KEYS = ("Apply", "Re-run", "Checks", "Verify all", "History", "Settings", "Refresh")


def footer(app) -> str:  # type: ignore[no-untyped-def]
    return screen_text(app).splitlines()[-1]


async def test_rotation_screen_has_only_its_own_keys(tmp_path: Path) -> None:
    app = create_app(sandbox=True, sandbox_dir=tmp_path / "sbx")
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        assert app.query_one("#panel-dns", StepPanel).pending_changes  # `a` would apply here
        await pilot.press("ctrl+r")
        await settle(pilot)
        assert isinstance(app.screen, RotationScreen)
        shown = footer(app)
        for key in ("Graceful", "Promote", "EMERGENCY", "Back"):
            assert key in shown, shown
        for key in RUNBOOK_KEYS:
            assert key not in shown, shown
        for key in ("a", "c", "v", "h", "s", "r"):
            await pilot.press(key)
            await settle(pilot)
            assert isinstance(app.screen, RotationScreen), (key, screen_text(app))


async def test_dialog_footers_show_the_dialog_keys(config_file: Path, memory_keyring) -> None:  # type: ignore[no-untyped-def]
    app = create_app(config_path=config_file)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("s")
        await settle(pilot)
        assert isinstance(app.screen, SettingsScreen)
        shown = footer(app)
        assert "^s Save" in shown and "Cancel" in shown, shown
        for key in RUNBOOK_KEYS:
            assert key not in shown, shown
        await pilot.press("escape")
        await settle(pilot)
        await pilot.press("f1")
        await pilot.pause()
        assert "Close" in footer(app) and "Apply" not in footer(app)


async def test_quit_while_running_defaults_to_cancel(config_file: Path, memory_keyring) -> None:  # type: ignore[no-untyped-def]
    app = create_app(config_path=config_file)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        app.query_one("#panel-dns", StepPanel).busy = "applying"  # as during an apply
        await pilot.press("q")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("enter")
        await pilot.pause()
        assert not isinstance(app.screen, ConfirmScreen)
        assert app.is_running and app.return_code is None


async def test_escape_with_unsaved_settings_asks_first(config_file: Path, memory_keyring) -> None:  # type: ignore[no-untyped-def]
    app = create_app(config_path=config_file)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("s")
        await settle(pilot)
        settings = app.screen
        assert isinstance(settings, SettingsScreen)
        await pilot.press("end", "x")  # the domain field now differs from the file
        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmScreen), screen_text(app)
        assert "domain" in screen_text(app)
        await pilot.press("enter")  # the default is Cancel: back to the form, edit kept
        await pilot.pause()
        assert app.screen is settings
        await pilot.press("escape")
        await pilot.pause()
        await pilot.press("y")  # discard
        await settle(pilot)
        assert not isinstance(app.screen, SettingsScreen | ConfirmScreen)
        assert 'domain = "example.com"' in config_file.read_text(encoding="utf-8")
