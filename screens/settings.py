"""Settings / first run: the config fields with validators and an error label under each,
plus the credentials, which go straight to the keyring (masked, never to the config file)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.message import Message
from textual.screen import ModalScreen
from textual.validation import ValidationResult, Validator
from textual.widgets import Button, Footer, Input, Label, Static

from polaris_tui.config import FIELD_BY_NAME, FieldSpec, read_document, update_values
from polaris_tui.errors import ConfigError
from screens.widgets import escape

if TYPE_CHECKING:
    from polaris_tui.vault import Vault, VaultStatus

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
    "app_secret_command",
)
SECRET_FIELDS = {
    "cloudflare-api-token": "Cloudflare API token (Zone DNS, Email, R2, KV, Workers permissions)",
    "r2-access-key-id": "R2 access key id (R2 → Manage API tokens)",
    "r2-secret-access-key": "R2 secret access key",
}


class FieldValidator(Validator):
    """One config field's own rule, so the error shows while typing."""

    def __init__(self, spec: FieldSpec) -> None:
        super().__init__()
        self.spec = spec

    def validate(self, value: str) -> ValidationResult:
        value = value.strip()
        if not value:
            return (
                self.failure(f"required: {self.spec.help}")
                if self.spec.required
                else (self.success())
            )
        fix = self.spec.check(value) if self.spec.check else None
        return self.failure(fix) if fix else self.success()


class SettingsScreen(ModalScreen[bool]):
    """Edits the config file and stores credentials; dismisses True once both are saved."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel", id="settings-cancel", tooltip="Close, keep file"),
        Binding("ctrl+s", "save", "Save", id="settings-save", tooltip="Validate and save"),
    ]

    class VaultChecked(Message):
        def __init__(self, status: VaultStatus) -> None:
            super().__init__()
            self.status = status

    class SecretsStored(Message):
        def __init__(self, errors: dict[str, str]) -> None:
            super().__init__()
            self.errors = errors

    def __init__(self, path: Path, vault: Vault | None = None) -> None:
        super().__init__()
        self.path = path
        self.vault = vault

    def compose(self) -> ComposeResult:
        current = read_document(self.path).unwrap() if self.path.exists() else {}
        with VerticalScroll(id="settings-form"):
            yield Static(f"[b]Settings[/b]  {escape(str(self.path))}", id="settings-title")
            yield Static("checking the keyring…", id="vault-status")
            for name in FORM_FIELDS:
                spec = FIELD_BY_NAME[name]
                yield Label(f"{name}{' *' if spec.required else ''} — {spec.help}")
                yield Input(
                    value=str(current.get(name, "") or ""),
                    id=f"field-{name}",
                    placeholder=str(spec.default or ""),
                    validators=[FieldValidator(spec)],
                    validate_on=["changed", "submitted"],
                )
                yield Label("", id=f"error-{name}", classes="field-error")
            yield Static("[b]Credentials[/b] (stored in the OS keyring only)", classes="heading")
            for name, help_text in SECRET_FIELDS.items():
                yield Label(f"{name} — {help_text}")
                yield Input(
                    id=f"secret-{name}",
                    password=True,
                    placeholder="leave empty to keep the stored value",
                )
                yield Label("", id=f"error-{name}", classes="field-error")
            yield Button("Save (ctrl+s)", id="save", variant="primary")
        yield Footer()

    def on_mount(self) -> None:
        self._saved_values = self._typed()
        self.query_one(f"#field-{FORM_FIELDS[0]}", Input).focus()
        self._check_vault()

    def _vault(self, domain: str | None = None) -> Vault:
        from polaris_tui.vault import Vault

        if self.vault is not None:
            return self.vault
        return Vault(domain or self.query_one("#field-domain", Input).value.strip() or "-")

    @work(thread=True, exclusive=True, group="vault")
    def _check_vault(self) -> None:
        self.post_message(self.VaultChecked(self._vault().status()))

    def on_settings_screen_vault_checked(self, message: VaultChecked) -> None:
        st = message.status
        widget = self.query_one("#vault-status", Static)
        if not st.usable:
            widget.update(
                f"[b red]Keyring backend {escape(st.backend)} cannot be used.[/b red]\n"
                f"{escape(st.problem or '')}"
            )
            widget.add_class("field-error")
            return
        present = ", ".join(f"{n}: {'set' if st.present[n] else 'not set'}" for n in SECRET_FIELDS)
        widget.update(f"Keyring backend: [b]{escape(st.backend)}[/b]\n{escape(present)}")

    def on_input_changed(self, event: Input.Changed) -> None:
        name = (event.input.id or "").removeprefix("field-")
        if name in FORM_FIELDS and event.validation_result is not None:
            errors = event.validation_result.failure_descriptions
            self.query_one(f"#error-{name}", Label).update(escape(errors[0]) if errors else "")

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "save":
            self.action_save()

    def action_save(self) -> None:
        for name in (*FORM_FIELDS, *SECRET_FIELDS):
            self.query_one(f"#error-{name}", Label).update("")
        values = {n: self.query_one(f"#field-{n}", Input).value.strip() for n in FORM_FIELDS}
        try:
            config = update_values(self.path, values)
        except ConfigError as exc:
            target = exc.field if exc.field in FORM_FIELDS else FORM_FIELDS[0]
            self.query_one(f"#error-{target}", Label).update(escape(str(exc)))
            self.query_one(f"#field-{target}", Input).focus()
            return
        secrets = {
            n: v for n in SECRET_FIELDS if (v := self.query_one(f"#secret-{n}", Input).value)
        }
        if not secrets:
            self.dismiss(True)
            return
        self._store(secrets, config.domain)

    @work(thread=True, exclusive=True, group="vault")
    def _store(self, secrets: dict[str, str], domain: str) -> None:
        from polaris_tui.vault import VaultError

        vault = self._vault(domain)
        errors: dict[str, str] = {}
        for name, value in secrets.items():
            try:
                vault.set(name, value.strip())
            except VaultError as exc:
                errors[name] = str(exc)
        self.post_message(self.SecretsStored(errors))

    def on_settings_screen_secrets_stored(self, message: SecretsStored) -> None:
        for name in SECRET_FIELDS:
            if name not in message.errors:
                self.query_one(f"#secret-{name}", Input).value = ""
        if message.errors:
            for name, error in message.errors.items():
                self.query_one(f"#error-{name}", Label).update(escape(error))
            return
        self.dismiss(True)

    def _typed(self) -> dict[str, str]:
        """What every field holds now, to tell whether there is anything to lose."""
        return {i.id or "": i.value for i in self.query(Input)}

    def action_cancel(self) -> None:
        changed = [
            (key.removeprefix("field-").removeprefix("secret-"))
            for key, value in self._typed().items()
            if value != self._saved_values.get(key, "")
        ]
        if not changed:
            self.dismiss(False)
            return
        from screens.confirm import ConfirmScreen

        def after(discard: bool | None) -> None:
            if discard:
                self.dismiss(False)

        self.app.push_screen(
            ConfirmScreen(
                "Discard unsaved changes?",
                f"You changed {', '.join(changed)} and did not save. Discard the changes? "
                "(Cancel goes back to the form; ctrl+s saves.)",
                confirm_label="Discard",
                danger=True,
                default_cancel=True,
            ),
            after,
        )
