"""The "Before you start" panel at the top of the sidebar: the preflight's verdict once the
engine is ready, and one line per check to fix (its detail and guidance on hover or click).

It is not a step: the eight steps keep their rows below it. The preflight module is imported
in the worker, never before the first frame.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual import work
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.message import Message
from textual.widgets import Label, Static

if TYPE_CHECKING:
    from polaris_tui.context import Context
    from polaris_tui.preflight import PreflightReport
    from polaris_tui.steps.base import Check

MAX_LINES = 6


class PreflightLine(Static):
    """One check that did not pass; a click shows its detail and guidance."""

    def __init__(self, check: Check, warning: bool) -> None:
        name = check.id.removeprefix("preflight.")
        super().__init__(f"{'!' if warning else '✘'} {name}", markup=False)
        self.check = check
        self.set_class(warning, "preflight-warning")
        self.set_class(not warning, "preflight-error")
        self.tooltip = "\n\n".join(filter(None, [check.detail, check.guidance]))

    def on_click(self) -> None:
        self.notify(
            str(self.tooltip), title=self.check.id, severity="warning", timeout=30, markup=False
        )


class PreflightPanel(Vertical):
    DEFAULT_CSS = """
    PreflightPanel {
        height: auto;
        width: 100%;  /* the sidebar column's: 34, or 29 on a narrow terminal */
        padding: 0 1 1 1;
        border-right: solid $primary;
    }
    PreflightPanel #preflight-title { text-style: bold; }
    PreflightPanel .preflight-error { color: $error; }
    PreflightPanel .preflight-warning { color: $warning; }
    PreflightPanel #preflight-lines { height: auto; }
    """

    class Finished(Message):
        def __init__(self, report: PreflightReport) -> None:
            super().__init__()
            self.report = report

    def __init__(self) -> None:
        super().__init__(id="preflight")
        self.report: PreflightReport | None = None

    def compose(self) -> ComposeResult:
        yield Label("Before you start", id="preflight-title")
        yield Static("… waiting for the engine", id="preflight-summary", markup=False)
        yield Vertical(id="preflight-lines")

    def run(self, ctx: Context) -> None:
        self.query_one("#preflight-summary", Static).update("… checking prerequisites")
        self._run(ctx)

    @work(thread=True, exclusive=True, group="preflight")
    def _run(self, ctx: Context) -> None:
        from polaris_tui import preflight

        self.post_message(self.Finished(preflight.run(ctx)))

    async def on_preflight_panel_finished(self, message: Finished) -> None:
        from polaris_tui.preflight import WARNING, severity

        self.report = message.report
        checks = [c for c in message.report.checks if not c.ok]
        errors = [c for c in checks if severity(c) != WARNING]
        warnings = len(checks) - len(errors)
        verdict = f"✘ {len(errors)} to fix" if errors else "✔ ready to start"
        if warnings:
            verdict += f" · {warnings} warning{'s' if warnings != 1 else ''}"
        self.query_one("#preflight-summary", Static).update(verdict)
        lines = self.query_one("#preflight-lines", Vertical)
        await lines.remove_children()
        # what to fix first: errors, then what they kept from being probed, then warnings
        shown = sorted(
            checks, key=lambda c: (severity(c) == WARNING, c.detail.startswith("not probed"))
        )
        await lines.mount_all(PreflightLine(c, severity(c) == WARNING) for c in shown[:MAX_LINES])
        if len(shown) > MAX_LINES:
            more = f"+{len(shown) - MAX_LINES} more: polaris-tui preflight"
            await lines.mount(Static(more, classes="muted", markup=False))
