"""Small things that mislead: a typed-delete box that looks filled, promote with nothing staged,
a README fault example that never matched a DNS apply, a letter leaking past the footer."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from textual.widgets import Static

from polaris_tui.sandbox.faults import parse
from polaris_tui.steps.base import Action, Change
from screens.app import create_app
from screens.confirm import ConfirmScreen, confirm_apply
from screens.history import JournalEntryScreen
from screens.rotation import RotationScreen
from screens.step_panel import StepPanel
from tests.tui.conftest import settle
from tests.tui.screen_text import screen_text
from tests.tui.walk import apply_current

README = Path(__file__).parents[2] / "README.md"


async def test_typed_delete_box_is_empty_and_says_so(config_file: Path, memory_keyring) -> None:  # type: ignore[no-untyped-def]
    app = create_app(config_path=config_file)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        change = Change(Action.DELETE, "dns_record", "mail.example.com", owned=False)
        screen = confirm_apply("DNS records", [change], "example.com")
        await app.push_screen(screen)
        await pilot.pause()
        box = screen.query_one("#confirm-text")
        assert box.value == "" and "mail.example.com" not in box.placeholder  # type: ignore[attr-defined]


async def test_promote_with_nothing_staged_says_so(config_file: Path, memory_keyring) -> None:  # type: ignore[no-untyped-def]
    app = create_app(config_path=config_file)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("ctrl+r")
        await pilot.pause()
        app.clear_notifications()
        await pilot.press("p")
        await pilot.pause()
        assert isinstance(app.screen, RotationScreen) and not isinstance(app.screen, ConfirmScreen)
        assert any("Nothing to promote" in n.message for n in app._notifications)


def test_readme_fault_example_matches_the_dns_batch_call() -> None:
    text = README.read_text(encoding="utf-8")
    example = re.search(r"POLARIS_SANDBOX_FAULTS` \| .*?e\.g\. `([^`]+)`", text)
    assert example is not None
    rules = parse(example.group(1))
    assert any(r.matches("POST", "/zones/0123abcd/dns_records/batch") for r in rules)


async def test_applied_count_agrees_with_the_confirmed_plan(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Brand assets planned 6 changes and said "5 change(s) applied": the custom domain,
    attached last, was left out of the count."""
    monkeypatch.setenv("POLARIS_SANDBOX_ACTIVATION_MS", "300")
    app = create_app(sandbox=True, sandbox_dir=tmp_path / "sbx")
    async with app.run_test(size=(130, 40)) as pilot:
        await settle(pilot)
        await pilot.press("down", "down", "down")  # Brand assets on R2
        await settle(pilot)
        await apply_current(pilot, [])
        panel = app.query_one("#panel-assets", StepPanel)
        result = panel.query_one(".result Static", Static)
        said = re.search(
            r"(\d+) change\(s\) applied \((\d+) of (\d+) confirmed", str(result.render())
        )
        assert said is not None, str(result.render())
        applied, made, confirmed = map(int, said.groups())
        assert applied == made == confirmed == panel.confirmed_count, said.group(0)


async def test_a_history_row_opens_its_changes_and_detail(tmp_path: Path) -> None:
    app = create_app(sandbox=True, sandbox_dir=tmp_path / "sbx")
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await apply_current(pilot, [])  # DNS records: six records created
        await pilot.press("h")
        await settle(pilot)
        app.query_one("#history-table").focus()
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, JournalEntryScreen), type(app.screen)
        text = screen_text(app)
        assert "dns" in text and "ok" in text and "6 change(s) applied and served" in text, text
        assert "6 change(s)" in text and "manage.polaris.test" in text, text
        await pilot.press("escape")
        await pilot.pause()
        assert not isinstance(app.screen, JournalEntryScreen)


async def test_the_footer_ends_with_the_palette_key_at_80_columns(tmp_path: Path) -> None:
    """A key cut at the footer's edge must not leak a letter past the docked palette key."""
    app = create_app(sandbox=True, sandbox_dir=tmp_path / "sbx")
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("v")  # verify all: more keys than 80 columns hold
        await settle(pilot)
        footer = screen_text(app).rstrip("\n").splitlines()[-1]
        assert footer.rstrip().endswith("^p palette"), repr(footer)


async def test_a_wait_that_counts_its_own_time_gets_no_second_clock() -> None:
    from textual.app import App, ComposeResult

    from screens.progress import ProgressLine

    class Host(App[None]):
        def compose(self) -> ComposeResult:
            yield ProgressLine("sending 6 DNS change(s)", id="line")

    app = Host()
    async with app.run_test(size=(80, 6)) as pilot:
        await pilot.pause()
        assert "elapsed)" in screen_text(app)  # a step's own work: how long it has run
        line = app.query_one("#line", ProgressLine)
        line.report("waiting for Cloudflare to verify DKIM (3 s of 600 s)", 0.0)
        await pilot.pause()
        text = screen_text(app)
        assert "(3 s of 600 s)" in text and "elapsed)" not in text, text
