"""The rotation screen shows when each key slot last accepted a real send (what promote
decides by), refreshed after each rotation action, and how app_secret_command went."""

from __future__ import annotations

import asyncio
import re
import shutil
from pathlib import Path

import pytest

from polaris_tui.config import set_value
from polaris_tui.demo import send
from polaris_tui.sandbox import Sandbox
from polaris_tui.session import sandbox_context
from polaris_tui.steps.secret import VAULT_A, VAULT_B
from screens.app import create_app
from screens.confirm import ConfirmScreen
from screens.rotation import RotationScreen
from screens.secret import SecretScreen
from tests.runtime_helpers import SENDING_STEPS, run_cli
from tests.tui.conftest import secret_values, settle
from tests.tui.screen_text import screen_text

RECIPIENT = "someone@example.com"
AGO = r"(\d+ s|\d+ min) ago"


@pytest.fixture(scope="module")
def deployed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A sandbox with the relay deployed, whose app has just sent one message with A."""
    box_dir = tmp_path_factory.mktemp("rotation-tui") / "sbx"
    for step_id in SENDING_STEPS:
        done = run_cli(box_dir, "apply", step_id, "--yes")
        assert done.returncode == 0, done.stderr
    box = Sandbox(box_dir)
    ctx = sandbox_context(box, box.start())
    try:
        assert send(ctx, ctx.vault.get(VAULT_A) or "", RECIPIENT, "the app, on A").status == 202
    finally:
        box.stop()
    return box_dir


def copy_of(deployed: Path, tmp_path: Path) -> Path:
    box_dir = tmp_path / "sbx"
    shutil.copytree(deployed, box_dir)
    return box_dir


def last_accepted_line(text: str) -> str:
    return next(line for line in text.splitlines() if "Last accepted" in line)


async def open_rotation(pilot) -> str:  # type: ignore[no-untyped-def]
    await settle(pilot)
    await pilot.press("ctrl+r")
    await settle(pilot)
    assert isinstance(pilot.app.screen, RotationScreen)
    return screen_text(pilot.app)


async def graceful_in_tui(pilot, seen: list[str]) -> str:  # type: ignore[no-untyped-def]
    """g, confirm, close the secret dialog; the new secret."""
    app = pilot.app
    await pilot.press("g")
    await pilot.pause()
    assert isinstance(app.screen, ConfirmScreen)
    await pilot.press("y")
    await settle(pilot)
    assert isinstance(app.screen, SecretScreen), screen_text(app)
    staged = app.screen._secret
    await pilot.press("escape")
    await settle(pilot)
    seen.append(screen_text(app))
    return staged


async def test_last_accepted_per_slot_shown_and_refreshed(deployed: Path, tmp_path: Path) -> None:
    box_dir = copy_of(deployed, tmp_path)
    seen: list[str] = []
    app = create_app(sandbox=True, sandbox_dir=box_dir)
    async with app.run_test(size=(130, 40)) as pilot:
        seen.append(await open_rotation(pilot))
        assert re.search(rf"Last accepted .*A {AGO}  ·  B never", last_accepted_line(seen[-1]))

        staged = await graceful_in_tui(pilot, seen)
        assert "Rotation complete" in seen[-1]
        sent = await asyncio.to_thread(send, app.ctx, staged, RECIPIENT, "the app, on B")
        assert sent.status == 202
        assert "B never" in last_accepted_line(screen_text(app))  # not re-read on its own

        await pilot.press("p")
        await pilot.pause()
        await pilot.press("y")  # promote refuses: A signed a send moments ago
        await settle(pilot)
        seen.append(screen_text(app))
        assert "the app still signs with the old secret" in seen[-1], seen[-1]
        assert re.search(rf"A {AGO}  ·  B {AGO}", last_accepted_line(seen[-1])), seen[-1]
        secrets = [*secret_values(app), staged]

    app = create_app(sandbox=True, sandbox_dir=box_dir)
    async with app.run_test(size=(80, 24)) as pilot:
        seen.append(await open_rotation(pilot))  # the smallest terminal, without scrolling
        assert re.search(rf"A {AGO}  ·  B {AGO}", last_accepted_line(seen[-1])), seen[-1]
        assert "EMERGENCY" in seen[-1]
    for text in seen:
        for secret in secrets:
            assert secret not in text


async def test_the_rotation_result_shows_how_app_secret_command_went(
    deployed: Path, tmp_path: Path
) -> None:
    box_dir = copy_of(deployed, tmp_path)
    set_value(
        box_dir / "config.toml",
        "app_secret_command",
        "cat >&2; echo 'reload failed' >&2; exit 1",
    )
    seen: list[str] = []
    app = create_app(sandbox=True, sandbox_dir=box_dir)
    async with app.run_test(size=(130, 40)) as pilot:
        await open_rotation(pilot)
        staged = await graceful_in_tui(pilot, seen)
        text = seen[-1]
        assert app.ctx is not None and app.ctx.vault.get(VAULT_B) == staged
        assert "Rotation stopped" in text and "app was not updated" in text, text
        assert re.search(r"✘ app_secret_command exited 1 in [\d.]+ s", text), text
        assert re.search(r"stderr:\s+\[secret\]\s+reload failed", text), text
        assert "by hand" in text and "CF_EMAIL_WORKER_SECRET" in text
        secrets = [*secret_values(app), staged]
    for screen in seen:
        for secret in secrets:
            assert secret not in screen
