"""Advice classified by what happened, against the sandbox's injected faults: a 5xx is
Cloudflare's side, a 429 says how long to wait, a 403 names the missing permission, a pending
R2 domain has its own entry; one guidance box per cause; keys instead of CLI commands."""

from __future__ import annotations

from pathlib import Path

import pytest

from polaris_tui.config import update_values
from screens.app import create_app
from screens.step_panel import StepPanel
from screens.widgets import ChecksView, FailureView, GuidanceBox
from tests.tui.conftest import settle
from tests.tui.screen_text import screen_text
from tests.tui.walk import apply_current

KV_LIST = "GET:*/storage/kv/namespaces*"


def panel_text(panel: StepPanel) -> str:
    """Everything the panel holds, on screen or scrolled away."""
    return "\n".join(str(w.render()) for w in panel.query("Static"))


@pytest.mark.parametrize(
    ("fault", "must", "must_not"),
    [
        (
            "500",
            ["Cloudflare failed on its side (HTTP 500)", "after 4 attempt(s)", "Retry in a"],
            ["lacks a permission"],
        ),
        (
            "429",
            ["rate limiting", "wait 0s (Retry-After)", "after 4 attempt(s)"],
            ["lacks a permission"],
        ),
        ("403", ["lacks a permission", "Account · Workers KV Storage · Edit"], ["its side"]),
    ],
)
async def test_api_faults_get_the_entry_for_their_cause(
    tmp_path: Path, fault: str, must: list[str], must_not: list[str]
) -> None:
    app = create_app(sandbox=True, sandbox_dir=tmp_path / "sbx")
    async with app.run_test(size=(130, 40)) as pilot:
        await settle(pilot)
        await pilot.press("down", "down", "down", "down")  # KV nonce store
        await settle(pilot)
        box = app.session.sandbox  # type: ignore[union-attr]
        box.set_faults(f"{KV_LIST}:{fault}")
        await pilot.press("p")
        await settle(pilot)
        panel = app.query_one("#panel-kv", StepPanel)
        failures = list(panel.query(FailureView))
        assert len(failures) == 1 and len(list(panel.query(GuidanceBox))) == 1
        text = panel_text(panel)
        for phrase in must:
            assert phrase in text, (phrase, text)
        for phrase in must_not:
            assert phrase not in text, (phrase, text)
        assert "polaris-tui secrets set" not in text  # the TUI names keys, not commands
        if fault == "403":
            assert "press s and fill in cloudflare-api-token" in text, text


async def test_pending_custom_domain_is_its_own_cause_and_said_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("POLARIS_SANDBOX_ACTIVATION_MS", str(3_600_000))  # an hour: pending
    app = create_app(sandbox=True, sandbox_dir=tmp_path / "sbx")
    async with app.run_test(size=(130, 40)) as pilot:
        await settle(pilot)
        assert app.ctx is not None
        update_values(app.ctx.config_path, {"propagation_timeout_seconds": 1})
        app.load_context()
        await settle(pilot)
        await pilot.press("down", "down", "down")  # Brand assets on R2
        await settle(pilot)
        await apply_current(pilot, [])
        panel = app.query_one("#panel-assets", StepPanel)
        text = panel_text(panel)
        assert "Partly applied" in text and "uploaded 4 file(s)" in text, text
        assert "The R2 custom domain is still being activated" in text, text
        assert "waits up to 1s" in text, text
        assert "polaris-tui verify assets" not in text and "press c" in text, text

        await pilot.press("c")
        await settle(pilot)
        checks = panel.query_one(ChecksView)
        titles = [str(b.render()).splitlines()[0] for b in checks.query(GuidanceBox)]
        assert len(titles) == 2, titles  # pending domain + the 403 it causes: not five boxes
        assert any("still being activated" in t for t in titles), titles
        assert "same cause as" in screen_text(app) or "same cause as" in panel_text(panel)


def test_no_catalog_entry_sends_a_tui_operator_to_the_cli() -> None:
    from polaris_tui import troubleshooting
    from screens.wording import for_tui

    for entry in troubleshooting.entries():
        for text in (entry.meaning, entry.fix):
            tui = for_tui(text)
            for command in ("apply", "verify", "plan", "rotate", "secrets", "config"):
                assert f"polaris-tui {command}" not in tui, (entry.id, tui)
    assert "`polaris-tui apply auth`" in next(
        e.fix for e in troubleshooting.entries() if e.id == "two-spf-records"
    )  # the catalog itself keeps the commands for the CLI


async def test_apply_with_nothing_to_do_says_so(config_file: Path, memory_keyring) -> None:  # type: ignore[no-untyped-def]
    app = create_app(config_path=config_file)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        app.clear_notifications()
        await pilot.press("a")
        await pilot.pause()
        messages = [n.message for n in app._notifications]
        assert any(m.startswith("Nothing to apply") for m in messages), messages
