"""Progress that tells the truth about waiting: a retry says its cause and attempt, a wait says
elapsed of its limit, the running step spins in the sidebar, and a cancel lands mid-wait."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from textual.message import Message

from polaris_tui.config import update_values
from screens.app import SPINNER, StepItem, create_app
from screens.step_panel import StepPanel
from tests.tui.conftest import settle


class Seen:
    """Every progress report and sidebar label the app showed (Textual's message hook)."""

    def __init__(self) -> None:
        self.reports: list[str] = []

    def __call__(self, message: Message) -> None:
        if isinstance(message, StepPanel.Progressed):
            self.reports.append(message.text)


async def test_a_retry_says_what_cloudflare_answered_and_which_attempt_is_next(
    tmp_path: Path,
) -> None:
    seen = Seen()
    app = create_app(sandbox=True, sandbox_dir=tmp_path / "sbx")
    async with app.run_test(size=(80, 24), message_hook=seen) as pilot:
        await settle(pilot)
        app.session.sandbox.set_faults("POST:/zones/*/dns_records/batch:500:2")  # type: ignore[union-attr]
        await pilot.press("a")
        await pilot.pause()
        await pilot.press("y")
        await settle(pilot)
        retries = [r for r in seen.reports if "Cloudflare answered" in r]
        assert any(
            re.fullmatch(r"Cloudflare answered 500, attempt 2 of 4 in \S+ s", r) for r in retries
        ), seen.reports
        assert any(r.startswith("Cloudflare answered 500, attempt 3 of 4") for r in retries), (
            retries
        )
        assert not any("attempt 4 of 4" in r for r in retries)  # the third try succeeded
        panel = app.query_one("#panel-dns", StepPanel)
        assert panel.snapshot is not None and not panel.pending_changes


async def test_a_wait_says_elapsed_of_its_limit_spins_and_cancels_mid_wait(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("POLARIS_SANDBOX_ACTIVATION_MS", str(3_600_000))  # an hour: pending
    seen = Seen()
    app = create_app(sandbox=True, sandbox_dir=tmp_path / "sbx")
    async with app.run_test(size=(80, 24), message_hook=seen) as pilot:
        await settle(pilot)
        assert app.ctx is not None
        update_values(app.ctx.config_path, {"propagation_timeout_seconds": 600})
        app.load_context()
        await settle(pilot)
        await pilot.press("down", "down", "down")  # Brand assets on R2
        await settle(pilot)
        await pilot.press("a")
        await pilot.pause()
        await pilot.press("y")
        item = app.query_one("#step-assets", StepItem)
        while not any("waiting for Cloudflare to activate" in r for r in seen.reports):
            await pilot.pause(0.1)
        assert item.label_text()[0] in SPINNER  # the running step spins, not its old icon
        waits = [r for r in seen.reports if "waiting for Cloudflare to activate" in r]
        assert re.search(r"\(\d+ s of 600 s\)$", waits[-1]), waits
        before = len(seen.reports)
        await pilot.press("x")
        await settle(pilot)
        panel = app.query_one("#panel-assets", StepPanel)
        assert not panel.busy
        # the wait stopped at its next report (those already on their way when x was pressed
        # still arrive), not after the rest of 600 s
        assert len(seen.reports) - before <= 3, seen.reports[before:]
        text = "\n".join(str(w.render()) for w in panel.query("Static"))
        assert "cancelled by the operator" in text, text
        assert item.label_text()[0] not in SPINNER
        entry = app.ctx.journal.entries(app.ctx.config.domain)[-1]
        assert (entry.step, entry.outcome) == ("assets", "failed")
