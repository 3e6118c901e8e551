"""Seeding, the sandbox keyring, reset, and where secrets are (not) written."""

from __future__ import annotations

import stat
import subprocess
import sys
import tomllib

import cloudflare
import pytest
from keyring.backend import KeyringBackend

from polaris_tui.errors import CorruptFile
from polaris_tui.sandbox import Sandbox, default_sandbox_dir, reset
from polaris_tui.sandbox.keyring_backend import SandboxKeyring
from tests.runtime_helpers import CLI

SERVICE = "polaris-tui:polaris.test"


def test_seeded_account_config_and_keyring(ep, sandbox):
    config = tomllib.loads(ep.config_path.read_text())
    assert config == {
        "domain": "polaris.test",
        "account_id": ep.account_id,
        "zone": "polaris.test",
        "traefik_ipv4": "192.0.2.10",
        "traefik_ipv6": "2001:db8::10",
        "r2_bucket": "polaris-assets",
        "sender_customer": "noreply@polaris.test",
        "sender_admin": "admin@polaris.test",
    }
    kr = sandbox.keyring()
    assert isinstance(kr, KeyringBackend) and kr.priority == 0
    assert kr.get_password(SERVICE, "cloudflare-api-token") == ep.token
    assert kr.get_password(SERVICE, "r2-access-key-id") == ep.s3_access_key_id
    assert kr.get_password(SERVICE, "r2-secret-access-key") == ep.s3_secret_access_key
    keyring_file = ep.directory / "keyring.json"
    assert stat.S_IMODE(keyring_file.stat().st_mode) == 0o600
    for name in ("state.json", "config.toml"):
        text = (ep.directory / name).read_text()
        assert ep.token not in text and ep.s3_secret_access_key not in text


def test_sandbox_keyring_roundtrip(tmp_path):
    kr = SandboxKeyring(tmp_path / "k.json")
    kr.set_password("svc", "user", "value")
    assert SandboxKeyring(tmp_path / "k.json").get_password("svc", "user") == "value"
    kr.delete_password("svc", "user")
    assert kr.get_password("svc", "user") is None
    from keyring.errors import PasswordDeleteError

    with pytest.raises(PasswordDeleteError):
        kr.delete_password("svc", "user")


def test_reset_state_keeps_servers_and_credentials(cf, ep, sandbox):
    cf.kv.namespaces.create(account_id=ep.account_id, title="x")
    sandbox.reset_state()
    assert sandbox.endpoints == ep
    assert list(cf.kv.namespaces.list(account_id=ep.account_id)) == []
    assert cf.user.tokens.verify().status == "active"


def test_reset_wipes_a_sandbox_dir_and_refuses_other_dirs(tmp_path):
    with Sandbox(tmp_path / "sbx") as ep:
        token = ep.token
    reset(tmp_path / "sbx")
    assert not (tmp_path / "sbx").exists()
    with Sandbox(tmp_path / "sbx") as ep:
        assert ep.token != token  # a fresh account
        cf = cloudflare.Cloudflare(api_token=ep.token, base_url=ep.api)
        assert list(cf.dns.records.list(zone_id=ep.zone_id)) == []
    other = tmp_path / "precious"
    other.mkdir()
    (other / "notes.txt").write_text("keep")
    with pytest.raises(ValueError, match="does not look like a sandbox"):
        reset(other)
    assert (other / "notes.txt").exists()


def test_default_dir_is_under_the_user_state_dir():
    assert default_sandbox_dir().parts[-1] == "sandbox"
    assert "polaris-tui" in default_sandbox_dir().parts


def test_package_import_is_light():
    code = (
        "import sys, polaris_tui.sandbox; heavy = {'cloudflare', 'moto', 'uvicorn', "
        "'starlette', 'dnslib', 'aiosmtpd', 'boto3', 'textual'} & set(sys.modules); "
        "print(sorted(heavy))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert out == "[]"


def test_smtp_inbox_stores_eml(ep):
    import smtplib

    with smtplib.SMTP(ep.smtp_host, ep.smtp_port, timeout=10) as smtp:
        smtp.sendmail(
            "noreply@polaris.test",
            ["user@example.com"],
            b"From: noreply@polaris.test\r\nTo: user@example.com\r\n"
            b"Subject: hi\r\nMessage-ID: <1@polaris.test>\r\n\r\nbody\r\n",
        )
    files = list(ep.inbox.glob("*.eml"))
    assert len(files) == 1 and b"Subject: hi" in files[0].read_bytes()


def test_corrupt_state_gives_a_clear_error_and_reset_recovers(tmp_path):
    directory = tmp_path / "sbx"
    with Sandbox(directory):
        pass
    (directory / "state.json").write_text("{not json")
    with pytest.raises(CorruptFile, match="sandbox reset"):
        Sandbox(directory).start()
    proc = subprocess.run(
        [str(CLI), "sandbox", "reset", "--sandbox-dir", str(directory)],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0 and not directory.exists()
    with Sandbox(directory) as ep:
        assert ep.domain == "polaris.test"
