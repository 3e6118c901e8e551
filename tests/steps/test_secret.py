"""secret step: generated once into the keyring, pushed to the Worker, verified by a probe."""

from __future__ import annotations

import base64
import json

from polaris_tui import runner
from polaris_tui.context import Context, fingerprint
from polaris_tui.steps.base import Action, StepState
from polaris_tui.steps.secret import (
    BINDING_A,
    PUSHED_KEY,
    VAULT_A,
    SecretStep,
    generate_secret,
    worker_secret_names,
)
from tests.runtime_helpers import apply_step, assert_not_on_disk, pending, verify

pytest_plugins = ["tests.runtime_fixtures"]


def test_generate_secret_is_32_random_bytes_base64() -> None:
    values = {generate_secret() for _ in range(20)}
    assert len(values) == 20
    for value in values:
        assert len(value) == 44 and len(base64.b64decode(value, validate=True)) == 32


async def test_first_apply_stores_the_secret_and_defers_the_push(ctx: Context) -> None:
    changes = (await SecretStep().plan(ctx)).changes
    assert (changes[0].action, changes[0].kind) == (Action.CREATE, "signing_secret")
    assert changes[1].action is Action.NOOP and "first deploy" in changes[1].note
    step = SecretStep()
    result = await runner.apply_async(
        ctx, step, await runner.plan_async(ctx, step), confirm=lambda _s, _c: True
    )
    value = ctx.vault.get(VAULT_A)
    assert step.reveal_once() == value and step.reveal_once() is None
    assert value and len(base64.b64decode(value)) == 32
    shown = json.dumps([*result.messages, result.detail])
    assert value not in shown and fingerprint(value) in shown
    assert "CF_EMAIL_WORKER_SECRET" in shown
    assert_not_on_disk(ctx, value)


async def test_rerun_never_regenerates(ctx: Context) -> None:
    await apply_step(ctx, "secret")
    first = ctx.vault.get(VAULT_A)
    assert await pending(ctx, "secret") == []
    assert (await apply_step(ctx, "secret")).detail == "nothing to do"
    assert ctx.vault.get(VAULT_A) == first


async def test_keyring_change_is_pushed_to_the_worker(relay_ctx: Context) -> None:
    ctx = relay_ctx
    assert await worker_secret_names(ctx) == {BINDING_A}
    replacement = generate_secret()
    ctx.vault.set(VAULT_A, replacement)  # e.g. restored from a backup
    insp = await SecretStep().plan(ctx)
    assert insp.state is StepState.DRIFT and "differs" in insp.summary
    checks = await verify(ctx, "secret")
    assert not checks["secret.relay-accepts"].ok
    assert checks["secret.relay-accepts"].data["status"] == 401
    assert "rotate" in checks["secret.relay-accepts"].guidance.lower()
    [change] = await pending(ctx, "secret")
    assert (change.action, change.target) == (Action.UPDATE, BINDING_A)
    await apply_step(ctx, "secret")
    assert ctx.state.get(PUSHED_KEY)[BINDING_A] == fingerprint(replacement)
    checks = await SecretStep().verify(ctx)
    assert all(c.ok for c in checks), checks


async def test_verify_before_route_names_the_missing_pieces(ctx: Context) -> None:
    await apply_step(ctx, "secret")
    checks = await verify(ctx, "secret")
    assert checks["secret.in-keyring"].ok
    assert not checks["secret.on-worker"].ok and "deploy" in checks["secret.on-worker"].detail
    probe = checks["secret.relay-accepts"]
    assert not probe.ok and probe.data["status"] == 404
    assert "route" in probe.guidance.lower()


async def test_status_probes_a_present_secret_instead_of_regenerating(relay_ctx: Context) -> None:
    ctx = relay_ctx
    insp = await SecretStep().plan(ctx)
    assert insp.state is StepState.DONE and "accepts it as key A" in insp.summary
    ctx.cf.workers.scripts.secrets.update(
        ctx.config.worker_name,
        account_id=ctx.config.account_id,
        name=BINDING_A,
        text=generate_secret(),  # changed behind the tool's back
        type="secret_text",
    )
    insp = await SecretStep().plan(ctx)
    assert insp.state is StepState.DRIFT and "rejected (401)" in insp.summary


async def test_before_the_first_deploy_the_secret_check_says_to_deploy_not_to_rotate(
    ctx: Context,
) -> None:
    await apply_step(ctx, "kv")
    await apply_step(ctx, "secret")
    checks = (await runner.verify_async(ctx, [SecretStep()])).checks
    [on_worker] = [c for c in checks if c.id == "secret.on-worker"]
    assert not on_worker.ok and "is not deployed" in on_worker.detail
    assert on_worker.guidance.startswith("The secret waits for the first deploy")
    assert "rotate" not in on_worker.guidance
