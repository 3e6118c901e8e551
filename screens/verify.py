"""Verify-all: every check of every step with its status, time taken and guidance; the
failures first, grouped by step, and marked stale once a newer observation is made.

The app connects the panel to the session's Context and its steps; results come back as
messages from a thread worker.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from textual import work
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.message import Message
from textual.widgets import Static
from textual.worker import Worker, WorkerState, get_current_worker

from screens.widgets import ChecksView, FailureView

if TYPE_CHECKING:
    from polaris_tui.context import Context
    from polaris_tui.runner import VerifyReport
    from polaris_tui.steps.base import Step


class VerifyPanel(VerticalScroll):
    """Runs ``runner.verify`` over all steps in a worker; re-runnable with one key."""

    class Finished(Message):
        def __init__(self, report: VerifyReport) -> None:
            super().__init__()
            self.report = report

    def __init__(self) -> None:
        super().__init__(id="panel-verify", classes="panel")
        self.report: VerifyReport | None = None
        self.running = False
        self.ctx: Context | None = None
        self.steps: list[Step] = []
        self.ran_at = 0.0  # when the checks on screen started (time.time())

    def connect(self, ctx: Context, steps: list[Step]) -> None:
        self.ctx, self.steps = ctx, steps

    def compose(self) -> ComposeResult:
        yield Static("[b]Verify all[/b]", classes="title")
        yield Static(
            "Every check of every step, run concurrently: the runbook's Verify section plus "
            "what the runbook forgets (one SPF record, DKIM verified, the relay rejects "
            "unsigned requests).",
            classes="purpose",
        )
        yield Static("Press [b]v[/b] to run the checks.", id="verify-summary")
        yield ChecksView(id="verify-checks")

    def run(self) -> None:
        if self.ctx is None:
            self.query_one("#verify-summary", Static).update("Waiting for the connection…")
            return
        self.running = True
        self.ran_at = time.time()
        self.query_one("#verify-summary", Static).update("[dim]running every check…[/dim]")
        self.query_one(ChecksView).show([], empty="")
        self._verify()

    @work(thread=True, exclusive=True, group="verify-all", exit_on_error=False)
    def _verify(self) -> None:
        from polaris_tui import runner

        assert self.ctx is not None
        report = runner.verify(self.ctx, self.steps)
        if not get_current_worker().is_cancelled:
            self.post_message(self.Finished(report))

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        """The checks failed to run at all: say why here, keep the app."""
        if event.state is not WorkerState.ERROR or event.worker.node is not self:
            return
        self.running = False
        error = event.worker.error
        self.query_one("#verify-summary", Static).update(
            "[b red]The checks did not run.[/b red] — press [b]v[/b] to try again"
        )
        checks = self.query_one(ChecksView)
        checks.remove_children()
        checks.mount(FailureView(f"{type(error).__name__}: {error}", None))

    def on_verify_panel_finished(self, message: Finished) -> None:
        self.running = False
        report = self.report = message.report
        passed = sum(c.ok for c in report.checks)
        failed = len(report.checks) - passed
        verdict = (
            "[b green]all checks passed[/b green]"
            if report.ok
            else f"[b red]{failed} check(s) failed[/b red]"
            if failed
            else "[b]no check failed[/b]"
        )
        self.query_one("#verify-summary", Static).update(
            f"{verdict}: {passed} passed in {report.elapsed_ms / 1000:.1f}s"
            " — press [b]v[/b] to run again"
        )
        titles = {s.id: s.title for s in self.steps}
        self.query_one(ChecksView).show(report.checks, titles=titles)

    def observed(self, at: float) -> None:
        """A newer observation was made (a refresh, an apply): older results are stale."""
        if self.report is not None and not self.running and self.ran_at < at:
            self.query_one(ChecksView).mark_stale(at, key="v")
