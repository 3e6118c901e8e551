"""F1 help: what the icons mean and every key that works where the operator is."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Footer, Static

from screens.widgets import escape

if TYPE_CHECKING:
    from textual.screen import ActiveBinding

ICONS_HELP = (
    "✔ done — applied and as planned     • pending — changes to make\n"
    "≠ drift — changed outside the tool  ✘ failed — last apply, inspect or check failed\n"
    "⊘ blocked — cannot run until something outside the tool is fixed"
)


class HelpScreen(ModalScreen[None]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,f1", "close", "Close", id="help-close", tooltip="Back to the runbook"),
    ]

    def __init__(self, bindings: dict[str, ActiveBinding]) -> None:
        super().__init__()
        self.bindings = bindings

    def compose(self) -> ComposeResult:
        rows = []
        for active in self.bindings.values():
            b = active.binding
            if not b.id or not b.description or not active.enabled:
                continue
            shown = self.app.get_key_display(b)
            rows.append(
                f"  [b]{escape(shown):>10}[/b]  {escape(b.description)}"
                + (f" — {escape(b.tooltip)}" if b.tooltip else "")
            )
        with VerticalScroll(id="help-dialog"):
            yield Static("[b]polaris-tui help[/b]", classes="title")
            yield Static(
                "Walk the eight steps top to bottom: each shows what exists now, the plan, "
                "applies it after you confirm, then runs its checks. Any failure shows what it "
                "means and the fix right under it.",
            )
            yield Static("[b]Step states[/b]\n" + ICONS_HELP)
            yield Static("[b]Keys here[/b]\n" + "\n".join(rows))
            yield Static(
                "Ctrl+P opens the command palette. Keys can be changed with "
                "`keymap` in the config (binding id → key).",
                classes="muted",
            )
        yield Footer()

    def action_close(self) -> None:
        self.dismiss(None)
