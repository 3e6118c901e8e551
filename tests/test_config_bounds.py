"""Config bounds: what the config accepts the Worker and the Python relay accept too, and
addresses, hosts, resolvers, timeouts, theme, keymap and folders are refused with their fix."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from polaris_tui.config import BINDING_IDS, FIELDS, THEMES, validate
from polaris_tui.errors import ConfigError
from polaris_tui.relay.bounds import RELAY_BOUNDS, RELAY_SWITCHES
from polaris_tui.steps.deploy import relay_settings

ROOT = Path(__file__).parent.parent
WORKER = ROOT / "polaris_tui" / "relay" / "worker" / "src" / "index.js"
CLI = Path(sys.executable).parent / "polaris-tui"
BASE = {
    "domain": "example.com",
    "account_id": "0123456789abcdef0123456789abcdef",
    "traefik_ipv4": "203.0.113.10",
}


def js_object(name: str) -> dict[str, Any]:
    """``const NAME = { KEY: value, ... };`` of the Worker source, values as Python literals."""
    body = re.search(rf"const {name} = \{{(.*?)\}};", WORKER.read_text(), re.S)
    assert body, f"{name} not found in {WORKER}"
    pairs = re.findall(r"^\s*([A-Z_]+):\s*(.+?),\s*$", body.group(1), re.M)
    literals = {"true": True, "false": False}
    return {key: eval(value, literals) for key, value in pairs}  # numbers, [low, high], booleans


def test_the_worker_holds_the_same_defaults_and_bounds() -> None:
    defaults, bounds = js_object("DEFAULTS"), js_object("BOUNDS")
    assert set(defaults) == set(bounds) == {name.upper() for name in RELAY_BOUNDS}
    for name, bound in RELAY_BOUNDS.items():
        assert defaults[name.upper()] == bound.default, name
        assert bounds[name.upper()] == [bound.low, bound.high], name
        assert bound.high < 2**53  # the Worker's Number.isSafeInteger


def test_the_worker_holds_the_same_switches_and_the_config_their_defaults() -> None:
    assert js_object("SWITCHES") == {name.upper(): on for name, on in RELAY_SWITCHES.items()}
    config = validate(BASE)
    for name, on in RELAY_SWITCHES.items():
        assert getattr(config, name) is on
        assert relay_settings(config, "s").worker_vars()[name.upper()] == str(on).lower()
        off = validate({**BASE, name: not on})
        assert relay_settings(off, "s").worker_vars()[name.upper()] == str(not on).lower()


def test_the_protocol_doc_states_the_bounds() -> None:
    doc = " ".join((ROOT / "docs" / "relay-protocol.md").read_text().split())
    for name, bound in RELAY_BOUNDS.items():
        assert f"`{name.upper()}` {bound.low}–{bound.high}" in doc, name


@pytest.mark.parametrize("name", [n for n in RELAY_BOUNDS if n != "max_body_bytes"])
def test_config_takes_each_relay_limit_to_its_edges_and_no_further(name: str) -> None:
    bound = RELAY_BOUNDS[name]
    extra: dict[str, int] = {}
    edges = (bound.low, bound.high)
    if name == "ts_window_ms":
        extra = {"nonce_ttl_seconds": 604_800}
    if name == "nonce_ttl_seconds":  # the config also wants twice the shortest window (1 s)
        extra, edges = {"ts_window_ms": 1000}, (2, bound.high)
    for ok in edges:
        config = validate({**BASE, **extra, name: ok})
        assert getattr(relay_settings(config, "s" * 32), name) == ok  # the relay takes it too
    for bad in (bound.low - 1, bound.high + 1, 9007199254740993):
        with pytest.raises(ConfigError, match=f"'{name}'.*from {bound.low:,} to {bound.high:,}"):
            validate({**BASE, **extra, name: bad})


@pytest.mark.parametrize(
    ("extra", "field", "fix"),
    [
        ({"traefik_ipv4": "10.1.2.3"}, "traefik_ipv4", "private address.*allow_private_traefik"),
        ({"traefik_ipv4": "172.20.0.1"}, "traefik_ipv4", "private address"),
        ({"traefik_ipv4": "100.64.1.1"}, "traefik_ipv4", "private address"),
        ({"traefik_ipv4": "127.0.0.1"}, "traefik_ipv4", "loopback"),
        ({"traefik_ipv4": "169.254.0.9"}, "traefik_ipv4", "link-local"),
        ({"traefik_ipv4": "239.1.1.1"}, "traefik_ipv4", "multicast"),
        ({"traefik_ipv4": "0.0.0.0"}, "traefik_ipv4", "unspecified"),
        ({"traefik_ipv4": "2001:db8::1"}, "traefik_ipv4", "public IPv4"),
        ({"traefik_ipv6": "fd12::1"}, "traefik_ipv6", "private address"),
        ({"traefik_ipv6": "::1"}, "traefik_ipv6", "loopback"),
        ({"traefik_ipv6": "fe80::1"}, "traefik_ipv6", "link-local"),
        ({"traefik_ipv6": "ff02::1"}, "traefik_ipv6", "multicast"),
        ({"traefik_ipv6": "::"}, "traefik_ipv6", "unspecified"),
        ({"traefik_ipv6": "2001:db8::1%eth0"}, "traefik_ipv6", "remove the zone id '%eth0'"),
        ({"traefik_ipv6": "::ffff:203.0.113.9"}, "traefik_ipv6", "put 203.0.113.9 in traefik_ipv4"),
        ({"traefik_ipv6": "fe80::1%eth0", "allow_private_traefik": True}, "traefik_ipv6", "zone"),
        ({"traefik_ipv4": "224.0.0.1", "allow_private_traefik": True}, "traefik_ipv4", "multicast"),
        ({"host_mail": "manage"}, "host_mail", "different from host_manage"),
        ({"host_assets": "relay", "host_mail": "relay"}, "host_assets", "different from host_mail"),
        (
            {"public_resolvers": ["1.1.1.1", "dns.google"]},
            "public_resolvers",
            "'dns.google' is not",
        ),
        ({"dns_timeout_seconds": float("inf")}, "dns_timeout_seconds", "at most 60"),
        ({"dns_timeout_seconds": float("nan")}, "dns_timeout_seconds", "above 0"),
        ({"dns_timeout_seconds": 0.0}, "dns_timeout_seconds", "above 0"),
        ({"propagation_timeout_seconds": float("inf")}, "propagation_timeout_seconds", "whole"),
        ({"propagation_timeout_seconds": 10**12}, "propagation_timeout_seconds", "at most 3600"),
        ({"dkim_timeout_seconds": 86401}, "dkim_timeout_seconds", "at most 86400"),
        ({"mailbox_timeout_seconds": 86401}, "mailbox_timeout_seconds", "at most 86400"),
        ({"mailbox_timeout_seconds": 0}, "mailbox_timeout_seconds", "above 0"),
        ({"dmarc_mailbox": "reports at example.com"}, "dmarc_mailbox", "use an email address"),
        (
            {"dmarc_mailbox": "DMARC-reports@example.com"},
            "dmarc_mailbox",
            "not dmarc_rua itself",
        ),
        ({"theme": "no-such"}, "theme", "use one of: .*nord"),
        ({"keymap": {"bogus": "f9"}}, "keymap", "bogus names no binding; use one of: apply"),
        ({"keymap": {"help": ""}}, "keymap", "give help its key"),
        ({"assets_dir": "/no/such/folder"}, "assets_dir", "does not exist"),
        ({"worker_dir": "/no/such/folder"}, "worker_dir", "does not exist"),
        ({"worker_dir": __file__}, "worker_dir", "is not a folder"),
    ],
)
def test_bad_values_are_refused_with_field_and_fix(
    extra: dict[str, Any], field: str, fix: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        validate({**BASE, **extra})
    assert caught.value.field == field
    assert re.search(fix, caught.value.fix), caught.value.fix


@pytest.mark.parametrize(
    "extra",
    [
        {"traefik_ipv4": "192.168.1.20", "traefik_ipv6": "fd00::20", "allow_private_traefik": True},
        {"traefik_ipv4": "127.0.0.1", "allow_private_traefik": True},
        {"traefik_ipv4": "192.0.2.10", "traefik_ipv6": "2001:db8::10"},  # what the sandbox seeds
        {"public_resolvers": ["9.9.9.9", "2620:fe::fe"], "dns_timeout_seconds": 60},
        {"theme": "nord", "keymap": {"help": "f2", "verify-all": "ctrl+v"}},
        {"assets_dir": str(ROOT / "assets"), "worker_dir": str(ROOT)},
    ],
)
def test_good_values_are_kept(extra: dict[str, Any]) -> None:
    validate({**BASE, **extra})


def test_theme_names_are_textuals() -> None:
    from textual.theme import BUILTIN_THEMES

    assert sorted(THEMES) == sorted(BUILTIN_THEMES)


def test_keymap_ids_are_the_tuis_bindings() -> None:
    from screens.app import binding_ids

    assert sorted(BINDING_IDS) == sorted(binding_ids())


def test_cli_refuses_an_unsafe_rate_limit_and_keeps_the_file(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    text = "".join(f'{k} = "{v}"\n' for k, v in BASE.items())
    path.write_text(text)
    proc = subprocess.run(
        [str(CLI), "--config", str(path), "config", "set", "rate_limit_max", "9007199254740993"],
        capture_output=True, text=True, check=False, timeout=60,
    )  # fmt: skip
    assert proc.returncode == 2, proc.stderr
    assert "rate_limit_max" in proc.stderr and "1,000,000,000" in proc.stderr
    assert path.read_text() == text
    path.write_text(text + "rate_limit_max = 9007199254740993\n")
    proc = subprocess.run(
        [str(CLI), "--config", str(path), "config", "show"],
        capture_output=True, text=True, check=False, timeout=60,
    )  # fmt: skip
    assert proc.returncode == 2 and "rate_limit_max" in proc.stderr, proc.stderr


def test_a_bad_value_is_named_before_a_field_still_unset(tmp_path: Path) -> None:
    """`config set` on a new file refuses a private address rather than saving it."""
    path = tmp_path / "config.toml"
    proc = subprocess.run(
        [str(CLI), "--config", str(path), "config", "set", "traefik_ipv4", "10.0.0.5"],
        capture_output=True, text=True, check=False, timeout=60,
    )  # fmt: skip
    assert proc.returncode == 2 and "allow_private_traefik" in proc.stderr, proc.stderr
    assert not path.exists()


def readme_rows() -> list[str]:
    rows = []
    for spec in FIELDS:
        if spec.required:
            default = "required"
        elif spec.default in (None, {}):
            default = ""
        elif isinstance(spec.default, list):
            default = f"`{', '.join(spec.default)}`"
        else:
            default = f"`{spec.default}`"
        rows.append(f"| `{spec.name}` | {default} | {spec.help} |")
    return rows


def test_readme_config_table_is_the_field_table() -> None:
    readme = (ROOT / "README.md").read_text()
    table = [line for line in readme.splitlines() if re.match(r"\| `[a-z0-9_]+` \| ", line)]
    ours = [line for line in table if line.split("`")[1] in {f.name for f in FIELDS}]
    assert ours == readme_rows(), "\n" + "\n".join(readme_rows())
