"""Config validation: good values load, bad ones name the field, the value and the fix."""

from __future__ import annotations

from pathlib import Path

import pytest

from polaris_tui.config import load_config, set_value, update_values, validate
from polaris_tui.errors import ConfigError

BASE = {
    "domain": "example.com",
    "account_id": "0123456789abcdef0123456789abcdef",
    "traefik_ipv4": "203.0.113.10",
}


def test_defaults_are_derived_from_the_domain() -> None:
    cfg = validate(BASE)
    assert cfg.zone == "example.com"
    assert cfg.sender_customer == "noreply@example.com"
    assert cfg.sender_admin == "admin@example.com"
    assert cfg.dmarc_rua == "dmarc-reports@example.com"
    assert cfg.dmarc_policy == "none"
    assert cfg.worker_name == "polaris-email-worker"
    assert (cfg.ts_window_ms, cfg.nonce_ttl_seconds) == (300000, 600)
    assert (cfg.rate_limit_max, cfg.rate_limit_window_seconds) == (10, 3600)
    assert cfg.mail_host == "mail.example.com"
    assert cfg.assets_host == "assets.example.com"
    assert cfg.assets_dir.joinpath("polaris-logo-160.png").is_file()


@pytest.mark.parametrize(
    ("field", "value", "fix_fragment"),
    [
        ("domain", "Not A Domain", "lowercase DNS name"),
        ("account_id", "abc", "32-character hex"),
        ("traefik_ipv4", "300.1.1.1", "IPv4"),
        ("traefik_ipv6", "nope", "IPv6"),
        ("dmarc_policy", "strict", "none, quarantine or reject"),
        ("sender_customer", "noreply@other.org", "address at example.com"),
        ("nonce_ttl_seconds", 599, "at least 600"),
        ("rate_limit_max", 0, "from 1 to"),
        ("assets_origin", "b.r2.cloudflarestorage.com", "private S3 API"),
        ("route_mode", "magic", "route, custom_domain"),
        ("colour", "blue", "remove it"),
    ],
)
def test_bad_values_name_field_value_and_fix(field: str, value: object, fix_fragment: str) -> None:
    with pytest.raises(ConfigError) as err:
        validate({**BASE, field: value})
    assert err.value.field == field
    assert err.value.value == value
    assert fix_fragment in err.value.fix
    assert field in str(err.value)


def test_missing_required_field_is_named() -> None:
    with pytest.raises(ConfigError) as err:
        validate({"domain": "example.com", "account_id": BASE["account_id"]})
    assert err.value.field == "traefik_ipv4"


def test_window_change_moves_the_nonce_floor() -> None:
    assert validate({**BASE, "ts_window_ms": 60000, "nonce_ttl_seconds": 120}).nonce_ttl_seconds
    with pytest.raises(ConfigError):
        validate({**BASE, "ts_window_ms": 600000, "nonce_ttl_seconds": 600})


def test_set_keeps_comments_and_writes_atomically(config_file: Path) -> None:
    set_value(config_file, "dmarc_policy", "quarantine")
    text = config_file.read_text()
    assert "# operator comment: keep me" in text
    assert 'dmarc_policy = "quarantine"' in text
    assert load_config(config_file).dmarc_policy == "quarantine"
    assert [p.name for p in config_file.parent.iterdir()] == ["config.toml"]  # no temp left


def test_bad_set_leaves_the_file_untouched(config_file: Path) -> None:
    before = config_file.read_bytes()
    with pytest.raises(ConfigError):
        set_value(config_file, "traefik_ipv4", "not-an-ip")
    assert config_file.read_bytes() == before


def test_set_coerces_types_and_builds_from_nothing(tmp_path: Path) -> None:
    path = tmp_path / "new" / "config.toml"
    assert set_value(path, "domain", "example.org") is None  # incomplete is fine
    set_value(path, "account_id", "f" * 32)
    cfg = set_value(path, "traefik_ipv4", "198.51.100.7")
    assert cfg is not None and cfg.domain == "example.org"
    cfg = set_value(path, "rate_limit_max", "25")
    assert cfg is not None and cfg.rate_limit_max == 25
    cfg = set_value(path, "keymap", '{ rotate = "ctrl+r" }')
    assert cfg is not None and cfg.keymap == {"rotate": "ctrl+r"}


def test_update_values_validates_the_whole_form(config_file: Path) -> None:
    with pytest.raises(ConfigError) as err:
        update_values(config_file, {"sender_admin": "ops@elsewhere.net"})
    assert err.value.field == "sender_admin"
    cfg = update_values(config_file, {"sender_admin": "ops@example.com", "traefik_ipv6": ""})
    assert cfg.sender_admin == "ops@example.com"


def test_toml_syntax_error_is_a_config_error(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text("domain = \n")
    with pytest.raises(ConfigError) as err:
        load_config(path)
    assert "TOML" in err.value.fix


def test_app_secret_command_is_an_optional_non_empty_shell_command(tmp_path: Path) -> None:
    assert validate(BASE).app_secret_command is None
    assert validate(BASE).app_secret_timeout_seconds == 60
    command = "ssh deploy@app 'umask 077; cat > /etc/polaris/email-secret'"
    assert validate({**BASE, "app_secret_command": command}).app_secret_command == command
    for bad, fix in (("   ", "give a shell command"), (["cat"], "quoted string"), (5, "quoted")):
        with pytest.raises(ConfigError) as err:
            validate({**BASE, "app_secret_command": bad})
        assert err.value.field == "app_secret_command" and fix in err.value.fix
    with pytest.raises(ConfigError, match="app_secret_timeout_seconds"):
        validate({**BASE, "app_secret_timeout_seconds": 0})
    path = tmp_path / "config.toml"
    with pytest.raises(ConfigError, match="give a shell command"):
        set_value(path, "app_secret_command", "")
    assert not path.exists()
