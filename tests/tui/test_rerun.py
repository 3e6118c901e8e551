"""Re-running one step re-inspects and re-plans it on its own, picking up outside changes."""

from __future__ import annotations

from pathlib import Path

from screens.app import StepItem, create_app
from screens.step_panel import StepPanel
from tests.tui.conftest import SIZE, settle
from tests.tui.screen_text import screen_text
from tests.tui.walk import apply_current


async def test_rerun_single_step_sees_outside_change(tmp_path: Path) -> None:
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
        await apply_current(pilot, seen)
        assert panel.pending_changes == []
        assert app.query_one("#step-kv", StepItem).state == "done"
        assert "kv.namespace" in screen_text(app)  # its checks ran after the apply

        # someone deletes the production namespace in the dashboard
        account = ctx.config.account_id
        (victim,) = [
            n
            for n in ctx.cf.kv.namespaces.list(account_id=account)
            if n.title == "EMAIL_NONCE_DEDUP"
        ]
        ctx.cf.kv.namespaces.delete(victim.id, account_id=account)

        await pilot.press("p")
        await settle(pilot)
        pending = panel.pending_changes
        assert [(str(c.action), c.target) for c in pending] == [("create", "EMAIL_NONCE_DEDUP")]
        assert "1 change(s) pending" in screen_text(app)
        assert app.query_one("#step-kv", StepItem).state != "done"

        await apply_current(pilot, seen)
        assert panel.pending_changes == []
        kv_applies = [e for e in ctx.journal.entries(ctx.config.domain) if e.step == "kv"]
        assert [e.outcome for e in kv_applies] == ["ok", "ok"]
