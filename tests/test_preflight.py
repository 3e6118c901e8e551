"""preflight: every prerequisite checked read-only over the sandbox's real protocols, and each
failure the sandbox models (a token without a permission, a pending zone, no R2, a skewed
clock ...) failing its own check with its own guidance."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import socket
from pathlib import Path
from typing import Any

import pytest

from polaris_tui import preflight
from polaris_tui.cli import main
from polaris_tui.context import Context
from polaris_tui.sandbox import Sandbox
from polaris_tui.session import sandbox_context

KNOBS = (
    "POLARIS_SANDBOX_TOKEN_DENY",
    "POLARIS_SANDBOX_TOKEN_EXPIRES_DAYS",
    "POLARIS_SANDBOX_ZONE_STATUS",
    "POLARIS_SANDBOX_NO_R2",
    "POLARIS_SANDBOX_WORKERS_PLAN",
    "POLARIS_SANDBOX_CLOCK_SKEW_S",
)


@pytest.fixture(autouse=True)
def plain_account(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in KNOBS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))


def preflight_json(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], **knobs: str
) -> tuple[int, dict[str, Any], dict[str, dict[str, Any]]]:
    """``polaris-tui --sandbox preflight --json`` with sandbox knobs set for its account."""
    with pytest.MonkeyPatch.context() as mp:
        for name, value in knobs.items():
            mp.setenv(f"POLARIS_SANDBOX_{name}", value)
        code = main(["--sandbox", "--sandbox-dir", str(tmp_path / "sbx"), "preflight", "--json"])
    doc = json.loads(capsys.readouterr().out)
    return code, doc, {c["id"].removeprefix("preflight."): c for c in doc["checks"]}


def failing(by_id: dict[str, dict[str, Any]]) -> set[str]:
    return {i for i, c in by_id.items() if not c["ok"] and c["severity"] == "error"}


def test_fresh_sandbox_passes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, doc, by_id = preflight_json(tmp_path, capsys)
    assert code == 0 and doc["ok"] is True, failing(by_id)
    assert set(doc) == {"ok", "elapsed_ms", "checks"}
    assert set(doc["checks"][0]) == {"id", "step", "ok", "detail", "guidance", "ms", "severity"}
    assert {
        "keyring", "token", "clock", "zone", "delegation", "permission-dns",
        "permission-email-routing", "permission-email-sending", "permission-workers-scripts",
        "permission-workers-routes", "permission-kv", "permission-r2", "workers-paid",
        "r2-subscription", "r2-keys", "node", "traefik-ipv4", "traefik-ipv6",
    } == set(by_id)  # fmt: skip
    assert not failing(by_id)
    # A read cannot tell Edit from Read: the check says so instead of claiming Edit.
    assert "confirmed at the first write" in by_id["permission-dns"]["detail"]
    # The sandbox's Traefik addresses are documentation addresses: never probed, a warning.
    assert by_id["traefik-ipv4"]["severity"] == "warning"
    assert "not probed" in by_id["traefik-ipv4"]["detail"]
    assert by_id["traefik-ipv4"]["guidance"] == ""
    assert by_id["node"]["severity"] == "warning"


def test_token_without_a_permission(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, doc, by_id = preflight_json(tmp_path, capsys, TOKEN_DENY="kv,workers_routes")
    assert code == 1 and doc["ok"] is False
    assert failing(by_id) == {"permission-kv", "permission-workers-routes"}
    kv = by_id["permission-kv"]
    assert "Account · Workers KV Storage · Edit" in kv["detail"]
    assert "add Account · Workers KV Storage · Edit" in kv["guidance"]
    assert "add Zone · Workers Routes · Edit" in by_id["permission-workers-routes"]["guidance"]


def test_read_only_permission_is_not_claimed_as_edit(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, by_id = preflight_json(tmp_path, capsys, TOKEN_DENY="dns:read")
    assert code == 0
    assert by_id["permission-dns"]["ok"]
    assert "Zone · DNS · Edit is confirmed at the first write" in by_id["permission-dns"]["detail"]


def test_pending_zone(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, by_id = preflight_json(tmp_path, capsys, ZONE_STATUS="pending")
    assert code == 1
    assert failing(by_id) == {"zone", "delegation"}
    assert "pending, not active" in by_id["zone"]["detail"]
    assert "registrar" in by_id["zone"]["guidance"]
    delegation = by_id["delegation"]
    assert "ada.ns.cloudflare.test" in delegation["detail"]
    assert "ns1.polaris.test" in delegation["detail"]  # what the parent still delegates to
    assert "replace the nameservers" in delegation["guidance"]


def test_missing_r2_subscription(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, by_id = preflight_json(tmp_path, capsys, NO_R2="1")
    assert code == 1
    assert failing(by_id) == {"r2-subscription"}
    assert "no R2 subscription" in by_id["r2-subscription"]["detail"]
    assert "R2 Object Storage → Overview" in by_id["r2-subscription"]["guidance"]
    # The permission cannot be probed without R2: said as a warning, not a second failure.
    assert by_id["permission-r2"]["severity"] == "warning" and not by_id["permission-r2"]["ok"]
    assert by_id["permission-r2"]["guidance"] == ""  # the token is not what to fix


def test_skewed_clock(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, by_id = preflight_json(tmp_path, capsys, CLOCK_SKEW_S="-300")
    assert code == 1
    assert failing(by_id) == {"clock"}
    assert "ahead of Cloudflare's" in by_id["clock"]["detail"]
    assert "ts_window_ms" in by_id["clock"]["guidance"]


def test_account_without_workers_paid(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, by_id = preflight_json(tmp_path, capsys, WORKERS_PLAN="free")
    assert code == 1
    assert failing(by_id) == {"workers-paid"}
    assert "Workers & Pages → Plans" in by_id["workers-paid"]["guidance"]


def test_token_expiring_soon(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, by_id = preflight_json(tmp_path, capsys, TOKEN_EXPIRES_DAYS="3")
    assert code == 1
    assert failing(by_id) == {"token"}
    assert "expires on" in by_id["token"]["detail"]
    assert "My Profile → API Tokens" in by_id["token"]["guidance"]
    _, _, later = preflight_json(tmp_path, capsys, TOKEN_EXPIRES_DAYS="30")
    assert later["token"]["ok"], later["token"]


def test_text_output_marks_warnings(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("POLARIS_SANDBOX_NO_R2", "1")
        code = main(["--sandbox", "--sandbox-dir", str(tmp_path / "sbx"), "preflight"])
    out = capsys.readouterr().out
    assert code == 1
    assert "FAIL preflight.r2-subscription" in out
    assert "WARN preflight.traefik-ipv4" in out
    assert "Fix: Dashboard → R2 Object Storage" in out


# ── checks that need a changed context: the R2 keys and a loopback Traefik ──────────────────


@pytest.fixture
def ctx(sandbox_server: tuple[Sandbox, Any]) -> Context:
    box, endpoints = sandbox_server
    return sandbox_context(box, endpoints)


def test_r2_keys_missing(ctx: Context) -> None:
    assert ctx.sandbox is not None
    ctx.vault.delete("r2-access-key-id")
    try:
        missing = _check(preflight.run(ctx), "r2-keys")
    finally:
        ctx.vault.set("r2-access-key-id", ctx.sandbox.s3_access_key_id)
    assert not missing.ok and "r2-access-key-id" in missing.detail
    assert "Manage R2 API Tokens" in missing.guidance
    assert _check(preflight.run(ctx), "r2-keys").ok


def test_traefik_on_loopback_listener(ctx: Context) -> None:
    """A listener on 127.0.0.1 stands in for Traefik; a closed port is a warning only."""
    local = dataclasses.replace(ctx, config=dataclasses.replace(
        ctx.config, traefik_ipv4="127.0.0.1", traefik_ipv6="::1"
    ))  # fmt: skip
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        report = asyncio.run(preflight.run_async(local, traefik_port=port))
    v4, v6 = _check(report, "traefik-ipv4"), _check(report, "traefik-ipv6")
    assert v4.ok and f"port {port}" in v4.detail
    assert not v6.ok and preflight.severity(v6) == "warning"  # nothing listens on ::1 there
    assert "Traefik" in v6.guidance
    assert report.ok  # warnings never fail the preflight


def test_documentation_addresses_are_never_probed(ctx: Context) -> None:
    """Outside the sandbox too: an example address left in the config is named, not dialled."""
    real = dataclasses.replace(ctx, sandbox=None, config=dataclasses.replace(
        ctx.config, traefik_ipv4="203.0.113.10", traefik_ipv6="2001:db8::10"
    ))  # fmt: skip
    report = asyncio.run(preflight.run_async(real, traefik_port=9))
    for name in ("traefik-ipv4", "traefik-ipv6"):
        check = _check(report, name)
        assert not check.ok and "is a documentation address" in check.detail, check
        assert "fix 'traefik_ipv4'" in check.guidance


def test_missing_token_is_said_once(ctx: Context) -> None:
    assert ctx.sandbox is not None
    ctx.vault.delete("cloudflare-api-token")
    try:
        report = preflight.run(ctx)
    finally:
        ctx.vault.set("cloudflare-api-token", ctx.sandbox.token)
    token = _check(report, "token")
    assert not token.ok and "secrets set cloudflare-api-token" in token.detail
    assert "My Profile → API Tokens" in token.guidance
    zone = _check(report, "zone")
    assert zone.detail == "not probed: no API token in the keyring (see token)"
    assert zone.guidance == ""


def test_unusable_keyring_is_said_once(ctx: Context) -> None:
    from keyring.backends.fail import Keyring as NoKeyring

    from polaris_tui.vault import Vault

    broken = dataclasses.replace(ctx, vault=Vault(ctx.config.domain, backend=NoKeyring()))
    report = preflight.run(broken)
    keyring = _check(report, "keyring")
    assert not keyring.ok and "secrets status" in keyring.guidance
    for name in ("token", "zone", "r2-keys"):
        check = _check(report, name)
        assert check.detail == "not probed: the keyring is unusable (see keyring)", check
        assert check.guidance == ""


def test_r2_keys_refused(ctx: Context) -> None:
    good = ctx.vault.get("r2-secret-access-key")
    assert good
    ctx.vault.set("r2-secret-access-key", "0" * 64)
    try:
        refused = _check(preflight.run(ctx), "r2-keys")
    finally:
        ctx.vault.set("r2-secret-access-key", good)
    assert not refused.ok and "refused the key pair" in refused.detail, refused
    assert "Manage R2 API Tokens" in refused.guidance


def test_zone_missing_from_the_account(ctx: Context) -> None:
    other = dataclasses.replace(ctx, config=dataclasses.replace(ctx.config, zone="other.test"))
    report = preflight.run(other)
    assert not report.ok
    zone = _check(report, "zone")
    assert not zone.ok and "other.test not found in account" in zone.detail
    assert "Dashboard → Websites" in zone.guidance
    for name in ("delegation", "permission-dns", "permission-workers-routes"):
        check = _check(report, name)
        assert not check.ok and "not probed" in check.detail and check.guidance == "", check
    assert _check(report, "permission-kv").ok  # account families do not need the zone


def _check(report: preflight.PreflightReport, name: str) -> Any:
    return next(c for c in report.checks if c.id == f"preflight.{name}")
