"""The Textual App: sidebar of the eight steps (plus verify-all and history), a main pane,
header with the active domain and footer with the keys that matter where the operator is.

``create_app`` is the one factory the console script and the tests share. Nothing heavy is
imported before the first frame: the sidebar and first panel are drawn from the step
catalog, and the engine context, the step objects (and the sandbox) are built in a thread
worker once the first frame is on screen.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

from textual import events, work
from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.screen import ModalScreen
from textual.widgets import ContentSwitcher, Footer, Header, Label, ListItem, ListView, Static
from textual.worker import Worker, WorkerState

from polaris_tui.errors import ConfigError, PolarisError
from polaris_tui.steps.catalog import STEPS, StepInfo
from screens.preflight_panel import PreflightPanel
from screens.step_panel import StepPanel

if TYPE_CHECKING:
    from textual.timer import Timer

    from polaris_tui.config import Config
    from polaris_tui.context import Context
    from polaris_tui.runner import StepStatus
    from polaris_tui.session import Session, SessionOptions
    from polaris_tui.steps.base import Change, Check, Step
    from screens.apply_all import ApplyAllPanel
    from screens.commands import PolarisCommands
    from screens.history import HistoryPanel
    from screens.rotation import Mode
    from screens.verify import VerifyPanel

STATE_ICONS = {"done": "✔", "pending": "•", "drift": "≠", "failed": "✘", "blocked": "⊘"}
SPINNER = "⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏"  # the running step's icon, one frame per SPIN_SECONDS
SPIN_SECONDS = 0.1
EXIT_AFTER_FIRST_FRAME = "POLARIS_TUI_EXIT_AFTER_FIRST_FRAME"


def _commands_provider() -> type[PolarisCommands]:
    """Imported when the palette first opens, not before the first frame."""
    from screens.commands import PolarisCommands

    return PolarisCommands


class NavItem(ListItem):
    """One sidebar row; ``target`` is the id of the panel it shows."""

    def __init__(self, target: str, title: str, *, item_id: str | None = None) -> None:
        super().__init__(id=item_id or f"nav-{target}")
        self.target = target
        self.title = title

    def compose(self) -> ComposeResult:
        yield Label(self.label_text(), id="label")

    def label_text(self) -> str:
        return f"  {self.title}"


class StepItem(NavItem):
    """A step row: state icon and title."""

    def __init__(self, step_id: str, title: str) -> None:
        super().__init__(f"panel-{step_id}", title, item_id=f"step-{step_id}")
        self.step_id = step_id
        self.state = "…"
        self.failing = False  # its newest checks had a failure: never ✔ over a failing check
        self.frame: int | None = None  # the spinner's frame while the step runs

    @property
    def shown(self) -> str:
        return "failed" if self.failing and self.state == "done" else self.state

    def label_text(self) -> str:
        icon = STATE_ICONS.get(self.shown, "…") if self.frame is None else SPINNER[self.frame]
        return f"{icon} {self.title}"

    def spin(self, running: bool) -> None:
        """Start, advance or stop the spinner that replaces the icon while the step runs."""
        if not running:
            self.frame = None
        else:
            self.frame = 0 if self.frame is None else (self.frame + 1) % len(SPINNER)
        self.set_class(running, "running")
        self.query_one(Label).update(self.label_text())

    def set_state(self, state: str, *, failing: bool | None = None) -> None:
        """The state of the newest observation; ``failing`` from the newest checks."""
        self.state = state
        if failing is not None:
            self.failing = failing
        for old in STATE_ICONS:
            self.set_class(old == self.shown, f"state-{old}")
        self.query_one(Label).update(self.label_text())


class PolarisApp(App[int]):
    CSS_PATH = "app.tcss"
    TITLE = "polaris-tui"
    COMMANDS: ClassVar = App.COMMANDS | {_commands_provider}
    # the footer shows keys in this order and cuts the rest at narrow widths: most used first
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("a", "apply", "Apply", id="apply", tooltip="Apply this step's plan (confirm)"),
        Binding("c", "check", "Checks", id="check", tooltip="Run this step's checks"),
        Binding("x", "cancel", "Cancel", id="cancel", tooltip="Stop the running apply"),
        Binding("v", "verify_all", "Verify all", id="verify-all", tooltip="Run every check"),
        Binding("s", "settings", "Settings", id="settings", tooltip="Config and credentials"),
        Binding("r", "refresh", "Refresh", id="refresh", tooltip="Re-inspect every step"),
        Binding("q", "quit", "Quit", id="quit", tooltip="Leave polaris-tui"),
        Binding(
            "ctrl+r",
            "rotate",
            "Rotate",
            id="rotate",
            tooltip="Secret rotation (graceful or emergency)",
            priority=True,
        ),
        Binding(
            "A", "apply_all", "Apply all", id="apply-all", tooltip="Plan every step, apply in order"
        ),
        Binding("k", "secret", "Secret", id="secret", tooltip="Show the signing secret (masked)"),
        Binding("p", "rerun", "Re-run", id="rerun", tooltip="Re-inspect and re-plan this step"),
        Binding("h", "history", "History", id="history", tooltip="The journal of applies"),
        Binding("b", "toggle_sidebar", "Sidebar", id="sidebar", tooltip="Hide or show the steps"),
        Binding("f1", "help", "Help", id="help", tooltip="Keys and what the step icons mean"),
    ]
    HORIZONTAL_BREAKPOINTS: ClassVar[list[tuple[int, str]]] = [(0, "-narrow"), (100, "-wide")]
    STEP_ACTIONS: ClassVar[frozenset[str]] = frozenset({"apply", "rerun", "check", "cancel"})
    EVERYWHERE: ClassVar[frozenset[str]] = frozenset({"help", "quit"})  # on full screens too

    class ContextReady(Message):
        def __init__(self, ctx: Context, steps: list[Step]) -> None:
            super().__init__()
            self.ctx = ctx
            self.steps = steps

    class ContextFailed(Message):
        def __init__(self, title: str, text: str) -> None:
            super().__init__()
            self.title = title
            self.text = text

    class StatusesRead(Message):
        def __init__(self, rows: list[tuple[StepStatus, list[Change] | None]]) -> None:
            super().__init__()
            self.rows = rows  # each step's status and plan (None: it could not plan)

    class SecretRead(Message):
        def __init__(self, secret: str | None) -> None:
            super().__init__()
            self.secret = secret

    def __init__(self, options: SessionOptions) -> None:
        super().__init__()
        self.options = options
        self.sandbox = options.sandbox
        self.ctx: Context | None = None
        self.steps: tuple[StepInfo, ...] = STEPS
        self._engine_steps: dict[str, Step] = {}  # built with the context, after frame one
        self.session: Session | None = None
        self._preferences: Config | None = None
        self._stale: set[str] = set()
        self._spinning: set[str] = set()  # steps whose sidebar icon spins
        self._spinner: Timer | None = None
        self.context_error = ""

    # ── layout ───────────────────────────────────────────────────────────────────────────────

    def compose(self) -> ComposeResult:
        yield Header(show_clock=False)
        if self.sandbox:
            yield Static(
                "SANDBOX — a local stand-in for Cloudflare; nothing real is changed",
                id="sandbox-marker",
            )
        with Horizontal(id="body"):
            with Vertical(id="sidebar-column"):
                yield PreflightPanel()
                yield ListView(
                    *(StepItem(s.id, s.title) for s in self.steps),
                    NavItem("panel-apply-all", "▶ Apply all"),
                    NavItem("panel-verify", "✓ Verify all"),
                    NavItem("panel-history", "≡ History"),
                    id="sidebar",
                )
            with ContentSwitcher(id="main", initial=f"panel-{self.steps[0].id}"):
                yield StepPanel(self.steps[0])  # the others are mounted when first shown
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self.sub_title = "SANDBOX" if self.sandbox else ""
        self.watch(self, "theme", self._theme_chosen, init=False)
        if not self.sandbox and self._effective_config_path().exists():
            from polaris_tui.config import load_config  # the sandbox has its own, read later

            with contextlib.suppress(PolarisError):  # reported when the context loads
                self._apply_preferences(load_config(self._effective_config_path()))

    def on_ready(self, event: events.Ready) -> None:
        """The first frame is on screen: now start the engine (or exit, for benchmarks)."""
        if os.environ.get(EXIT_AFTER_FIRST_FRAME) == "1":
            self.exit(0)
            return
        if not self.sandbox and not self._effective_config_path().exists():
            self.action_settings()
            return
        self.load_context()

    def _effective_config_path(self) -> Path:
        return self.options.config_file

    def _apply_preferences(self, config: Config) -> None:
        """Theme and keymap from the config; bad values are named with their fix."""
        if config == self._preferences:
            return
        self._preferences = config
        if config.theme in self.available_themes:
            self.theme = config.theme
        else:
            self.notify(
                f"config field 'theme' = {config.theme!r} is unknown: use one of "
                + ", ".join(sorted(self.available_themes)),
                title="Config",
                severity="warning",
                markup=False,
            )
        keymap = dict(config.keymap)
        if keymap:  # naming every binding id imports every screen: only for a keymap to check
            known = binding_ids()
            unknown = sorted(set(keymap) - known)
            if unknown:
                self.notify(
                    f"config field 'keymap' names unknown binding id(s) {', '.join(unknown)}: "
                    f"use one of {', '.join(sorted(known))}",
                    title="Config",
                    severity="warning",
                    markup=False,
                )
            keymap = {k: v for k, v in keymap.items() if k in known}
        self.set_keymap(keymap)

    def _theme_chosen(self, theme: str) -> None:
        """A theme picked in the palette is the operator's preference: keep it in the config
        (once there is one; the first-run form creates it)."""
        if self._preferences is not None and self._preferences.theme == theme:
            return  # set from the config itself
        path = self.ctx.config_path if self.ctx else None
        if path is None and not self.sandbox:
            path = self._effective_config_path()
        if path is not None and path.exists():
            self._save_theme(path, theme)

    @work(thread=True, exclusive=True, group="theme", exit_on_error=False)
    def _save_theme(self, path: Path, theme: str) -> None:
        import dataclasses

        from polaris_tui.config import set_value

        try:
            config = set_value(path, "theme", theme)
        except (ConfigError, OSError) as exc:
            self.call_from_thread(
                self.notify, f"The theme was not saved: {exc}", title="Config", markup=False
            )
            return
        if config is not None and self._preferences is not None:
            self._preferences = dataclasses.replace(self._preferences, theme=theme)

    # ── engine context ───────────────────────────────────────────────────────────────────────

    @work(thread=True, exclusive=True, group="context", exit_on_error=False)
    def load_context(self) -> None:
        """Build the engine context and step objects (and start the sandbox) off the UI
        thread: the step modules are imported here, after the first frame."""
        from polaris_tui.session import open_session
        from polaris_tui.steps.registry import all_steps
        from polaris_tui.vault import VaultError

        try:
            running = self.session.sandbox if self.session else None
            session = open_session(self.options, running=running)
            steps = all_steps()
        except (PolarisError, VaultError) as exc:
            self.post_message(self.ContextFailed("Config", str(exc)))
            return
        except Exception as exc:  # a start-up failure is shown, never a crash
            self.post_message(self.ContextFailed("Start-up", f"{type(exc).__name__}: {exc}"))
            return
        self.session = session
        for notice in session.notices:
            self.call_from_thread(self.notify, notice, title="Sandbox", markup=False)
        self.post_message(self.ContextReady(session.ctx, steps))

    def on_polaris_app_context_ready(self, message: ContextReady) -> None:
        self.ctx = message.ctx
        self._engine_steps = {s.id: s for s in message.steps}
        self.context_error = ""
        self.title = f"polaris-tui — {self.ctx.config.domain}"
        self._apply_preferences(self.ctx.config)
        for panel in self.query(".panel"):
            self._connect(panel)  # type: ignore[arg-type]
        self._reconnect_rotation()
        self._stale = {p.id for p in self.query(".panel") if p.id}
        self._show_current()
        self._observed()
        self.query_one(PreflightPanel).run(self.ctx)

    def _connect(self, panel: StepPanel | VerifyPanel | HistoryPanel | ApplyAllPanel) -> None:
        """Hand a panel what it works with: the session's Context (and its step, or all)."""
        if self.ctx is None:
            return
        if isinstance(panel, StepPanel):
            panel.connect(self.ctx, self._engine_steps[panel.info.id])
        else:
            panel.connect(self.ctx, list(self._engine_steps.values()))

    def _reconnect_rotation(self) -> None:
        from screens.rotation import RotationScreen

        for screen in self.screen_stack:
            if isinstance(screen, RotationScreen):
                screen.connect(self.ctx)

    def on_polaris_app_context_failed(self, message: ContextFailed) -> None:
        self.notify(message.text, title=message.title, severity="error", timeout=30, markup=False)
        if message.title != "Keyring":
            self.context_error = message.text
            for panel in self.query(StepPanel):
                panel.show_context_error(message.text)

    @work(thread=True, exclusive=True, group="statuses", exit_on_error=False)
    def refresh_statuses(self) -> None:
        """Every step's status and plan from one observation, so an icon never says done
        while the plan has changes."""
        from polaris_tui import runner
        from polaris_tui.vault import VaultError

        ctx = self.ctx
        assert ctx is not None
        steps = list(self._engine_steps.values())
        try:
            ctx.vault.ensure_usable()
        except VaultError:  # every step blocked, said once by the runner
            self.post_message(self.StatusesRead([(s, []) for s in runner.status(ctx, steps)]))
            return

        views = runner.load_each(ctx, steps)
        self.post_message(
            self.StatusesRead([(v.status, None if v.failure else v.changes) for v in views])
        )

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        """A worker of the app's own failed unexpectedly (panels handle theirs): say so and
        keep running; the operator can retry with r."""
        if event.state is not WorkerState.ERROR or event.worker.node is not self:
            return
        error = event.worker.error
        title = getattr(error, "title", "Unexpected error")
        self.notify(
            f"{type(error).__name__}: {error}", title=title, severity="error", markup=False
        )

    def on_polaris_app_statuses_read(self, message: StatusesRead) -> None:
        from screens.step_panel import shown_state

        for status, changes in message.rows:
            self.query_one(f"#step-{status.id}", StepItem).set_state(shown_state(status, changes))

    def on_step_panel_state_changed(self, message: StepPanel.StateChanged) -> None:
        self.query_one(f"#step-{message.status.id}", StepItem).set_state(message.shown)

    def on_step_panel_checked(self, message: StepPanel.Checked) -> None:
        self._checks_ran(message.report.checks)

    def on_verify_panel_finished(self, message: VerifyPanel.Finished) -> None:
        self._checks_ran(message.report.checks)

    def _checks_ran(self, checks: list[Check]) -> None:
        """A step whose newest checks include a failure never shows ✔."""
        for step_id in {c.step for c in checks}:
            if items := self.query(f"#step-{step_id}"):
                item = items.first(StepItem)
                failing = any(not c.ok for c in checks if c.step == step_id)
                item.set_state(item.state, failing=failing)

    def on_step_panel_busy(self, message: StepPanel.Busy) -> None:
        items = self.query(f"#step-{message.step_id}")
        if not items:
            return
        item = items.first(StepItem)
        if message.busy:
            if self._spinner is None:
                self._spinner = self.set_interval(SPIN_SECONDS, self._spin)
            self._spinning.add(message.step_id)
        else:
            self._spinning.discard(message.step_id)
            if not self._spinning and self._spinner is not None:
                self._spinner.stop()
                self._spinner = None
        item.spin(message.busy)

    def _spin(self) -> None:
        for step_id in self._spinning:
            self.query_one(f"#step-{step_id}", StepItem).spin(True)

    def on_apply_all_panel_step_ended(self, message: ApplyAllPanel.StepEnded) -> None:
        """The icon follows the run; the observation at the end has the last word."""
        if items := self.query(f"#step-{message.step_id}"):
            ok = message.result is not None and message.result.ok
            items.first(StepItem).set_state("done" if ok else "failed")

    def on_apply_all_panel_finished(self, message: ApplyAllPanel.Finished) -> None:
        self.after_apply(None)
        if "secret" in message.changed:
            self._read_secret()  # shown once, as after applying the secret step alone

    def on_step_panel_applied(self, message: StepPanel.Applied) -> None:
        if message.changed_something:
            self.after_apply(message.step_id)

    def after_apply(self, step_id: str | None) -> None:
        """Other steps may depend on what just changed: re-inspect them when next shown
        (every step after apply-all, ``step_id`` None)."""
        self._stale = {p.id for p in self.query(".panel") if p.id} - {f"panel-{step_id}"}
        self._observed()
        if step_id == "secret":
            self._read_secret()

    # ── navigation ───────────────────────────────────────────────────────────────────────────

    @property
    def current_panel(self) -> StepPanel | VerifyPanel | HistoryPanel | ApplyAllPanel | None:
        current = self.query_one(ContentSwitcher).current
        return self.query_one(f"#{current}") if current else None  # type: ignore[return-value]

    async def on_list_view_highlighted(self, event: ListView.Highlighted) -> None:
        if isinstance(event.item, NavItem):
            await self._open(event.item.target)

    def _make_panel(self, panel_id: str) -> StepPanel | VerifyPanel | HistoryPanel | ApplyAllPanel:
        panel: StepPanel | VerifyPanel | HistoryPanel | ApplyAllPanel
        if panel_id == "panel-apply-all":
            from screens.apply_all import ApplyAllPanel

            panel = ApplyAllPanel()
        elif panel_id == "panel-verify":
            from screens.verify import VerifyPanel

            panel = VerifyPanel()
        elif panel_id == "panel-history":
            from screens.history import HistoryPanel

            panel = HistoryPanel()
        else:
            info = next(s for s in self.steps if f"panel-{s.id}" == panel_id)
            panel = StepPanel(info, context_error=self.context_error)
        self._connect(panel)
        return panel

    async def _open(self, panel_id: str) -> None:
        """Show a panel, mounting it the first time it is needed."""
        switcher = self.query_one(ContentSwitcher)
        if switcher.current == panel_id and self.ctx is None:
            return  # the start-up highlight: nothing to change before the first frame
        if not switcher.query_children(f"#{panel_id}"):
            await switcher.mount(self._make_panel(panel_id))
        switcher.current = panel_id
        self._show_current()
        self.refresh_bindings()

    def _show_current(self) -> None:
        from screens.history import HistoryPanel

        panel = self.current_panel
        if panel is None or self.ctx is None:
            return
        stale = panel.id in self._stale
        self._stale.discard(panel.id or "")
        if isinstance(panel, StepPanel) and (stale or not panel.loaded_once):
            panel.load()
        elif isinstance(panel, HistoryPanel):
            panel.reload()

    async def select(self, panel_id: str) -> None:
        """Move the sidebar to a panel and show it."""
        sidebar = self.query_one("#sidebar", ListView)
        for index, item in enumerate(sidebar.children):
            if isinstance(item, NavItem) and item.target == panel_id:
                sidebar.index = index
        await self._open(panel_id)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        own = {b.action for b in self.BINDINGS if isinstance(b, Binding)}
        if action in own and self.screen is not self.screen_stack[0]:
            # another screen is in front: the runbook's keys are not its keys
            return action in self.EVERYWHERE and not isinstance(self.screen, ModalScreen)
        panel = self.current_panel
        if action == "cancel" and getattr(panel, "busy", "") == "applying":
            return True  # apply-all's run
        if action in self.STEP_ACTIONS:
            if not isinstance(panel, StepPanel):
                return False
            if action == "cancel":
                return bool(panel.busy)
            if action == "apply":  # with nothing to apply, `a` still says so
                return None if panel.busy else True
        if action == "secret":
            return isinstance(panel, StepPanel) and panel.info.id == "secret"
        return True

    # ── actions ──────────────────────────────────────────────────────────────────────────────

    def _step_panel(self) -> StepPanel | None:
        panel = self.current_panel
        return panel if isinstance(panel, StepPanel) and self.ctx is not None else None

    def action_apply(self) -> None:
        if panel := self._step_panel():
            panel.request_apply()

    def action_rerun(self) -> None:
        if panel := self._step_panel():
            panel.load()

    def action_check(self) -> None:
        if panel := self._step_panel():
            panel.run_checks()

    def action_cancel(self) -> None:
        from screens.apply_all import ApplyAllPanel

        panel = self.current_panel
        if isinstance(panel, StepPanel | ApplyAllPanel) and panel.cancel():
            title = panel.info.title if isinstance(panel, StepPanel) else "Apply all"
            self.notify("Cancelling at the next safe point.", title=title)

    async def action_apply_all(self) -> None:
        """Plan every step, confirm once, apply them over the dependency graph."""
        from screens.apply_all import ApplyAllPanel

        if self.ctx is None:
            self.notify("Not connected yet: nothing can be planned.", severity="warning")
            return
        await self.select("panel-apply-all")
        self.query_one(ApplyAllPanel).start()

    async def action_run_step(self, step_id: str) -> None:
        """From the command palette: open the step and ask to apply its plan."""
        await self.select(f"panel-{step_id}")
        panel = self.query_one(f"#panel-{step_id}", StepPanel)
        if panel.pending_changes:
            panel.request_apply()
        else:
            panel.apply_when_loaded = True

    async def action_verify_all(self) -> None:
        from screens.verify import VerifyPanel

        await self.select("panel-verify")
        self.query_one(VerifyPanel).run()

    async def action_history(self) -> None:
        await self.select("panel-history")

    def action_refresh(self) -> None:
        if self.ctx is None:
            self.load_context()
            return
        self._stale = {p.id for p in self.query(".panel") if p.id}
        self._show_current()
        self._observed()

    def _observed(self) -> None:
        """A new observation of every step: the icons follow it, older verify results are
        marked stale (a step panel marks its own when it reloads)."""
        import time

        from screens.verify import VerifyPanel

        self.refresh_statuses()
        for panel in self.query(VerifyPanel):
            panel.observed(time.time())

    def action_settings(self) -> None:
        from screens.settings import SettingsScreen

        if self.sandbox and self.ctx is None:
            self.notify("The sandbox is still starting.", severity="warning")
            return
        path = self.ctx.config_path if self.ctx else self._effective_config_path()
        vault = self.ctx.vault if self.ctx else None
        self.push_screen(SettingsScreen(path, vault), self._after_settings)

    def _after_settings(self, saved: bool | None) -> None:
        if saved:
            self.load_context()

    def action_destroy(self) -> None:
        """From the command palette: plan every teardown, confirm by the domain, remove."""
        if self.ctx is not None:
            from screens.destroy import start

            start(self, self.ctx)

    def action_toggle_sidebar(self) -> None:
        """More room for the plan on a small terminal; the palette still reaches every step."""
        sidebar = self.query_one("#sidebar", ListView)
        sidebar.display = not sidebar.display
        if not sidebar.display and (panel := self.current_panel) is not None:
            panel.focus()

    def action_help(self) -> None:
        from screens.help import HelpScreen

        self.push_screen(HelpScreen(dict(self.screen.active_bindings)))

    def action_rotate(self) -> None:
        self.action_open_rotation()

    def action_open_rotation(self, mode: Mode | None = None) -> None:
        from screens.rotation import RotationScreen

        screen = self.screen
        if not isinstance(screen, RotationScreen):
            screen = RotationScreen(self.ctx)
            self.push_screen(screen)
        if mode is not None:
            self.call_after_refresh(screen.action_rotate, mode)

    def action_secret(self) -> None:
        if self.ctx is not None:
            self._read_secret()

    def action_show_secret(self) -> None:
        """From the palette, on any panel (the k key belongs to the secret step's panel)."""
        self.action_secret()

    @work(thread=True, exclusive=True, group="secret", exit_on_error=False)
    def _read_secret(self) -> None:
        from polaris_tui.vault import VaultError

        assert self.ctx is not None
        try:
            secret = self.ctx.vault.get("polaris-secret-a")
        except VaultError as exc:
            self.post_message(self.ContextFailed("Keyring", str(exc)))
            return
        self.post_message(self.SecretRead(secret))

    def on_polaris_app_secret_read(self, message: SecretRead) -> None:
        from screens.secret import SecretScreen

        if message.secret:
            self.push_screen(SecretScreen(message.secret))
        else:
            self.notify("No signing secret in the keyring yet: apply the secret step.")

    async def action_quit(self) -> None:
        busy = [p.info.title for p in self.query(StepPanel) if p.busy]
        if not busy:
            self.exit(0)
            return
        from screens.confirm import ConfirmScreen

        def after(ok: bool | None) -> None:
            if ok:
                self.exit(0)

        self.push_screen(
            ConfirmScreen(
                "Quit while work is running?",
                f"Still running: {', '.join(busy)}. Quitting may leave it half done "
                "(re-running the step later finishes it).",
                confirm_label="Quit",
                danger=True,
                default_cancel=True,
            ),
            after,
        )

    def on_unmount(self) -> None:
        if self.session is not None:
            self.session.close()


def binding_ids() -> set[str]:
    """Every binding id a user keymap may override."""
    from screens.confirm import ConfirmScreen
    from screens.help import HelpScreen
    from screens.history import JournalEntryScreen
    from screens.rotation import RotationScreen
    from screens.secret import SecretScreen
    from screens.settings import SettingsScreen

    classes = (
        PolarisApp,
        SettingsScreen,
        ConfirmScreen,
        RotationScreen,
        SecretScreen,
        HelpScreen,
        JournalEntryScreen,
    )
    return {
        b.id for cls in classes for b in cls.BINDINGS if isinstance(b, Binding) and b.id is not None
    }


def create_app(
    *, config_path: Path | None = None, sandbox: bool = False, sandbox_dir: Path | None = None
) -> PolarisApp:
    """The app for these command-line options (refused here when they contradict)."""
    from polaris_tui.session import SessionOptions

    return PolarisApp(
        SessionOptions(
            config_path=config_path,
            sandbox=sandbox,
            sandbox_dir=sandbox_dir,
            add_operator_mailbox=True,
            preload="reads",  # the sidebar's statuses read every step at once
            warm_edge=True,  # the secret step's status probes the relay Worker
        )
    )
