"""The secret screen: the signing secret masked, revealable, copyable, with what to do next."""

from __future__ import annotations

import os
from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Footer, Static

from polaris_tui.context import fingerprint
from screens.clipboard import clipboard_problem, copy_report
from screens.widgets import DialogButton, escape

MASK = "•" * 24


class SecretScreen(ModalScreen[None]):
    """Shows ``secret`` masked until the operator asks to reveal it."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "close", "Close", id="secret-close", tooltip="Close (the secret stays)"),
        Binding("r", "reveal", "Reveal/hide", id="secret-reveal", tooltip="Show or mask it"),
        Binding("c", "copy", "Copy", id="secret-copy", tooltip="Copy to the clipboard (OSC 52)"),
    ]

    def __init__(self, secret: str, *, heading: str = "The relay signing secret") -> None:
        super().__init__()
        self._secret = secret
        self.heading = heading
        self.revealed = False

    def compose(self) -> ComposeResult:
        with Vertical(id="secret-dialog"):
            yield Static(f"[b]{escape(self.heading)}[/b]", id="secret-title")
            yield Static(self._masked(), id="secret-value")
            yield Static(
                "Set it as [b]CF_EMAIL_WORKER_SECRET[/b] on the Fresh app (Phase 3); the app and "
                "the Worker must hold exactly the same value. It is kept in the keyring only: "
                "copy it now into the app's secret store, never into a file or chat.",
                id="secret-instruction",
            )
            with Horizontal(id="secret-buttons"):
                yield DialogButton("Reveal", id="secret-reveal")
                yield DialogButton("Copy", id="secret-copy")
                yield DialogButton("Close", id="secret-close", variant="primary")
            yield Static("", id="secret-copy-status")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#secret-copy", Button).focus()  # what the operator came here to do

    def _masked(self) -> str:
        value = escape(self._secret) if self.revealed else MASK
        return f"[reverse] {value} [/reverse]  [dim]fingerprint {fingerprint(self._secret)}[/dim]"

    async def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        action = (event.button.id or "").removeprefix("secret-")
        await self.run_action(action)

    def action_reveal(self) -> None:
        self.revealed = not self.revealed
        self.query_one("#secret-value", Static).update(self._masked())
        self.query_one("#secret-reveal", Button).label = "Hide" if self.revealed else "Reveal"

    def action_copy(self) -> None:
        self.app.copy_to_clipboard(self._secret)
        problem = clipboard_problem(headless=self.app.is_headless, env=os.environ)
        report = copy_report(problem)
        self.query_one("#secret-copy-status", Static).update(escape(report))
        self.notify(
            report, title="Secret", severity="warning" if problem else "information", markup=False
        )

    def action_close(self) -> None:
        self.dismiss(None)
