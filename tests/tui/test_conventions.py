"""Keymap and theme from the config, typed deletion confirmation, palette, cancelling work."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from polaris_tui.steps.base import Action, Change
from screens.app import create_app
from screens.confirm import ConfirmScreen, confirm_apply, deletion_hostname
from screens.help import HelpScreen
from screens.step_panel import StepPanel
from tests.conftest import VALID_CONFIG, MemoryKeyring
from tests.tui.conftest import SIZE, settle
from tests.tui.screen_text import screen_text


@pytest.fixture
def config_path(tmp_path: Path) -> Path:
    import keyring

    previous = keyring.get_keyring()
    keyring.set_keyring(MemoryKeyring())
    path = tmp_path / "config.toml"
    path.write_text(
        VALID_CONFIG + 'theme = "nord"\nkeymap = { help = "f2", "verify-all" = "ctrl+v" }\n',
        encoding="utf-8",
    )
    yield path
    keyring.set_keyring(previous)


async def test_keymap_and_theme_from_config(config_path: Path) -> None:
    app = create_app(config_path=config_path)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert app.theme == "nord"
        await pilot.press("f1")
        await pilot.pause()
        assert not isinstance(app.screen, HelpScreen)  # remapped away from f1
        await pilot.press("f2")
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen)
        assert "Verify all — Run every check" in screen_text(app)
        await pilot.press("escape")
        await pilot.press("ctrl+v")
        await settle(pilot)
        assert app.current_panel is not None and app.current_panel.id == "panel-verify"


@pytest.mark.parametrize(
    ("line", "field", "value"),
    [
        ('theme = "no-such"', "'theme'", "no-such"),
        ('keymap = { bogus = "f9" }', "'keymap'", "bogus"),
    ],
)
async def test_unknown_keymap_id_and_theme_are_named(
    tmp_path: Path, line: str, field: str, value: str
) -> None:
    """The config refuses them (as `config set` does); the TUI says which field and value."""
    path = tmp_path / "config.toml"
    path.write_text(VALID_CONFIG + line + "\n", "utf-8")
    app = create_app(config_path=path)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        messages = [n.message for n in app._notifications]
        assert any(field in m and value in m for m in messages), messages


def test_deletion_hostname_rules() -> None:
    create = Change(Action.CREATE, "dns_record", "mail.example.com")
    delete = Change(Action.DELETE, "dns_record", "mail.example.com.", owned=False)
    other = Change(Action.DELETE, "dns_record", "old.example.com")
    assert deletion_hostname([create], "example.com") is None
    assert deletion_hostname([create, delete], "example.com") == "mail.example.com"
    assert deletion_hostname([delete, other], "example.com") == "example.com"
    spf = Change(
        Action.DELETE,
        "dns_record",
        "TXT example.com v=spf1 include:_spf.mx.cloudflare.net ~all",
        before={"type": "TXT", "name": "example.com", "content": "v=spf1 ..."},
        owned=False,
    )
    assert deletion_hostname([spf], "example.com") == "example.com"
    bare = Change(Action.DELETE, "dns_record", "MX cf-bounce.example.com route1.mx.cloudflare.net")
    assert deletion_hostname([bare], "example.com") == "cf-bounce.example.com"


async def test_deleting_needs_the_hostname_typed(config_path: Path) -> None:
    app = create_app(config_path=config_path)
    changes = [Change(Action.DELETE, "dns_record", "mail.example.com", owned=False)]
    results: list[bool | None] = []
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        screen = confirm_apply("DNS records", changes, "example.com")
        await app.push_screen(screen, results.append)
        await pilot.pause()
        assert screen.danger and screen.require_text == "mail.example.com"
        assert "DELETES" in screen_text(app)
        await pilot.press("y")  # typed into the box: not a confirmation
        await pilot.press("enter")
        await pilot.pause()
        assert results == [] and "type it exactly" in screen_text(app)
        await pilot.press("backspace", *"mail.example.com", "enter")
        await pilot.pause()
        assert results == [True]


async def test_palette_runs_a_step_and_apply_can_be_cancelled(tmp_path: Path) -> None:
    app = create_app(sandbox=True, sandbox_dir=tmp_path / "sbx")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("ctrl+p")
        await pilot.pause()
        await pilot.press(*"apply step email")
        await pilot.pause()
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, ConfirmScreen), screen_text(app)
        await pilot.press("y")
        # the apply now waits for DKIM verification, reporting progress: cancel it
        panel = app.query_one("#panel-email-service", StepPanel)
        for _ in range(50):
            await pilot.pause(0.05)
            if "waiting" in screen_text(app):
                break
        assert panel.busy
        # the wait shows its own elapsed of its limit: "(N s of M s)"
        assert re.search(r"\(\d+ s of \d+ s\)", screen_text(app)), screen_text(app)
        await pilot.press("x")
        await settle(pilot)
        assert not panel.busy
        assert "cancelled by the operator" in screen_text(app)
        entries = app.ctx.journal.entries(app.ctx.config.domain)
        assert [(e.step, e.outcome) for e in entries] == [("email-service", "failed")]
