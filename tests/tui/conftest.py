"""TUI test helpers: an isolated home for state files, and waiting for workers to settle."""

from __future__ import annotations

from pathlib import Path

import pytest
from textual.app import App
from textual.pilot import Pilot

from polaris_tui.vault import SECRET_NAMES

SIZE = (120, 40)


@pytest.fixture(autouse=True)
def isolated_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Journal, state and config under tmp_path, never the user's."""
    home = tmp_path / "home"
    for var, sub in (
        ("XDG_CONFIG_HOME", ".config"),
        ("XDG_STATE_HOME", ".local/state"),
        ("XDG_DATA_HOME", ".local/share"),
    ):
        monkeypatch.setenv(var, str(home / sub))
    monkeypatch.delenv("POLARIS_TUI_CONFIG", raising=False)
    monkeypatch.delenv("POLARIS_TUI_EXIT_AFTER_FIRST_FRAME", raising=False)
    return home


async def settle(pilot: Pilot[object], rounds: int = 4) -> None:
    """Let every worker finish and every message they posted be handled."""
    app: App[object] = pilot.app
    for _ in range(rounds):
        await pilot.pause()
        await app.workers.wait_for_complete()
        await pilot.pause()


def steady_cursors(app: App[object]) -> None:
    """Stop the inputs' cursors blinking: a snapshot must not depend on when it was taken."""
    from textual.widgets import Input

    for field in app.screen.query(Input):
        field.cursor_blink = False


def secret_values(app: App[object]) -> list[str]:
    """Every credential and signing secret the app's vault holds (to look for on screen)."""
    ctx = app.ctx  # type: ignore[attr-defined]
    values = [ctx.vault.get(name) for name in SECRET_NAMES]
    if ctx.sandbox is not None:
        values += [ctx.sandbox.token, ctx.sandbox.s3_secret_access_key]
    return [v for v in values if v]
