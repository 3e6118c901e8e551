"""The palette's Destroy: one dialog lists every removal and asks for the domain typed out."""

from __future__ import annotations

from pathlib import Path

from polaris_tui.steps.records import list_records
from screens.app import create_app
from screens.confirm import ConfirmScreen
from tests.runtime_helpers import apply_step
from tests.tui.conftest import SIZE, settle
from tests.tui.screen_text import screen_text


async def _address_records(ctx) -> list:  # type: ignore[no-untyped-def]
    return [r for r in await list_records(ctx) if r.type in ("A", "AAAA")]


async def test_palette_destroy_needs_the_domain_typed(tmp_path: Path) -> None:
    app = create_app(sandbox=True, sandbox_dir=tmp_path / "sbx")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        ctx = app.ctx
        result = await apply_step(ctx, "dns")
        assert result.ok
        assert await _address_records(ctx)
        await pilot.press("ctrl+p")
        await pilot.pause()
        await pilot.press(*"destroy")
        await pilot.pause()
        await pilot.press("enter")
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, ConfirmScreen), screen_text(app)
        assert screen.danger and screen.require_text == ctx.config.domain
        assert "dns: remove dns record A manage.polaris.test" in screen_text(app)
        await pilot.press("enter")  # nothing typed: not a confirmation
        await pilot.pause()
        assert "type it exactly" in screen_text(app) and await _address_records(ctx)
        await pilot.press(*ctx.config.domain, "enter")
        await settle(pilot)
        assert not isinstance(app.screen, ConfirmScreen)
        assert await _address_records(ctx) == []
        entries = ctx.journal.entries(ctx.config.domain)
        assert ("destroy dns", "ok") in [(e.step, e.outcome) for e in entries]
        # The operator's mailbox the sandbox session added is not the tool's: it stays.
        assert [a.email for a in await ctx.email_routing.addresses()] == ["operator@example.com"]
