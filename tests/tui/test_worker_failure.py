"""A worker that fails in a way no step expected ends in the failure view, not a crash."""

from __future__ import annotations

import asyncio
from pathlib import Path

from textual.pilot import Pilot
from textual.worker import WorkerState

from screens.app import create_app
from screens.step_panel import StepPanel
from screens.widgets import FailureView
from tests.tui.conftest import SIZE
from tests.tui.screen_text import screen_text


async def settle(pilot: Pilot[object], rounds: int = 6) -> None:
    """conftest's settle, except that a failed worker is an outcome here, not an error."""
    app = pilot.app
    for _ in range(rounds):
        await pilot.pause()
        running = [w for w in app.workers if w.state in (WorkerState.PENDING, WorkerState.RUNNING)]
        await asyncio.gather(*(w.wait() for w in running), return_exceptions=True)
        await pilot.pause()


async def test_an_unreadable_journal_is_shown_in_the_failure_view(tmp_path: Path) -> None:
    box = tmp_path / "sbx"
    # The journal path is a directory: reading it raises IsADirectoryError, which nothing in
    # the engine expects (a real disk can do the same with permissions or I/O errors).
    (box / "tool-state" / "journal.jsonl").mkdir(parents=True)
    app = create_app(sandbox=True, sandbox_dir=box)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert app.ctx is not None and app.is_running
        panel = app.query_one("#panel-dns", StepPanel)
        assert panel.query(FailureView), screen_text(app)
        text = screen_text(app)
        assert "Is a directory" in text and "Could not inspect this step" in text

        await pilot.press("p")  # re-run: the same failure again, and the app still runs
        await settle(pilot)
        assert app.is_running and len(panel.query(FailureView)) == 1

        await pilot.press("h")  # history reads the same journal
        await settle(pilot)
        assert app.is_running and "the journal could not be read" in screen_text(app)
