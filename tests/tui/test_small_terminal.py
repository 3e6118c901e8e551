"""At 80x24 every screen is usable: the keys that matter are in the footer, the sidebar can be
hidden, the EMERGENCY card and a rotation's result are on screen without scrolling, and the
settings form hides the runbook behind it."""

from __future__ import annotations

from pathlib import Path

from screens.app import create_app
from screens.confirm import ConfirmScreen
from screens.rotation import RotationScreen
from screens.settings import SettingsScreen
from tests.tui.conftest import settle
from tests.tui.screen_text import screen_text

SMALL = (80, 24)


async def test_main_screen_footer_and_sidebar_at_80x24(config_file: Path, memory_keyring) -> None:  # type: ignore[no-untyped-def]
    app = create_app(config_path=config_file)
    async with app.run_test(size=SMALL) as pilot:
        await settle(pilot)
        footer = screen_text(app).splitlines()[-1]
        for key in ("Apply", "Checks", "Settings", "Refresh", "Quit"):
            assert key in footer, footer
        assert "Email Routing and Sending" in screen_text(app)
        await pilot.press("b")
        await pilot.pause()
        text = screen_text(app)
        assert "Email Routing and Sending" not in text and "DNS records  (dns)" in text, text
        await pilot.press("b")
        await pilot.pause()
        assert "Email Routing and Sending" in screen_text(app)

        await pilot.press("s")
        await settle(pilot)
        assert isinstance(app.screen, SettingsScreen)
        assert "Email Routing" not in screen_text(app)  # opaque: no sidebar text shows through


async def test_emergency_card_and_result_fit_80x24(tmp_path: Path) -> None:
    app = create_app(sandbox=True, sandbox_dir=tmp_path / "sbx")
    async with app.run_test(size=SMALL) as pilot:
        await settle(pilot)
        await pilot.press("ctrl+r")
        await settle(pilot)
        assert isinstance(app.screen, RotationScreen)
        text = screen_text(app)
        assert "EMERGENCY: the secret leaked" in text and "given the new secret" in text, text
        await pilot.press("E")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("y")
        await settle(pilot)
        text = screen_text(app)
        # nothing is deployed in a fresh sandbox: the rotation fails, and says so on screen
        assert "What happened" in text and "not deployed" in text, text
        assert "polaris-tui apply" not in text and "press a" in text, text  # keys, not commands
