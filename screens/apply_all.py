"""Apply all: the runbook in one go (imported when first opened, not before the first frame).

Every step is planned from one observation and the operator confirms the combined plan once;
``runner.apply_all`` then starts each step as soon as the steps it depends on succeeded, side
by side with the others running (a row each, with its own progress), and applies again a step
that a later one changed (the runner's convergence, not a pass of our own). A failure, shown
with its guidance, stops the steps that depend on it; the others finish. A confirmation covers
what it showed: a step whose plan gained a change since then is not applied.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual import work
from textual.app import ComposeResult
from textual.containers import Vertical, VerticalScroll
from textual.message import Message
from textual.widgets import Static
from textual.worker import Worker, WorkerState, get_current_worker

from screens.step_panel import OperationCancelled, StepPanel, result_view
from screens.widgets import FailureView, escape

if TYPE_CHECKING:
    from polaris_tui.context import Context
    from polaris_tui.runner import StepFailure
    from polaris_tui.steps.base import ApplyResult, Change, Step


def _identity(change: Change) -> tuple[str, str, str]:
    """What a change is about; its values may still be filled in by an earlier step (the
    Worker's KV id appears once the kv step ran), which the confirmation already covered."""
    return str(change.action), change.kind, change.target


class ApplyAllPanel(VerticalScroll):
    """Plans every step, asks once, runs them in order and shows each step's outcome."""

    class Planned(Message):
        def __init__(self, results: list[list[Change] | StepFailure]) -> None:
            super().__init__()
            self.results = results

    class StepStarted(Message):
        def __init__(self, step_id: str, again: bool) -> None:
            super().__init__()
            self.step_id = step_id
            self.again = again

    class Progressed(Message):
        """A running step's report; ``step_id`` None reaches every running step's row."""

        def __init__(self, step_id: str | None, text: str, fraction: float | None) -> None:
            super().__init__()
            self.step_id = step_id
            self.text = text
            self.fraction = fraction

    class StepSkipped(Message):
        def __init__(self, step_id: str, blocked: list[str]) -> None:
            super().__init__()
            self.step_id = step_id
            self.blocked = blocked

    class StepEnded(Message):
        def __init__(
            self,
            step_id: str,
            result: ApplyResult | None,
            failure: StepFailure | None,
            confirmed: int,
        ) -> None:
            super().__init__()
            self.step_id = step_id
            self.result = result
            self.failure = failure
            self.confirmed = confirmed

    class Finished(Message):
        """The run ended; bubbles to the app so every step is inspected again."""

        def __init__(self, ok: bool, changed: set[str]) -> None:
            super().__init__()
            self.ok = ok
            self.changed = changed  # the steps that made a change

    def __init__(self) -> None:
        super().__init__(id="panel-apply-all", classes="panel")
        self.ctx: Context | None = None
        self.steps: list[Step] = []
        self.busy = ""
        self._rows: dict[str, Vertical] = {}  # each running step's row
        self._made = 0

    def connect(self, ctx: Context, steps: list[Step]) -> None:
        self.ctx, self.steps = ctx, steps

    def compose(self) -> ComposeResult:
        yield Static("[b]Apply all[/b]", classes="title")
        yield Static(
            "Every step's plan in one confirmation, then each step once those it depends on are "
            "done, side by side; a step that a later one changes is applied again. A failure "
            "stops the steps that depend on it.",
            classes="purpose",
        )
        yield Static("Press [b]A[/b] to plan every step.", id="apply-all-summary")
        yield Vertical(id="apply-all-steps")

    def _summary(self, text: str) -> None:
        self.query_one("#apply-all-summary", Static).update(text)

    def _title(self, step_id: str) -> str:
        return next((s.title for s in self.steps if s.id == step_id), step_id)

    # ── plan and confirm ─────────────────────────────────────────────────────────────────────

    def start(self) -> None:
        """Plan every step, then show the combined confirmation."""
        if self.busy:
            self.notify(f"Apply all is still {self.busy}.", severity="warning")
            return
        if self.ctx is None:
            self._summary("Waiting for the connection…")
            return
        self.busy = "planning"
        self._summary("[dim]inspecting and planning every step…[/dim]")
        self.query_one("#apply-all-steps", Vertical).remove_children()
        self._plan()

    @work(thread=True, exclusive=True, group="plan", exit_on_error=False)
    def _plan(self) -> None:
        from polaris_tui import runner

        assert self.ctx is not None
        self.post_message(self.Planned(runner.plan_each(self.ctx, self.steps)))

    def on_apply_all_panel_planned(self, message: Planned) -> None:
        from polaris_tui import runner
        from screens.confirm import confirm_apply_all

        self.busy = ""
        assert self.ctx is not None
        rows = self.query_one("#apply-all-steps", Vertical)
        for step, result in zip(self.steps, message.results, strict=True):
            if isinstance(result, runner.StepFailure):
                self._summary(
                    f"[b red]Nothing was applied: {escape(step.title)} could not plan.[/b red]"
                )
                rows.mount(FailureView(result.message, result.entry))
                return
        plans = {
            s.id: r.pending  # type: ignore[union-attr]
            for s, r in zip(self.steps, message.results, strict=True)
        }
        sections = [(s.title, plans[s.id]) for s in self.steps if plans[s.id]]
        if not sections:
            self._summary("Nothing to apply: every step matches its plan.")
            self.notify("Nothing to apply: every step matches its plan.", title="Apply all")
            return
        screen = confirm_apply_all(sections, self.ctx.config.domain)

        def after(confirmed: bool | None) -> None:
            if not confirmed:
                self._summary("Cancelled: nothing was changed. Press [b]A[/b] to plan again.")
                return
            self.busy = "applying"
            self._made = 0
            self.app.refresh_bindings()
            total = sum(len(c) for c in plans.values())
            self._summary(f"[b]Applying {total} change(s), independent steps side by side…[/b]")
            self._run(plans, allow_delete=screen.require_text is not None)

        self.app.push_screen(screen, after)

    # ── run ──────────────────────────────────────────────────────────────────────────────────

    @work(thread=True, exclusive=True, group="apply", exit_on_error=False)
    def _run(self, confirmed: dict[str, list[Change]], allow_delete: bool) -> None:
        from polaris_tui import runner
        from polaris_tui.apply_lock import ApplyLocked, apply_lock

        assert self.ctx is not None
        ctx = self.ctx
        worker = get_current_worker()
        changed: set[str] = set()

        async def apply_one(step: Step, again: bool) -> bool:
            if worker.is_cancelled:  # after a cancel no step starts
                failure = runner.StepFailure(step.id, "not started: the run was cancelled")
                self.post_message(self.StepEnded(step.id, None, failure, 0))
                return False

            def progress(text: str, fraction: float | None = None) -> None:
                if worker.is_cancelled:
                    raise OperationCancelled("cancelled by the operator")
                self.post_message(self.Progressed(step.id, text, fraction))

            self.post_message(self.StepStarted(step.id, again))
            planned = confirmed.get(step.id, [])
            unconfirmed: list[Change] = []

            def confirm(_step: Step, changes: list[Change]) -> bool:
                if again:  # the convergence the confirmation described
                    return True
                known = {_identity(c) for c in planned}
                unconfirmed[:] = [c for c in changes if _identity(c) not in known]
                return not unconfirmed

            try:
                # planned again now: an earlier step may have filled in its values (KV ids)
                result = await runner.apply_async(
                    ctx,
                    step,
                    await runner.plan_async(ctx, step),
                    confirm=confirm,
                    allow_delete=allow_delete and not again,
                    progress=progress,
                )
            except runner.StepFailure as failure:
                self.post_message(self.StepEnded(step.id, None, failure, len(planned)))
                return False
            if result.applied:
                changed.add(step.id)
            if unconfirmed:
                targets = ", ".join(c.target for c in unconfirmed)
                result.detail = (
                    f"its plan gained {len(unconfirmed)} change(s) you did not confirm "
                    f"({targets}); nothing was changed here. Review the new plan and apply again."
                )
            self.post_message(
                self.StepEnded(
                    step.id, result, None, len(result.applied) if again else len(planned)
                )
            )
            return result.ok

        ok = False
        try:
            with apply_lock(ctx.state.path.parent, "polaris-tui TUI: apply all"):
                ok = runner.apply_all(
                    ctx,
                    self.steps,
                    apply_one,
                    lambda step, blocked: self.post_message(self.StepSkipped(step.id, blocked)),
                ).ok
        except runner.StepFailure as failure:
            self.post_message(self.StepEnded(failure.step, None, failure, 0))
        except ApplyLocked as locked:
            self.post_message(
                self.StepEnded("all", None, runner.StepFailure("all", locked.message), 0)
            )
        self.post_message(self.Finished(ok, changed))

    def on_apply_all_panel_step_started(self, message: StepStarted) -> None:
        from screens.progress import ProgressLine

        title = self._title(message.step_id) + (" (again: a later step changed it)" * message.again)
        row = self._rows[message.step_id] = Vertical(
            Static(f"[b]{escape(title)}[/b]"),
            ProgressLine(f"applying {title}…"),
            classes="step-row",
        )
        self.query_one("#apply-all-steps", Vertical).mount(row)
        self.post_message(StepPanel.Busy(message.step_id, True))
        self._follow()

    def on_apply_all_panel_progressed(self, message: Progressed) -> None:
        rows = self._rows.values() if message.step_id is None else [self._rows.get(message.step_id)]
        for row in rows:
            for line in row.query(".progress-line") if row is not None else ():
                line.report(message.text, message.fraction)  # type: ignore[attr-defined]

    def on_apply_all_panel_step_skipped(self, message: StepSkipped) -> None:
        title = escape(self._title(message.step_id))
        after = ", ".join(escape(self._title(b)) for b in message.blocked)
        row = Vertical(
            Static(f"[b]{title}[/b] [dim]— not started: {after} did not succeed[/dim]"),
            classes="step-row",
        )
        self._above_running(row)

    def _above_running(self, row: Vertical) -> None:
        """Put a row that ended (or never started) above the rows still running: those stay
        together at the end, where the panel follows them, their progress side by side."""
        rows = self.query_one("#apply-all-steps", Vertical)
        running = [r for r in rows.children if r in self._rows.values()]
        if row.parent is None:
            rows.mount(row, before=running[0] if running else None)
        elif running and rows.children.index(row) > rows.children.index(running[0]):
            rows.move_child(row, before=running[0])
        self._follow()

    def _follow(self) -> None:
        """Keep the end of the list (the running steps) in view."""
        rows = self.query_one("#apply-all-steps", Vertical)
        if rows.children:
            self.call_after_refresh(rows.children[-1].scroll_visible, animate=False)

    def on_apply_all_panel_step_ended(self, message: StepEnded) -> None:
        # None: it failed before it started (the lock, a re-plan, a cancel)
        row = self._rows.pop(message.step_id, None) or Vertical(classes="step-row")
        self._above_running(row)
        row.query(".progress-line").remove()
        if message.failure is not None:
            row.mount(FailureView(message.failure.message, message.failure.entry))
        elif message.result is not None and message.result.ok and not message.result.applied:
            title = escape(self._title(message.step_id))
            row.remove_children()  # one dim line: the run's outcome is in the steps that changed
            row.add_class("quiet")
            row.mount(Static(f"[dim]= {title} — {escape(message.result.detail)}[/dim]"))
        else:
            assert message.result is not None
            self._made += len(message.result.applied)
            row.mount(result_view(self.ctx, message.step_id, message.result, message.confirmed))
        self.post_message(StepPanel.Busy(message.step_id, False))

    def on_apply_all_panel_finished(self, message: Finished) -> None:
        self.busy = ""
        self.app.refresh_bindings()
        if message.ok:
            self._summary(
                f"[b green]✔ Every step applied[/b green] — {self._made} change(s) made. "
                "Press [b]v[/b] to verify all."
            )
        else:
            self._summary(
                f"[b red]✘ Stopped[/b red] — {self._made} change(s) made; a step below failed "
                "(its guidance is under it) and the steps after it did not start. Fix it, then "
                "press [b]A[/b] to plan again."
            )

    def cancel(self) -> bool:
        """Stop the run at each running step's next progress report; none starts after."""
        if self.busy != "applying":
            return False
        self.workers.cancel_group(self, "apply")
        self.on_apply_all_panel_progressed(
            self.Progressed(None, "cancelling at the next safe point…", None)
        )
        return True

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        """A worker raised what no step expected: say so here, keep the app."""
        if event.state is not WorkerState.ERROR or event.worker.node is not self:
            return
        event.stop()
        self.busy = ""
        self.app.refresh_bindings()
        error = event.worker.error
        self._summary("[b red]Apply all stopped unexpectedly.[/b red]")
        self.query_one("#apply-all-steps", Vertical).mount(
            FailureView(f"{type(error).__name__}: {error}", None)
        )
