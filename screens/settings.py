"""Settings / first run: a form over the config fields with an error label under each."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Static

from polaris_tui.config import FIELDS, ConfigError, read_document, update_values

FORM_FIELDS = (
    "domain",
    "account_id",
    "traefik_ipv4",
    "traefik_ipv6",
    "r2_bucket",
    "worker_name",
    "sender_customer",
    "sender_admin",
    "dmarc_rua",
    "dmarc_policy",
)


class SettingsScreen(ModalScreen[bool]):
    """Edits the config file; dismisses True once a valid config is saved."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel", id="settings-cancel", tooltip="Close, keep file"),
        Binding("ctrl+s", "save", "Save", id="settings-save", tooltip="Validate and save"),
    ]

    def __init__(self, path: Path) -> None:
        super().__init__()
        self.path = path

    def compose(self) -> ComposeResult:
        current = read_document(self.path).unwrap() if self.path.exists() else {}
        specs = {f.name: f for f in FIELDS}
        with VerticalScroll(id="settings-form"):
            yield Static(f"[b]Settings[/b]  {self.path}", id="settings-title")
            for name in FORM_FIELDS:
                yield Label(f"{name} — {specs[name].help}")
                yield Input(
                    value=str(current.get(name, "") or ""),
                    id=f"field-{name}",
                    placeholder=str(specs[name].default or ""),
                )
                yield Label("", id=f"error-{name}", classes="field-error")
            yield Button("Save", id="save", variant="primary")

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "save":
            self.action_save()

    def action_save(self) -> None:
        for name in FORM_FIELDS:
            self.query_one(f"#error-{name}", Label).update("")
        values = {n: self.query_one(f"#field-{n}", Input).value.strip() for n in FORM_FIELDS}
        try:
            update_values(self.path, values)
        except ConfigError as exc:
            target = exc.field if exc.field in FORM_FIELDS else FORM_FIELDS[0]
            self.query_one(f"#error-{target}", Label).update(str(exc))
            return
        self.dismiss(True)

    def action_cancel(self) -> None:
        self.dismiss(False)
