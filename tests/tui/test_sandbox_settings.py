"""Under --sandbox the TUI's preferences persist like the operator's own config."""

from __future__ import annotations

import tomllib
from pathlib import Path

from screens.app import create_app
from tests.tui.conftest import SIZE, settle


async def test_a_theme_chosen_in_the_palette_is_kept_for_the_next_launch(tmp_path: Path) -> None:
    box = tmp_path / "sbx"
    app = create_app(sandbox=True, sandbox_dir=box)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert app.ctx is not None and app.theme != "nord"
        app.theme = "nord"  # what the palette's "Change theme" does
        await settle(pilot)
    saved = tomllib.loads((box / "config.toml").read_text(encoding="utf-8"))
    assert saved["theme"] == "nord"
    assert saved["traefik_ipv4"] == "192.0.2.10"  # the rest of the seeded config is intact

    again = create_app(sandbox=True, sandbox_dir=box)
    async with again.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert again.ctx is not None and again.ctx.config.theme == "nord"
        assert again.theme == "nord"
