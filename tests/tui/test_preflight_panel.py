"""The "Before you start" panel: the preflight's verdict at the top of the sidebar, above
the eight steps, with the checks to fix named (over the sandbox's real protocols)."""

from __future__ import annotations

from pathlib import Path

import pytest
from textual.widgets import Static

from screens.app import StepItem, create_app
from screens.preflight_panel import PreflightLine, PreflightPanel
from tests.tui.conftest import SIZE, settle


async def panel_after_start(tmp_path: Path) -> tuple[str, list[PreflightLine], int]:
    app = create_app(sandbox=True, sandbox_dir=tmp_path / "sbx")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        panel = app.query_one(PreflightPanel)
        assert panel.report is not None
        sidebar = app.query_one("#sidebar-column")
        assert sidebar.children[0] is panel  # at the top, above the steps
        summary = str(app.query_one("#preflight-summary", Static).render())
        lines = list(panel.query(PreflightLine))
        return summary, lines, len(app.query(StepItem))


async def test_panel_shows_ready_with_warnings(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("POLARIS_SANDBOX_NO_R2", raising=False)
    summary, lines, steps = await panel_after_start(tmp_path)
    assert summary.startswith("✔ ready to start")
    assert "warning" in summary  # the sandbox's Traefik addresses are not probed
    assert {str(line.render()) for line in lines} >= {"! traefik-ipv4", "! traefik-ipv6"}
    assert all(line.has_class("preflight-warning") for line in lines)
    assert steps == 8  # not a ninth step


async def test_panel_names_what_to_fix(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("POLARIS_SANDBOX_NO_R2", "1")
    summary, lines, _ = await panel_after_start(tmp_path)
    assert summary.startswith("✘ 1 to fix")
    first = lines[0]
    assert str(first.render()) == "✘ r2-subscription" and first.has_class("preflight-error")
    assert "R2 Object Storage" in str(first.tooltip)  # the guidance, on hover or click
