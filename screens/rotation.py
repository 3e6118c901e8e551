"""Secret rotation: graceful + promote as a guided pair, emergency as one confirmed action.

The screen talks to the engine through one function, ``rotate(ctx, mode, progress)``, whose
result lists stages (name, ok, detail), the new secret and the next actions for the app. The
app hands it the session's Context (``ctx``, None while connecting); it never reaches up.
It also shows when the relay last accepted a real send per key slot, read with the engine
function promote itself decides by, so the operator sees whether the app has switched.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, ClassVar, Literal

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical, VerticalScroll
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Footer, Header, Static

from screens.confirm import ConfirmScreen
from screens.secret import SecretScreen
from screens.widgets import escape
from screens.wording import for_tui

if TYPE_CHECKING:
    from polaris_tui.app_handoff import HandOff
    from polaris_tui.context import Context
    from polaris_tui.steps.base import Progress

Mode = Literal["graceful", "promote", "emergency"]


@dataclass(frozen=True)
class Stage:
    name: str
    ok: bool
    detail: str = ""


@dataclass
class RotationOutcome:
    ok: bool
    stages: list[Stage] = field(default_factory=list)
    secret: str | None = None
    next_actions: list[str] = field(default_factory=list)
    app_updated: bool | None = None  # how app_secret_command went; None: none configured


OUTPUT_LINES = 12  # of each stream of app_secret_command on screen; the CLI shows them all


def _output(result: HandOff) -> str:
    """The command's (already scrubbed) output, the last lines of each stream."""
    parts = []
    for name, text in (("stdout", result.stdout), ("stderr", result.stderr)):
        lines = text.rstrip("\n").splitlines()
        if not lines:
            continue
        hidden = len(lines) - OUTPUT_LINES
        shown = ([f"… {hidden} earlier lines"] if hidden > 0 else []) + lines[-OUTPUT_LINES:]
        parts.append(f"\n    {name}:" + "".join(f"\n      {line}" for line in shown))
    return "".join(parts)


Rotate = Callable[["Context", Mode, "Progress"], RotationOutcome]


def engine_rotate(ctx: Context, mode: Mode, progress: Progress) -> RotationOutcome:
    """Run ``polaris_tui.rotation`` and turn its report into the screen's checklist.

    What the engine said while working (Worker version, keyring) becomes one ticked stage
    each; the relay probes and the verdict follow.
    """
    from polaris_tui import rotation
    from polaris_tui.blocking import run_blocking

    said: list[str] = []

    def say(text: str) -> None:
        said.append(text)
        progress(text, None)

    report = run_blocking(rotation.rotate(ctx, mode, say))
    handed = report.app_secret
    # The command runs only once the Worker accepted the new secret: its failure is its own.
    worker_ok = report.ok or (handed is not None and not handed.ok)
    stages = [Stage(text, True) for text in said]
    stages += [Stage(f"probe: {text}", worker_ok) for text in report.probes.values()]
    stages += [
        Stage(line, worker_ok)
        for line in report.lines
        if line not in said and (handed is None or line != handed.summary())
    ]
    if handed is not None:
        stages.append(Stage(handed.summary(), handed.ok, _output(handed)))
    return RotationOutcome(
        report.ok,
        stages,
        report.new_secret,
        list(report.next_actions),
        None if handed is None else handed.ok,
    )


def last_accepted_text(found: dict[str, float | None] | None, error: str = "") -> str:
    """'A 2 min ago · B never', from ``polaris_tui.rotation.last_accepted``."""
    from polaris_tui.rotation import ago

    head = "[b]Last accepted[/b] (real sends, per key slot):  "
    if error:
        return head + f"[red]could not read: {escape(error)}[/red]"
    if found is None:
        return head + "[dim]…[/dim]"
    now = time.time()
    return head + "  ·  ".join(
        f"[b]{slot}[/b] " + ("never" if at is None else f"{ago(now - at)} ago")
        for slot, at in found.items()
    )


MODES: dict[Mode, tuple[str, str]] = {
    "graceful": (
        "1 · Graceful: add a new secret beside the current one",
        "A new secret goes to POLARIS_SECRET_B on the Worker and in the keyring; the Worker "
        "accepts both, so nothing breaks. Then set the new value as CF_EMAIL_WORKER_SECRET on "
        "the app and redeploy it.",
    ),
    "promote": (
        "2 · Promote: retire the old secret",
        "Once the app signs with the new secret: one Worker version sets A = new and removes "
        "B; the keyring follows; probes confirm the old secret is rejected.",
    ),
    "emergency": (
        "EMERGENCY: the secret leaked",
        "One Worker version sets a brand-new A and removes B right now; the old value is "
        "purged from the keyring. Mail from the app FAILS until it is given the new secret.",
    ),
}


class RotationScreen(Screen[None]):
    """Reachable with one key from anywhere and from the command palette."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding(
            "g",
            "rotate('graceful')",
            "Graceful",
            id="rotate-graceful",
            tooltip="Step 1: new secret as B, both accepted",
        ),
        Binding(
            "p",
            "rotate('promote')",
            "Promote",
            id="rotate-promote",
            tooltip="Step 2: new secret becomes A, old rejected",
        ),
        Binding(
            "E",
            "rotate('emergency')",
            "EMERGENCY",
            id="rotate-emergency",
            tooltip="Leaked secret: replace it now, one confirmation",
        ),
        Binding(
            "k",
            "show_secret",
            "Secret",
            id="rotate-secret",
            tooltip="Show the new secret again (masked)",
        ),
        Binding("escape", "back", "Back", id="rotate-back", tooltip="Back to the runbook"),
    ]

    class Progressed(Message):
        def __init__(self, text: str) -> None:
            super().__init__()
            self.text = text

    class LastAccepted(Message):
        def __init__(self, found: dict[str, float | None] | None, error: str = "") -> None:
            super().__init__()
            self.found = found
            self.error = error

    class Finished(Message):
        def __init__(self, mode: Mode, outcome: RotationOutcome | None, error: str = "") -> None:
            super().__init__()
            self.mode = mode
            self.outcome = outcome
            self.error = error

    def __init__(self, ctx: Context | None = None, rotate: Rotate = engine_rotate) -> None:
        super().__init__(id="rotation")
        self.ctx = ctx
        self._rotate = rotate
        self.running: Mode | None = None
        self.last: tuple[Mode, RotationOutcome | None, str] | None = None

    def compose(self) -> ComposeResult:
        yield Header()
        with VerticalScroll(id="rotation-body"):
            yield Static("[b]Secret rotation[/b]", classes="title")
            yield Static(
                "The relay accepts POLARIS_SECRET_A and, during a rotation, POLARIS_SECRET_B. "
                "That is what lets you change the secret without dropping mail.",
                classes="purpose",
            )
            yield Static(last_accepted_text(None), id="last-accepted")
            title, text = MODES["emergency"]
            with Vertical(id="emergency"):  # first: in a leak it must be seen without scrolling
                yield Static(f"[b]⚠ {title}[/b]  [reverse] E [/reverse] (shift+e)")
                yield Static(escape(text))
            for mode in ("graceful", "promote"):
                title, text = MODES[mode]
                key = "g" if mode == "graceful" else "p"
                with Vertical(classes="rotation-mode"):
                    yield Static(f"[b]{title}[/b]  [reverse] {key} [/reverse]")
                    yield Static(escape(text))
            yield Static("[b]What happened[/b]", classes="heading", id="what-happened")
            yield Vertical(id="checklist")
            yield Static("", id="next-actions")
        yield Footer()

    def on_mount(self) -> None:
        self.refresh_last_accepted()

    def connect(self, ctx: Context | None) -> None:
        """The session's Context, once the app has it (or a new one after settings)."""
        self.ctx = ctx
        self.refresh_last_accepted()

    def refresh_last_accepted(self) -> None:
        if self.ctx is not None:
            self._read_last_accepted(self.ctx)

    @work(thread=True, exclusive=True, group="last-accepted")
    def _read_last_accepted(self, ctx: Context) -> None:
        from polaris_tui import rotation, runner
        from polaris_tui.blocking import run_blocking

        try:
            found = run_blocking(rotation.last_accepted(ctx))
        except Exception as exc:
            error = runner.describe_error(ctx, "kv", exc).message
            self.post_message(self.LastAccepted(None, error))
            return
        self.post_message(self.LastAccepted(found))

    def on_rotation_screen_last_accepted(self, message: LastAccepted) -> None:
        self.query_one("#last-accepted", Static).update(
            last_accepted_text(message.found, message.error)
        )

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "show_secret":
            return bool(self.last and self.last[1] and self.last[1].secret)
        return True

    def action_show_secret(self) -> None:
        outcome = self.last[1] if self.last else None
        if outcome is not None and outcome.secret:
            self.app.push_screen(SecretScreen(outcome.secret, heading="The new signing secret"))

    def action_back(self) -> None:
        if self.running:
            self.notify("A rotation is running; wait for it to finish.", severity="warning")
            return
        self.dismiss(None)

    def action_rotate(self, mode: Mode) -> None:
        if self.running:
            self.notify(f"The {self.running} rotation is still running.", severity="warning")
            return
        if self.ctx is None:
            self.notify("Still connecting; try again in a moment.", severity="warning")
            return
        if mode == "promote" and not self.ctx.vault.get("polaris-secret-b"):
            self.notify(
                "Nothing to promote: no new secret is staged. Press g for a graceful rotation "
                "first, set the new secret on the app, then promote.",
                title="Promote",
                severity="warning",
            )
            return
        title, text = MODES[mode]
        danger = mode == "emergency"
        screen = ConfirmScreen(
            title,
            text + "\n\nGo ahead?",
            confirm_label="Rotate NOW" if danger else "Rotate",
            danger=danger,
        )

        def after(ok: bool | None) -> None:
            if ok:
                self._start(mode)

        self.app.push_screen(screen, after)

    def _start(self, mode: Mode) -> None:
        self.running = mode
        self.set_class(mode == "emergency", "emergency-running")
        checklist = self.query_one("#checklist", Vertical)
        checklist.remove_children()
        checklist.mount(Static(f"[dim]{mode} rotation started…[/dim]"))
        self.query_one("#next-actions", Static).update("")
        self.call_after_refresh(self._show_result)
        self._run(mode)

    @work(thread=True, exclusive=True, group="rotation")
    def _run(self, mode: Mode) -> None:
        ctx = self.ctx
        assert ctx is not None

        def progress(text: str, fraction: float | None = None) -> None:
            self.post_message(self.Progressed(text))

        try:
            outcome = self._rotate(ctx, mode, progress)
        except Exception as exc:
            from polaris_tui import runner

            message = runner.describe_error(ctx, "secret", exc).message
            self.post_message(self.Finished(mode, None, message))
            return
        self.post_message(self.Finished(mode, outcome))

    def on_rotation_screen_progressed(self, message: Progressed) -> None:
        self.query_one("#checklist", Vertical).mount(
            Static(f"  … {escape(message.text)}", classes="stage running")
        )

    def _show_result(self) -> None:
        """Scroll the result to the top of the screen: after a rotation it is what matters."""
        self.query_one("#what-happened").scroll_visible(top=True, animate=False)

    def on_rotation_screen_finished(self, message: Finished) -> None:
        self.running = None
        self.last = (message.mode, message.outcome, message.error)
        self.refresh_last_accepted()
        checklist = self.query_one("#checklist", Vertical)
        checklist.remove_children()
        outcome = message.outcome
        if outcome is None:
            error = escape(for_tui(message.error))
            checklist.mount(Static(f"[b red]✘ {error}[/b red]", classes="stage"))
            self.call_after_refresh(self._show_result)
            self.notify("Rotation did not run", severity="error")
            return
        rows = [
            Static(
                ("[green]✔[/green] " if s.ok else "[b red]✘[/b red] ")
                + f"[b]{escape(s.name)}[/b]  {escape(s.detail)}",
                classes="stage " + ("ok" if s.ok else "bad"),
            )
            for s in outcome.stages
        ]
        if outcome.ok:
            verdict = "[b green]Rotation complete[/b green]"
        elif outcome.app_updated is False:
            verdict = (
                "[b red]Rotation stopped — the Worker accepts the new secret but "
                "app_secret_command failed, so the app was not updated: see Next.[/b red]"
            )
        else:
            verdict = (
                "[b red]Rotation incomplete — the keyring and the Worker may disagree; see the "
                "failed stage and run the same rotation again to resume.[/b red]"
            )
        checklist.mount_all([Static(verdict), *rows])
        self.refresh_bindings()
        self.call_after_refresh(self._show_result)
        actions = outcome.next_actions or _default_next_actions(message.mode)
        self.query_one("#next-actions", Static).update(
            "[b]Next[/b]\n" + "\n".join(f"  → {escape(for_tui(a))}" for a in actions)
        )
        if outcome.secret:
            self.app.push_screen(SecretScreen(outcome.secret, heading="The new signing secret"))


def _default_next_actions(mode: Mode) -> list[str]:
    if mode == "graceful":
        return [
            "Set CF_EMAIL_WORKER_SECRET on the app to the new secret and redeploy it.",
            "Then press p to promote: the old secret stops working.",
        ]
    if mode == "promote":
        return ["Nothing else: the old secret is rejected from now on."]
    return [
        "Set CF_EMAIL_WORKER_SECRET on the app to the new secret NOW and restart it: "
        "until then its mail is rejected (401).",
        "Find and revoke where the old secret leaked (repository, logs, chat).",
    ]
