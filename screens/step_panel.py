"""One panel per step, rendering any ``Step``: purpose, state, plan diff, apply, checks, guidance.

All engine calls run in thread workers that post typed messages back, so the UI never waits
on Cloudflare, DNS or the keyring. Long applies can be cancelled between progress reports.
The app hands each panel the session's Context and its step (``connect``); the panel reports
up with messages (``StateChanged``, ``Applied``) and never reaches into the app. A worker
that fails unexpectedly ends in the failure view with its guidance, not in a crash.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual import work
from textual.app import ComposeResult
from textual.containers import Vertical, VerticalScroll
from textual.message import Message
from textual.widgets import Static
from textual.worker import Worker, WorkerState, get_current_worker

from screens.widgets import ChecksView, FactsView, FailureView, GuidanceBox, escape

if TYPE_CHECKING:
    from polaris_tui.context import Context
    from polaris_tui.runner import StepFailure, StepStatus, StepView, VerifyReport
    from polaris_tui.steps.base import ApplyResult, Change, Plan, Step
    from polaris_tui.steps.catalog import StepInfo
    from polaris_tui.troubleshooting import Entry


class OperationCancelled(Exception):
    """Raised from the progress callback when the operator cancels a running apply."""




class StepPanel(VerticalScroll):
    """The main pane for one step."""

    class Loaded(Message):
        def __init__(self, snapshot: StepView) -> None:
            super().__init__()
            self.snapshot = snapshot

    class Progressed(Message):
        def __init__(self, text: str, fraction: float | None) -> None:
            super().__init__()
            self.text = text
            self.fraction = fraction

    class Applied(Message):
        """An apply ended; it bubbles to the app so other steps are re-inspected."""

        def __init__(
            self, step_id: str, result: ApplyResult | None, failure: StepFailure | None
        ) -> None:
            super().__init__()
            self.step_id = step_id
            self.result = result
            self.failure = failure

        @property
        def changed_something(self) -> bool:
            return bool(self.result and self.result.ok and self.result.applied)

    class Checked(Message):
        def __init__(self, report: VerifyReport) -> None:
            super().__init__()
            self.report = report

    class StateChanged(Message):
        """Bubbles to the app so the sidebar icon follows the step's state."""

        def __init__(self, status: StepStatus) -> None:
            super().__init__()
            self.status = status

    def __init__(self, info: StepInfo, *, context_error: str = "") -> None:
        super().__init__(id=f"panel-{info.id}", classes="panel")
        self.info = info
        self.ctx: Context | None = None
        self.step: Step | None = None
        self.context_error = context_error
        self.snapshot: StepView | None = None
        self.busy = ""
        self.loaded_once = False
        self.apply_when_loaded = False
        self.confirmed_count = 0  # how many changes the operator confirmed for the last apply

    def connect(self, ctx: Context, step: Step) -> None:
        """The session's Context and this panel's step, handed down once they exist."""
        self.ctx, self.step = ctx, step
        self.context_error = ""

    def _engine(self) -> tuple[Context, Step]:
        """For workers, which start only once the panel is connected."""
        assert self.ctx is not None and self.step is not None
        return self.ctx, self.step

    def compose(self) -> ComposeResult:
        yield Static(
            f"[b]{escape(self.info.title)}[/b]  [dim]({self.info.id})[/dim]", classes="title"
        )
        yield Static(escape(self.info.purpose), classes="purpose")
        yield Static("Now", classes="heading")
        yield FactsView("Waiting for the connection…", id="facts")
        yield Static("Plan", classes="heading")
        yield Static("", id="plan-summary")
        yield Vertical(id="progress-area")  # above a long plan, so they are seen
        yield Vertical(id="outcome")
        yield Vertical(id="plan-area")
        yield Static("Checks", classes="heading")
        yield ChecksView(id="checks")

    def on_mount(self) -> None:
        if self.context_error:
            self.show_context_error(self.context_error)

    def show_context_error(self, text: str) -> None:
        self.context_error = text
        self.query_one(FactsView).update(
            f"[b red]Not connected:[/b red] {escape(text)}\nPress [b]s[/b] for settings."
        )

    # ── loading: inspect + plan ──────────────────────────────────────────────────────────────

    def load(self) -> None:
        """Re-inspect and re-plan this step on its own (the "Re-run" action)."""
        if self.ctx is None:
            return
        self.loaded_once = True
        self.query_one("#plan-summary", Static).update("[dim]inspecting and planning…[/dim]")
        self._inspect_and_plan()

    @work(thread=True, exclusive=True, group="inspect", exit_on_error=False)
    def _inspect_and_plan(self) -> None:
        from polaris_tui import runner

        ctx, step = self._engine()
        view = runner.load_step(ctx, step)
        if not get_current_worker().is_cancelled:
            self.post_message(self.Loaded(view))

    async def on_step_panel_loaded(self, message: Loaded) -> None:
        message.stop()
        snap = self.snapshot = message.snapshot
        self.query_one(FactsView).show(snap.status.summary, str(snap.status.state), snap.facts)
        summary = self.query_one("#plan-summary", Static)
        plan_area = self.query_one("#plan-area", Vertical)
        await plan_area.remove_children()
        pending = self.pending_changes
        if snap.failure is not None:
            summary.update("[b red]Could not plan this step.[/b red]")
            self._show_outcome(
                FailureView(snap.failure.message, snap.failure.entry, classes="plan-failure")
            )
        else:
            from screens.plan_view import PlanView

            for stale in self.query(".plan-failure"):
                stale.remove()
            noop = len(snap.changes) - len(pending)
            summary.update(
                f"[b]{len(pending)} change(s) pending[/b]"
                + (f", {noop} already right" if noop else "")
                + (" — press [b]a[/b] to apply" if pending else " — nothing to do")
            )
            if snap.changes:
                await plan_area.mount(PlanView(snap.changes, classes="plan"))
        self.post_message(self.StateChanged(snap.status))
        self.app.refresh_bindings()
        if self.apply_when_loaded:
            self.apply_when_loaded = False
            if pending:
                self.request_apply()

    @property
    def pending_changes(self) -> list[Change]:
        plan = self.snapshot.plan if self.snapshot else None
        return plan.pending if plan else []

    # ── apply ────────────────────────────────────────────────────────────────────────────────

    def request_apply(self) -> None:
        """Show the confirmation with the exact plan; apply only what was confirmed."""
        if self.busy:
            self.notify(f"{self.info.title}: still {self.busy}", severity="warning")
            return
        changes = self.pending_changes
        if not changes:
            why = (
                "the plan could not be made (see above)"
                if self.snapshot is not None and self.snapshot.failure is not None
                else "every change is already in place"
                if self.snapshot is not None
                else "the plan is not ready yet"
            )
            self.notify(f"Nothing to apply: {why}.", title=self.info.title)
            return
        ctx = self.ctx
        assert ctx is not None
        from screens.confirm import confirm_apply

        screen = confirm_apply(self.info.title, changes, ctx.config.domain)
        shown = self.snapshot.plan if self.snapshot else None
        assert shown is not None

        def after(confirmed: bool | None) -> None:
            if confirmed:
                self.confirmed_count = len(changes)
                self._begin("applying")
                self._apply(shown, allow_delete=screen.require_text is not None)

        self.app.push_screen(screen, after)

    @work(thread=True, exclusive=True, group="apply", exit_on_error=False)
    def _apply(self, confirmed: Plan, allow_delete: bool) -> None:
        """Apply the plan the operator confirmed; the runner refuses it if the world moved."""
        from polaris_tui import runner

        ctx, step = self._engine()
        worker = get_current_worker()

        def progress(text: str, fraction: float | None = None) -> None:
            if worker.is_cancelled:
                raise OperationCancelled("cancelled by the operator")
            self.post_message(self.Progressed(text, fraction))

        from polaris_tui.apply_lock import ApplyLocked, apply_lock

        try:
            with apply_lock(ctx.state.path.parent, f"polaris-tui TUI: apply {step.id}"):
                result = runner.apply(
                    ctx,
                    step,
                    confirmed,
                    confirm=lambda _step, _changes: True,  # confirmed on screen already
                    allow_delete=allow_delete,
                    progress=progress,
                )
        except runner.StepFailure as failure:
            self.post_message(self.Applied(step.id, None, failure))
            return
        except ApplyLocked as locked:
            self.post_message(
                self.Applied(step.id, None, runner.StepFailure(step.id, locked.message))
            )
            return
        self.post_message(self.Applied(step.id, result, None))

    def on_step_panel_progressed(self, message: Progressed) -> None:
        message.stop()
        self._report(message.text, message.fraction)

    def on_step_panel_applied(self, message: Applied) -> None:
        if message.step_id != self.info.id:
            return
        self._end()
        if message.failure is not None:
            self._show_outcome(FailureView(message.failure.message, message.failure.entry))
            self.notify(f"{self.info.title}: apply failed", severity="error")
        else:
            result = message.result
            assert result is not None
            self._show_outcome(self._result_view(result))
        self.load()
        if message.result is not None and message.result.ok:
            self.run_checks()

    def _result_view(self, result: ApplyResult) -> Vertical:
        """Applied, partly applied (say what did happen) or not applied, with the guidance
        for what stopped it."""
        from polaris_tui import troubleshooting
        from screens.wording import for_tui

        made, confirmed = len(result.applied), self.confirmed_count
        count = f"{made} of {confirmed} confirmed change(s) made" if confirmed else ""
        if result.ok:
            head = "[b green]✔ Applied[/b green]"
        elif made:
            head = "[b yellow]◐ Partly applied[/b yellow]"
        else:
            head = "[b red]✘ Not applied[/b red]"
        detail = result.detail or ("ok" if result.ok else "failed")
        lines = [f"{head} — {escape(for_tui(detail))}" + (f" ({count})" if count else "")]
        lines += [f"  {escape(for_tui(m))}" for m in result.messages]
        view = Vertical(Static("\n".join(lines)), classes="result")
        ctx = self.ctx
        if not result.ok and ctx is not None:
            entry = troubleshooting.lookup(
                self.info.id, values=troubleshooting.config_values(ctx.config), message=detail
            )
            if entry is not None:
                view.compose_add_child(GuidanceBox.from_entry(entry))
        return view

    # ── checks ───────────────────────────────────────────────────────────────────────────────

    def run_checks(self) -> None:
        if self.ctx is None:
            return
        self.query_one(ChecksView).show([], empty="checking…")
        self._verify()

    @work(thread=True, exclusive=True, group="verify", exit_on_error=False)
    def _verify(self) -> None:
        from polaris_tui import runner

        ctx, step = self._engine()
        report = runner.verify(ctx, [step])
        if not get_current_worker().is_cancelled:
            self.post_message(self.Checked(report))

    def on_step_panel_checked(self, message: Checked) -> None:
        message.stop()
        self.query_one(ChecksView).show(message.report.checks)

    # ── unexpected failures ─────────────────────────────────────────────────────────────────

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        """A worker raised what no step expected: show it with its guidance, keep the app."""
        if event.state is not WorkerState.ERROR or event.worker.node is not self:
            return
        event.stop()
        error = event.worker.error
        assert error is not None
        message, entry = self._describe(error)
        what = {"apply": "apply", "verify": "checks"}.get(event.worker.group, "inspect")
        if what == "apply":
            self._end()
        elif what == "verify":
            self.query_one(ChecksView).show([], empty="The checks did not run.")
        else:
            self.query_one("#plan-summary", Static).update(
                "[b red]Could not inspect this step.[/b red]"
            )
        self._show_outcome(FailureView(message, entry, classes="plan-failure"))
        self.notify(f"{self.info.title}: {what} failed", severity="error")

    def _describe(self, error: BaseException) -> tuple[str, Entry | None]:
        """The engine's description of an error (no secrets), and its troubleshooting entry."""
        from polaris_tui import runner

        if self.ctx is None:
            return f"{type(error).__name__}: {error}", None
        from polaris_tui.errors import PolarisError

        failure = runner.describe_error(self.ctx, self.info.id, error)
        message = failure.message
        if failure.entry is None and isinstance(error, PolarisError) and error.guidance:
            message = f"{message}\n{error.guidance}"
        return message, failure.entry

    # ── helpers ──────────────────────────────────────────────────────────────────────────────

    def cancel(self) -> bool:
        """Cancel running work; an apply stops at its next progress report."""
        if not self.busy:
            return False
        self.workers.cancel_group(self, "apply")
        self._report("cancelling at the next safe point…", None)
        return True

    def _begin(self, what: str) -> None:
        self.busy = what
        self.app.refresh_bindings()
        self.query_one("#outcome", Vertical).remove_children()
        from screens.progress import ProgressLine

        line = ProgressLine(f"{what} {self.info.title}…")
        self.query_one("#progress-area", Vertical).mount(line)
        self.call_after_refresh(line.scroll_visible, animate=False)

    def _report(self, text: str, fraction: float | None) -> None:
        for line in self.query(".progress-line"):
            line.report(text, fraction)  # type: ignore[attr-defined]

    def _end(self) -> None:
        self.busy = ""
        self.app.refresh_bindings()
        self.query_one("#progress-area", Vertical).remove_children()

    def _show_outcome(self, widget: Static | Vertical) -> None:
        outcome = self.query_one("#outcome", Vertical)
        outcome.remove_children()
        outcome.mount(widget)
