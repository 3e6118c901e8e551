"""Secret rotation against the sandbox: graceful, promote, emergency, resume after a failure,
and the `rotate --emergency` CLI with real signed sends at the edge afterwards."""

from __future__ import annotations

import dataclasses
import re
import time
from pathlib import Path

import pytest

from polaris_tui import rotation
from polaris_tui.context import Context, fingerprint
from polaris_tui.demo import send
from polaris_tui.sandbox import Sandbox
from polaris_tui.session import sandbox_context, sandbox_vault
from polaris_tui.steps.base import StepState
from polaris_tui.steps.relay_probe import signed_probe
from polaris_tui.steps.secret import (
    BINDING_A,
    BINDING_B,
    ROTATION_KEY,
    VAULT_A,
    VAULT_B,
    SecretStep,
    worker_secret_names,
)
from tests.runtime_helpers import SENDING_STEPS, assert_not_on_disk, run_cli, verify

pytest_plugins = ["tests.runtime_fixtures"]


async def _slot(ctx: Context, secret: str) -> tuple[int | None, str | None]:
    probe = await signed_probe(ctx, secret)
    return probe.status, probe.key


async def test_graceful_then_promote(relay_ctx: Context) -> None:
    ctx = relay_ctx
    old = ctx.vault.get(VAULT_A)
    report = await rotation.graceful(ctx)
    new = ctx.vault.get(VAULT_B)
    assert report.ok and report.new_secret == new and new != old
    assert report.probes == {
        "old": "old secret: accepted as key A",
        "new": "new secret: accepted as key B",
    }
    assert await worker_secret_names(ctx) == {BINDING_A, BINDING_B}
    assert all(c.ok for c in (await verify(ctx, "secret")).values())
    assert all(c.ok for c in (await verify(ctx, "deploy")).values())  # both secret names expected
    assert new not in str(report.to_json()) and new not in repr(report)

    again = await rotation.graceful(ctx)
    assert again.ok and again.new_secret is None and "already staged" in again.lines[0]

    promoted = await rotation.promote(ctx)
    assert promoted.ok, promoted
    assert ctx.vault.get(VAULT_A) == new and ctx.vault.get(VAULT_B) is None
    assert await worker_secret_names(ctx) == {BINDING_A}
    assert await _slot(ctx, old) == (401, None)
    assert await _slot(ctx, new) == (200, "A")
    assert ctx.state.get(ROTATION_KEY)["stage"] == "done"
    assert_not_on_disk(ctx, new)


async def test_promote_waits_until_the_old_secret_is_quiet(sending_ctx: Context) -> None:
    ctx = sending_ctx
    old = ctx.vault.get(VAULT_A)
    assert (await rotation.graceful(ctx)).ok
    new = ctx.vault.get(VAULT_B)
    assert (await rotation.last_accepted(ctx))[
        "A"
    ] is None  # the rotation's dry-run probes do not count
    sent_at = time.time()
    assert send(ctx, old, "someone@example.com", "app not switched yet").status == 202
    assert send(ctx, new, "someone@example.com", "switched").status == 202
    seen = await rotation.last_accepted(ctx)
    assert seen["A"] is not None and seen["B"] is not None and seen["A"] >= sent_at - 1
    with pytest.raises(rotation.RotationError, match=r"last accepted \d+ s ago.*--force"):
        await rotation.promote(ctx)
    assert await worker_secret_names(ctx) == {BINDING_A, BINDING_B}  # nothing changed
    assert ctx.vault.get(VAULT_B) == new

    quiet = dataclasses.replace(
        ctx, config=dataclasses.replace(ctx.config, promote_quiet_seconds=1)
    )
    time.sleep(max(0.0, seen["A"] + 1.2 - time.time()))
    assert (await rotation.promote(quiet)).ok
    assert await _slot(ctx, old) == (401, None) and await _slot(ctx, new) == (200, "A")


async def test_promote_needs_a_graceful_rotation_first(relay_ctx: Context) -> None:
    with pytest.raises(rotation.RotationError, match="--graceful"):
        await rotation.promote(relay_ctx)


async def test_emergency_replaces_the_leaked_secret(sending_ctx: Context) -> None:
    ctx = sending_ctx
    await rotation.graceful(ctx)  # an unfinished graceful rotation is superseded too
    leaked = ctx.vault.get(VAULT_A)
    report = await rotation.emergency(ctx)
    new = ctx.vault.get(VAULT_A)
    assert report.ok and report.new_secret == new and new != leaked
    assert ctx.vault.get(VAULT_B) is None
    assert await worker_secret_names(ctx) == {BINDING_A}
    assert report.probes["old"] == "leaked secret: rejected (401)"
    assert any("CF_EMAIL_WORKER_SECRET" in a for a in report.next_actions)
    assert send(ctx, leaked, "someone@example.com", "after rotation").status == 401
    assert send(ctx, new, "someone@example.com", "after rotation").status == 202
    assert ctx.sandbox is not None
    for path in Path(ctx.sandbox.directory).rglob("*"):  # the old value is purged everywhere
        if path.is_file() and path.suffix != ".eml":
            assert leaked.encode() not in path.read_bytes(), path


async def test_interrupted_emergency_is_reported_and_resumes(
    relay_ctx: Context, sandbox_server: tuple[Sandbox, object]
) -> None:
    ctx = relay_ctx
    box, _ = sandbox_server
    leaked = ctx.vault.get(VAULT_A)
    box.set_faults("PATCH:*secrets-bulk:500")
    try:
        with pytest.raises(Exception, match="500"):
            await rotation.emergency(ctx)
    finally:
        box.set_faults("")
    pending = ctx.vault.get(VAULT_B)
    assert pending and ctx.vault.get(VAULT_A) == leaked  # keyring untouched but for the new B
    assert ctx.state.get(ROTATION_KEY)["stage"] == "vault-new"
    insp = await SecretStep().plan(ctx)
    assert insp.state is StepState.DRIFT and "emergency rotation stopped" in insp.summary
    assert not (await verify(ctx, "secret"))["secret.on-worker"].ok

    report = await rotation.emergency(ctx)
    assert report.ok and report.new_fingerprint == fingerprint(pending)
    assert ctx.vault.get(VAULT_A) == pending and ctx.vault.get(VAULT_B) is None
    assert await _slot(ctx, leaked) == (401, None)
    assert (await SecretStep().plan(ctx)).state is StepState.DONE


def test_cli_emergency_prints_the_secret_once_and_the_edge_enforces_it(tmp_path: Path) -> None:
    box_dir = tmp_path / "sandbox"
    for step_id in SENDING_STEPS:
        done = run_cli(box_dir, "apply", step_id, "--yes")
        assert done.returncode == 0, done.stderr
    with Sandbox(box_dir) as endpoints:
        pass

    vault = sandbox_vault(Sandbox(box_dir), endpoints.domain)
    previous = vault.get(VAULT_A)

    out = run_cli(box_dir, "rotate", "--emergency", "--yes")
    assert out.returncode == 0, out.stderr
    new = vault.get(VAULT_A)
    assert new != previous
    assert out.stdout.count(new) == 1 and new not in out.stderr
    assert re.search(r"emergency rotation done in \d+\.\d+s", out.stdout)
    assert "CF_EMAIL_WORKER_SECRET" in out.stdout

    box = Sandbox(box_dir)
    ctx = sandbox_context(box, box.start())
    try:
        assert send(ctx, previous, "someone@example.com", "old").status == 401
        assert send(ctx, new, "someone@example.com", "new").status == 202
        for path in box_dir.rglob("*"):
            if path.is_file() and path.name != "keyring.json" and path.suffix != ".eml":
                assert new.encode() not in path.read_bytes(), path
    finally:
        box.stop()


def test_cli_promote_refuses_while_the_app_signs_with_the_old_secret(tmp_path: Path) -> None:
    box_dir = tmp_path / "sandbox"
    for step_id in SENDING_STEPS:
        assert run_cli(box_dir, "apply", step_id, "--yes").returncode == 0
    assert run_cli(box_dir, "rotate", "--graceful", "--yes").returncode == 0
    box = Sandbox(box_dir)
    ctx = sandbox_context(box, box.start())
    try:
        old = ctx.vault.get(VAULT_A)
        assert send(ctx, old, "someone@example.com", "still the old secret").status == 202
    finally:
        box.stop()

    refused = run_cli(box_dir, "rotate", "--promote", "--yes")
    assert refused.returncode == 1, refused.stderr
    assert re.search(
        r"the app still signs with the old secret \(last accepted \d+ s ago\): "
        r"set CF_EMAIL_WORKER_SECRET to the new one first, or pass --force",
        refused.stderr,
    ), refused.stderr

    forced = run_cli(box_dir, "rotate", "--promote", "--yes", "--force")
    assert forced.returncode == 0, forced.stderr
    assert "promoted: only the new secret is accepted" in forced.stdout
