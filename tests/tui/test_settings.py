"""First run: the settings form saves the config, sends credentials to the keyring only, and
explains a keyring that cannot hold secrets."""

from __future__ import annotations

from pathlib import Path

import keyring
import pytest
from keyring.backends.fail import Keyring as FailKeyring
from textual.widgets import Input, Static

from screens.app import create_app
from screens.settings import SettingsScreen
from tests.conftest import MemoryKeyring
from tests.tui.conftest import SIZE, settle
from tests.tui.screen_text import screen_text

TOKEN = "cf-token-7Qm2vX9pLk3sR8tW"


@pytest.fixture
def backend(request: pytest.FixtureRequest):  # type: ignore[no-untyped-def]
    previous = keyring.get_keyring()
    chosen = request.param()
    keyring.set_keyring(chosen)
    yield chosen
    keyring.set_keyring(previous)


async def fill(pilot, field_id: str, value: str) -> None:  # type: ignore[no-untyped-def]
    widget = pilot.app.screen.query_one(f"#{field_id}", Input)
    widget.focus()
    await pilot.pause()
    await pilot.press(*value)


@pytest.mark.parametrize("backend", [MemoryKeyring], indirect=True)
async def test_first_run_saves_config_and_token_to_keyring(tmp_path: Path, backend) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "config.toml"
    app = create_app(config_path=path)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert isinstance(app.screen, SettingsScreen)
        await fill(pilot, "field-domain", "example.org")
        await fill(pilot, "field-account_id", "0123456789abcdef0123456789abcdeX")
        await pilot.pause()
        assert "32-character hex" in screen_text(app)  # the error shows under the field
        await pilot.press("backspace", "f")
        await fill(pilot, "field-traefik_ipv4", "198.51.100.7")
        await fill(pilot, "secret-cloudflare-api-token", TOKEN)
        await pilot.pause()
        assert TOKEN not in screen_text(app)
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert not isinstance(app.screen, SettingsScreen), screen_text(app)
        assert app.ctx is not None and app.ctx.config.domain == "example.org"
    assert backend.store[("polaris-tui:example.org", "cloudflare-api-token")] == TOKEN
    assert TOKEN not in path.read_text(encoding="utf-8")
    assert 'traefik_ipv4 = "198.51.100.7"' in path.read_text(encoding="utf-8")


@pytest.mark.parametrize("backend", [FailKeyring], indirect=True)
async def test_fail_closed_keyring_is_explained(tmp_path: Path, backend) -> None:  # type: ignore[no-untyped-def]
    app = create_app(config_path=tmp_path / "config.toml")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert isinstance(app.screen, SettingsScreen)
        text = screen_text(app)
        assert "keyring.backends.fail.Keyring cannot be used" in text
        status = str(app.screen.query_one("#vault-status", Static).content)
        assert "never stores secrets in a plaintext file" in status
