"""Confirmation modals: nothing changes until the operator says so here."""

from __future__ import annotations

from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widget import Widget
from textual.widgets import Button, Footer, Input, Label, Static

from polaris_tui.steps.base import Action, Change
from screens.widgets import DialogButton, escape


class ConfirmScreen(ModalScreen[bool]):
    """Asks yes/no; with ``require_text`` the operator must type it exactly first."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel", id="confirm-cancel", tooltip="Change nothing"),
        Binding("y", "confirm", "Confirm", id="confirm-yes", tooltip="Go ahead"),
    ]

    def __init__(
        self,
        title: str,
        question: str,
        *,
        body: list[Widget] | None = None,
        confirm_label: str = "Apply",
        require_text: str | None = None,
        danger: bool = False,
        default_cancel: bool = False,
    ) -> None:
        super().__init__(
            classes=" ".join(filter(None, ["danger" * danger, "typed" * bool(require_text)]))
        )
        self.title_text = title
        self.question = question
        self.body = body or []
        self.confirm_label = confirm_label
        self.require_text = require_text
        self.danger = danger
        self.default_cancel = default_cancel

    def compose(self) -> ComposeResult:
        with Vertical(id="confirm-dialog"):
            yield Static(f"[b]{escape(self.title_text)}[/b]", id="confirm-title")
            yield from self.body
            yield Static(escape(self.question), id="confirm-question")
            if self.require_text:
                yield Label(f"Type [b]{escape(self.require_text)}[/b] to confirm:")
                yield Input(placeholder="type it here", id="confirm-text")  # never looks filled
                yield Label("", id="confirm-error", classes="field-error")
            with Horizontal(id="confirm-buttons"):
                yield DialogButton(
                    self.confirm_label,
                    id="confirm-yes",
                    variant="error" if self.danger else "primary",
                )
                yield DialogButton("Cancel", id="confirm-no")
        yield Footer()

    def on_mount(self) -> None:
        target = "#confirm-text" if self.require_text else "#confirm-yes"
        if self.default_cancel:
            target = "#confirm-no"  # Enter out of habit changes nothing
        self.query_one(target).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "confirm-yes":
            self.action_confirm()
        else:
            self.action_cancel()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self.action_confirm()

    def action_confirm(self) -> None:
        if self.require_text:
            typed = self.query_one("#confirm-text", Input).value.strip()
            if typed != self.require_text:
                error = self.query_one("#confirm-error", Label)
                error.update(
                    f"That is not {self.require_text!r}: type it exactly, or press Escape."
                )
                error.add_class("shown")
                return
        self.dismiss(True)

    def action_cancel(self) -> None:
        self.dismiss(False)


def _hostname(change: Change, domain: str) -> str:
    """The host a change is about: the record's ``name``, else the target's first token at or
    under the domain (targets read like ``TXT mail.example.com v=spf1 ...``)."""
    for value in (change.before, change.after):
        if isinstance(value, dict) and isinstance(value.get("name"), str):
            return value["name"].rstrip(".")
    for token in change.target.split():
        name = token.rstrip(".")
        if name == domain or name.endswith("." + domain):
            return name
    return change.target


def deletion_hostname(changes: list[Change], domain: str) -> str | None:
    """The name the operator must type before deletions: the one host, else the domain."""
    hosts = {_hostname(c, domain) for c in changes if c.action is Action.DELETE}
    if not hosts:
        return None
    return hosts.pop() if len(hosts) == 1 else domain


PLAN_BORDER_TITLE = "the plan — Tab here, then ↑↓ PgUp PgDn to read it all"


def confirm_apply(step_title: str, changes: list[Change], domain: str) -> ConfirmScreen:
    """The apply confirmation: the exact plan, and typing the hostname when it deletes."""
    from screens.plan_view import PlanView

    plan = PlanView(changes, id="confirm-plan")
    plan.border_title = PLAN_BORDER_TITLE
    hostname = deletion_hostname(changes, domain)
    question = f"Apply {len(changes)} change(s) to {step_title}?"
    if hostname:
        question += " This plan DELETES records."
    return ConfirmScreen(
        f"Apply: {step_title}",
        question,
        body=[plan],
        require_text=hostname,
        danger=hostname is not None,
    )


def confirm_apply_all(sections: list[tuple[str, list[Change]]], domain: str) -> ConfirmScreen:
    """One confirmation for the whole runbook: every step's plan, listed in runbook order."""
    from screens.plan_view import PlanView

    plan = PlanView(sections=sections, id="confirm-plan")
    plan.border_title = PLAN_BORDER_TITLE
    every = [c for _, changes in sections for c in changes]
    hostname = deletion_hostname(every, domain)
    question = (
        f"Apply {len(every)} change(s) in {len(sections)} step(s)? Each step starts once the "
        "steps it depends on are done, independent ones side by side; a step that a later one "
        "changes is applied again; a failure stops the steps that depend on it."
    )
    if hostname:
        question += " This plan DELETES records."
    return ConfirmScreen(
        "Apply all",
        question,
        body=[plan],
        confirm_label="Apply all",
        require_text=hostname,
        danger=hostname is not None,
    )
