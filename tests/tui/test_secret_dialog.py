"""The secret dialog: its buttons work from the keyboard and the mouse, its footer shows its
own keys, Copy says what happened, and the secret stays masked until revealed."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from screens.app import create_app
from screens.clipboard import clipboard_problem
from screens.secret import MASK, SecretScreen
from tests.tui.conftest import settle
from tests.tui.screen_text import screen_text

SECRET = "dGVzdC1zZWNyZXQtbmV2ZXItb24tc2NyZWVu"


async def test_buttons_answer_enter_space_and_click(config_file: Path, memory_keyring) -> None:  # type: ignore[no-untyped-def]
    app = create_app(config_path=config_file)
    closed: list[None] = []
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        dialog = SecretScreen(SECRET)
        await app.push_screen(dialog, closed.append)
        await pilot.pause()
        assert app.focused is not None and app.focused.id == "secret-copy"
        text = screen_text(app)
        assert MASK in text and SECRET not in text
        footer = text.splitlines()[-1]
        for key in ("Reveal", "Copy", "Close"):
            assert key in footer, footer
        for leaked in ("Apply", "Verify", "Settings", "Quit"):
            assert leaked not in footer, footer

        await pilot.press("enter")  # Copy: headless, so the clipboard cannot be reached
        await pilot.pause()
        text = screen_text(app)
        assert "could not be reached" in text and "Press r to reveal" in text, text
        assert app.clipboard == SECRET and SECRET not in text

        await pilot.press("shift+tab")  # Reveal
        await pilot.press("space")
        await pilot.pause()
        assert dialog.revealed and SECRET in screen_text(app)
        await pilot.pause(0.3)  # a button ignores presses while it shows the last one
        await pilot.press("enter")
        await pilot.pause()
        assert not dialog.revealed and SECRET not in screen_text(app)

        await pilot.click("#secret-close")
        await pilot.pause()
        assert closed == [None] and not isinstance(app.screen, SecretScreen)


def test_copy_outside_tmux_is_sent() -> None:
    assert clipboard_problem(headless=False, env={}) is None
    assert clipboard_problem(headless=True, env={}) == "no terminal is attached"


@pytest.mark.skipif(shutil.which("tmux") is None, reason="needs the tmux binary")
def test_tmux_that_drops_osc52_is_named(tmp_path: Path) -> None:
    socket = tmp_path / "tmux.sock"
    tmux = ["tmux", "-S", str(socket)]
    subprocess.run(
        [*tmux, "-f", "/dev/null", "new-session", "-d", "-x", "40", "-y", "5"], check=True
    )
    try:
        env = {"TMUX": f"{socket},0,0", "PATH": "/usr/bin:/bin"}
        subprocess.run([*tmux, "set", "-g", "set-clipboard", "external"], check=True)
        problem = clipboard_problem(headless=False, env=env)
        assert problem is not None and "'external'" in problem and "set-clipboard on" in problem
        subprocess.run([*tmux, "set", "-g", "set-clipboard", "on"], check=True)
        assert clipboard_problem(headless=False, env=env) is None
    finally:
        subprocess.run([*tmux, "kill-server"], check=False)
