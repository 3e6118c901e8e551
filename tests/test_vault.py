"""The vault fails closed on insecure backends and never leaks values in errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from keyring.backends import fail, null

from polaris_tui.vault import KeyringPolicy, Vault, VaultError
from tests.conftest import MemoryKeyring

CLI = Path(sys.executable).parent / "polaris-tui"


@pytest.mark.parametrize("backend", [fail.Keyring(), null.Keyring()])
def test_insecure_backends_are_refused(backend: object) -> None:
    vault = Vault("example.com", backend=backend)  # type: ignore[arg-type]
    with pytest.raises(VaultError) as err:
        vault.set("cloudflare-api-token", "tok-123")
    message = str(err.value)
    assert type(backend).__module__ in message
    assert "Secret Service" in message and "PYTHON_KEYRING_BACKEND" in message
    assert "tok-123" not in message
    assert not vault.status().usable


def test_round_trip_is_namespaced_per_domain() -> None:
    backend = MemoryKeyring()
    a, b = Vault("a.example", backend=backend), Vault("b.example", backend=backend)
    a.set("polaris-secret-a", "s3cr3t")
    assert a.get("polaris-secret-a") == "s3cr3t"
    assert b.get("polaris-secret-a") is None
    assert ("polaris-tui:a.example", "polaris-secret-a") in backend.store
    a.delete("polaris-secret-a")
    a.delete("polaris-secret-a")  # deleting twice is fine
    assert a.get("polaris-secret-a") is None


def test_unknown_names_are_rejected() -> None:
    with pytest.raises(VaultError, match="Unknown secret name"):
        Vault("x.example", backend=MemoryKeyring()).set("aws-key", "v")


def test_status_lists_names_never_values() -> None:
    backend = MemoryKeyring()
    vault = Vault("example.com", backend=backend)
    vault.set("r2-access-key-id", "AKIDVALUE")
    st = vault.status()
    assert st.usable and st.present["r2-access-key-id"] and not st.present["polaris-secret-b"]
    assert "AKIDVALUE" not in repr(st)


def test_a_hanging_backend_times_out() -> None:
    import threading

    class Hanging(MemoryKeyring):
        def get_password(self, service: str, username: str) -> str | None:
            threading.Event().wait(5)
            return None

    with pytest.raises(VaultError, match="did not answer"):
        Vault("example.com", backend=Hanging(), timeout=0.2).get("polaris-secret-a")


def test_cli_secrets_set_fails_closed_and_writes_nothing(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    env = {
        **os.environ,
        "HOME": str(home),
        "XDG_CONFIG_HOME": str(home / ".config"),
        "XDG_DATA_HOME": str(home / ".local/share"),
        "XDG_STATE_HOME": str(home / ".local/state"),
        "PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring",
    }
    env.pop("POLARIS_TUI_CONFIG", None)
    proc = subprocess.run(
        [str(CLI), "secrets", "set", "cloudflare-api-token"],
        input="tok-should-not-land\n",
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert proc.returncode != 0
    assert "keyring.backends.fail.Keyring" in proc.stderr
    assert "tok-should-not-land" not in proc.stderr + proc.stdout
    assert list(home.rglob("*")) == []


def test_cli_status_with_an_unusable_keyring_blocks_every_step_and_says_why_once(
    config_file: Path,
) -> None:
    env = {**os.environ, "PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring"}
    proc = subprocess.run(
        [str(CLI), "--config", str(config_file), "status", "--json"],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert proc.returncode == 0
    steps = json.loads(proc.stdout)["steps"]
    assert len(steps) == 8 and {s["state"] for s in steps} == {"blocked"}
    assert all("polaris-tui secrets status" in s["summary"] for s in steps)
    assert proc.stderr.count("keyring.backends.fail.Keyring cannot hold secrets") == 1


class PlaintextMarkedKeyring(MemoryKeyring):
    """A plaintext backend that claims to be the sandbox's: the claim must not matter."""

    polaris_sandbox = True


@pytest.mark.parametrize("make", [PlaintextMarkedKeyring, "sandbox-file"])
def test_a_backend_is_refused_outside_a_sandbox_session_whatever_it_says(
    make: object, tmp_path: Path
) -> None:
    from polaris_tui.sandbox.keyring_backend import SandboxKeyring

    backend = SandboxKeyring(tmp_path / "keyring.json") if make == "sandbox-file" else make()  # type: ignore[operator]
    vault = Vault("example.com", backend=backend)
    with pytest.raises(VaultError, match="cannot hold secrets"):
        vault.set("polaris-secret-a", "s3cr3t-value")
    assert not vault.status().usable and not vault.is_sandbox
    assert not (tmp_path / "keyring.json").exists()


def test_the_sandbox_policy_is_chosen_by_the_session_root(tmp_path: Path) -> None:
    from polaris_tui.sandbox import Sandbox
    from polaris_tui.session import sandbox_vault

    vault = sandbox_vault(Sandbox(tmp_path / "sbx"), "polaris.test")
    assert vault.policy is KeyringPolicy.SANDBOX and vault.is_sandbox
    vault.set("polaris-secret-a", "s3cr3t-value")
    assert vault.get("polaris-secret-a") == "s3cr3t-value"
    with pytest.raises(ValueError, match="sandbox's keyring"):
        Vault("polaris.test", policy=KeyringPolicy.SANDBOX)
