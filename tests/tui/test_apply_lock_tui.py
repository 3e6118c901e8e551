"""The TUI takes the same apply lock as the CLI: while another process applies, it says who."""

from __future__ import annotations

from pathlib import Path

from polaris_tui.apply_lock import apply_lock
from screens.app import create_app
from screens.step_panel import StepPanel
from tests.tui.conftest import SIZE, settle
from tests.tui.screen_text import screen_text
from tests.tui.walk import apply_current


async def test_apply_while_another_process_applies_names_it(tmp_path: Path) -> None:
    app = create_app(sandbox=True, sandbox_dir=tmp_path / "sbx")
    seen: list[str] = []
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        ctx = app.ctx
        assert ctx is not None
        await pilot.press("down", "down", "down", "down")
        await settle(pilot)
        panel = app.query_one("#panel-kv", StepPanel)
        assert app.current_panel is panel and len(panel.pending_changes) == 2
        with apply_lock(ctx.state.path.parent, "polaris-tui apply all"):
            await apply_current(pilot, seen)
            text = screen_text(app)
            assert "another apply to this domain is running" in text, text
            assert "(polaris-tui apply all)" in text
            assert len(panel.pending_changes) == 2  # nothing was changed
        assert [e.step for e in ctx.journal.entries(ctx.config.domain)] == []
        await apply_current(pilot, seen)  # once the other apply is done, this one goes through
        assert panel.pending_changes == []
