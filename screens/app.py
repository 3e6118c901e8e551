"""The Textual App: sidebar of the eight steps, a main pane, header and footer.

``create_app`` is the one factory the console script and the tests share.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

from textual import work
from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, VerticalScroll
from textual.widgets import Footer, Header, Label, ListItem, ListView, Static

from polaris_tui.config import ConfigError, load_config
from polaris_tui.paths import default_config_path
from polaris_tui.steps.registry import all_steps
from screens.settings import SettingsScreen

if TYPE_CHECKING:
    from polaris_tui.context import Context
    from polaris_tui.runner import StepStatus

STATE_ICONS = {"done": "✔", "pending": "•", "drift": "≠", "failed": "✘", "blocked": "⊘"}


class StepItem(ListItem):
    """One sidebar row: state icon and step title."""

    def __init__(self, step_id: str, title: str) -> None:
        super().__init__(id=f"step-{step_id}")
        self.step_id = step_id
        self.title = title
        self.state = "…"

    def compose(self) -> ComposeResult:
        yield Label(f"  {self.title}", id="label")

    def set_state(self, state: str) -> None:
        self.state = state
        self.set_class(True, f"state-{state}")
        self.query_one(Label).update(f"{STATE_ICONS.get(state, '?')} {self.title}")


class PolarisApp(App[int]):
    CSS_PATH = "app.tcss"
    TITLE = "polaris-tui"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("s", "settings", "Settings", id="settings", tooltip="Edit the config"),
        Binding("r", "refresh", "Refresh", id="refresh", tooltip="Re-inspect every step"),
        Binding("q", "quit", "Quit", id="quit", tooltip="Leave polaris-tui"),
    ]

    def __init__(
        self,
        *,
        config_path: Path | None = None,
        sandbox: bool = False,
        sandbox_dir: Path | None = None,
    ) -> None:
        super().__init__()
        self.config_path = config_path
        self.sandbox = sandbox
        self.sandbox_dir = sandbox_dir
        self.ctx: Context | None = None
        self._steps = all_steps()

    def compose(self) -> ComposeResult:
        yield Header(show_clock=False)
        if self.sandbox:
            yield Static(
                "SANDBOX — a local stand-in for Cloudflare; nothing real is changed",
                id="sandbox-marker",
            )
        with Horizontal():
            yield ListView(*(StepItem(s.id, s.title) for s in self._steps), id="sidebar")
            with VerticalScroll(id="main"):
                yield Static("", id="step-title")
                yield Static("", id="step-purpose")
                yield Static("", id="step-state")
        yield Footer()

    def on_mount(self) -> None:
        self.sub_title = "SANDBOX" if self.sandbox else ""
        self._show(self._steps[0].id)
        if not self.sandbox and not self._effective_config_path().exists():
            self.push_screen(SettingsScreen(self._effective_config_path()), self._after_settings)
            return
        self.load_context()

    def _effective_config_path(self) -> Path:
        return self.config_path or default_config_path()

    def _after_settings(self, saved: bool | None) -> None:
        if saved:
            self.load_context()

    @work(thread=True, exclusive=True, group="context")
    def load_context(self) -> None:
        """Build the engine context (and start the sandbox) off the UI thread."""
        from polaris_tui import runner

        try:
            if self.sandbox:
                from polaris_tui.context import sandbox_context
                from polaris_tui.sandbox import Sandbox, default_sandbox_dir

                box = Sandbox(self.sandbox_dir or default_sandbox_dir())
                ctx = sandbox_context(box, box.start())
                self.call_from_thread(setattr, self, "_sandbox_handle", box)
            else:
                from polaris_tui.context import build_context

                load_config(self._effective_config_path())
                ctx = build_context(self._effective_config_path())
        except ConfigError as exc:
            self.call_from_thread(self.notify, str(exc), title="Config", severity="error")
            return
        self.ctx = ctx
        self.call_from_thread(setattr, self, "title", f"polaris-tui — {ctx.config.domain}")
        rows = runner.status(ctx)
        self.call_from_thread(self._update_states, rows)

    def _update_states(self, rows: list[StepStatus]) -> None:
        for row in rows:
            self.query_one(f"#step-{row.id}", StepItem).set_state(str(row.state))
        self._statuses = {r.id: r for r in rows}
        highlighted = self.query_one("#sidebar", ListView).highlighted_child
        if isinstance(highlighted, StepItem):
            self._show(highlighted.step_id)

    def _show(self, step_id: str) -> None:
        step = next(s for s in self._steps if s.id == step_id)
        self.query_one("#step-title", Static).update(f"[b]{step.title}[/b]  ({step.id})")
        self.query_one("#step-purpose", Static).update(step.purpose)
        status = getattr(self, "_statuses", {}).get(step_id)
        text = f"State: {status.state} — {status.summary}" if status else "State: inspecting…"
        self.query_one("#step-state", Static).update(text)

    def on_list_view_highlighted(self, event: ListView.Highlighted) -> None:
        if isinstance(event.item, StepItem):
            self._show(event.item.step_id)

    def action_settings(self) -> None:
        self.push_screen(SettingsScreen(self._effective_config_path()), self._after_settings)

    def action_refresh(self) -> None:
        self.load_context()

    def on_unmount(self) -> None:
        box = getattr(self, "_sandbox_handle", None)
        if box is not None:
            box.stop()


def create_app(
    *, config_path: Path | None = None, sandbox: bool = False, sandbox_dir: Path | None = None
) -> PolarisApp:
    return PolarisApp(config_path=config_path, sandbox=sandbox, sandbox_dir=sandbox_dir)
