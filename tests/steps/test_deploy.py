"""deploy step: the upload built from config and state, validated, deployed and verified."""

from __future__ import annotations

import dataclasses
import json

import cloudflare
import pytest

from polaris_tui import rotation, runner, troubleshooting
from polaris_tui.adapters.cloudflare_api import port_error
from polaris_tui.adapters.workers import validate_metadata
from polaris_tui.context import Context
from polaris_tui.errors import MetadataError
from polaris_tui.relay import WORKER_COMPATIBILITY_DATE
from polaris_tui.sandbox import Sandbox
from polaris_tui.steps.base import Action
from polaris_tui.steps.deploy import (
    REDACTED,
    DeployStep,
    desired_bindings,
    wrangler_config,
)
from polaris_tui.steps.secret import VAULT_A
from tests.runtime_helpers import (
    RELAY_STEPS,
    apply_step,
    assert_not_on_disk,
    pending,
    verify,
)

pytest_plugins = ["tests.runtime_fixtures"]


def _metadata(ctx: Context, **extra: object) -> dict:
    return {
        "main_module": "index.js",
        "compatibility_date": WORKER_COMPATIBILITY_DATE,
        "bindings": desired_bindings(ctx.config, "0" * 32),
        **extra,
    }


def test_bindings_match_what_the_worker_reads(ctx: Context) -> None:
    by_name = {b["name"]: b for b in desired_bindings(ctx.config, "kv1")}
    assert by_name["EMAIL_NONCE_DEDUP"] == {
        "type": "kv_namespace",
        "name": "EMAIL_NONCE_DEDUP",
        "namespace_id": "kv1",
    }
    assert by_name["SEND_CUSTOMER"]["allowed_sender_addresses"] == [ctx.config.sender_customer]
    assert by_name["SEND_ADMIN"]["allowed_sender_addresses"] == [ctx.config.sender_admin]
    assert by_name["SENDER_ADMIN"]["text"] == ctx.config.sender_admin
    assert by_name["TS_WINDOW_MS"] == {
        "type": "plain_text",
        "name": "TS_WINDOW_MS",
        "text": "300000",
    }
    assert {"NONCE_TTL_SECONDS", "RATE_LIMIT_MAX", "RATE_LIMIT_WINDOW_SECONDS"} <= set(by_name)


def test_metadata_is_validated_with_the_sdk_types(ctx: Context) -> None:
    validate_metadata(_metadata(ctx, keep_bindings=["secret_text"]))
    bad = _metadata(ctx)
    bad["bindings"][1] = {"type": "send_email", "name": "SEND_CUSTOMER",
                          "allowed_sender_addresses": "noreply@polaris.test"}  # fmt: skip
    with pytest.raises(MetadataError, match=r"bindings\[1\] \(SEND_CUSTOMER\)"):
        validate_metadata(bad)
    with pytest.raises(MetadataError, match=r"\(X\)\.text: Field required"):
        validate_metadata(_metadata(ctx, bindings=[{"type": "plain_text", "name": "X"}]))
    with pytest.raises(MetadataError, match="compatibility_date"):
        validate_metadata(_metadata(ctx, compatibility_date=20260426))


def test_wrangler_config_mirrors_the_upload(ctx: Context) -> None:
    cfg = wrangler_config(ctx.config, _metadata(ctx))
    assert cfg["kv_namespaces"] == [{"binding": "EMAIL_NONCE_DEDUP", "id": "0" * 32}]
    assert [s["name"] for s in cfg["send_email"]] == ["SEND_CUSTOMER", "SEND_ADMIN"]
    assert cfg["vars"]["RATE_LIMIT_MAX"] == "10"


async def test_plan_redacts_secrets_and_first_upload_carries_them(ctx: Context) -> None:
    await apply_step(ctx, "kv")
    await apply_step(ctx, "secret")
    [change] = await pending(ctx, "deploy")
    assert change.action is Action.CREATE
    plan_text = json.dumps(change.to_json())
    assert ctx.vault.get(VAULT_A) not in plan_text
    secret = [b for b in change.after["bindings"] if b["type"] == "secret_text"]
    assert secret == [{"type": "secret_text", "name": "POLARIS_SECRET_A", "text": REDACTED}]
    seen: list[str] = []
    step = DeployStep()
    result = await runner.apply_async(
        ctx, step, await runner.plan_async(ctx, step), confirm=lambda _s, _c: True,
        progress=lambda m, _f=None: seen.append(m),
    )  # fmt: skip
    assert result.ok and any("wrangler" in m for m in result.messages)
    # the dry run takes seconds: the progress says how long it has run, of its limit
    assert any(m.startswith("wrangler deploy --dry-run (0 s of 120 s)") for m in seen), seen
    assert_not_on_disk(ctx, ctx.vault.get(VAULT_A))  # request log, state, journal: no value
    assert await pending(ctx, "deploy") == []
    checks = await DeployStep().verify(ctx)
    assert all(c.ok for c in checks), checks


async def test_deploy_needs_kv_and_secret_first(ctx: Context) -> None:
    with pytest.raises(runner.StepFailure, match="apply kv"):
        await apply_step(ctx, "deploy")
    await apply_step(ctx, "kv")
    with pytest.raises(runner.StepFailure, match="apply secret"):
        await apply_step(ctx, "deploy")


async def test_config_change_is_a_planned_update_that_keeps_secrets(relay_ctx: Context) -> None:
    ctx = relay_ctx
    ctx.config = dataclasses.replace(ctx.config, rate_limit_max=25)
    [change] = await pending(ctx, "deploy")
    assert change.action is Action.UPDATE
    assert "RATE_LIMIT_MAX" in change.note
    checks = {c.id: c.ok for c in await DeployStep().verify(ctx)}
    assert checks["deploy.bindings"] is False
    result = await apply_step(ctx, "deploy")
    # the applied count is the planned one: the kept secrets are among the plan's bindings
    planned = len(change.after["bindings"])
    assert any(f"({planned} bindings, 1 secret(s) kept" in m for m in result.messages), (
        planned, result.messages,
    )  # fmt: skip
    assert await pending(ctx, "deploy") == []
    # keep_bindings kept POLARIS_SECRET_A: the relay still accepts the keyring's secret
    checks = await DeployStep().verify(ctx)
    assert all(c.ok for c in checks), checks
    settings = ctx.cf.workers.scripts.script_and_version_settings.get(
        ctx.config.worker_name, account_id=ctx.config.account_id
    )
    assert "POLARIS_SECRET_A" in {b.name for b in settings.bindings}


def test_send_email_unsupported_maps_to_its_guidance(ctx: Context) -> None:
    exc = cloudflare.BadRequestError(
        "send_email binding not supported",
        response=__import__("httpx").Response(
            400, request=__import__("httpx").Request("PUT", "https://api.cloudflare.com/x")
        ),
        body={"errors": [{"code": 10021, "message": "send_email binding not supported"}]},
    )
    failure = runner.describe_error(ctx, "deploy", port_error(exc))
    assert failure.entry is not None and failure.entry.id == "send-email-binding-unsupported"
    assert "email-service" in failure.entry.fix
    assert troubleshooting.lookup("deploy", message="binding send_email") is not None


WRITE_ENDPOINTS = (
    "POST:*/storage/kv/namespaces",
    "PUT:*/workers/scripts/*",
    "PATCH:*/secrets-bulk",
    "POST:*/workers/routes",
    "POST:*/dns_records/batch",
)


async def test_runtime_steps_converge_under_write_faults(
    ctx: Context, sandbox_server: tuple[Sandbox, object]
) -> None:
    box, _ = sandbox_server
    box.set_faults(";".join(f"{ep}:500:2;{ep}:429:1" for ep in WRITE_ENDPOINTS))
    try:
        for step_id in RELAY_STEPS:
            assert (await apply_step(ctx, step_id)).ok, step_id
        assert (await rotation.emergency(ctx)).ok
    finally:
        box.set_faults("")
    assert all([await pending(ctx, step_id) == [] for step_id in RELAY_STEPS])
    checks = (await runner.verify_async(ctx, runner.select("all"))).checks
    # the delivery check needs Email Sending (email-service), which this test does not set up
    failed = [
        (c.id, c.detail)
        for c in checks
        if c.step in RELAY_STEPS and not c.ok and c.id != "delivery.authenticated"
    ]
    assert failed == []


def test_module_source_reads_the_named_part_or_a_raw_body() -> None:
    from polaris_tui.adapters.worker_script import module_source

    code = b"export default {\r\n  fetch() { return new Response('--x'); }\n};\n"
    body = (
        b'--b1\r\nContent-Disposition: form-data; name="util.js"; filename="util.js"\r\n'
        b"Content-Type: application/javascript+module\r\n\r\nexport const x = 1;\r\n"
        b'--b1\r\nContent-Disposition: form-data; name="index.js"; filename="index.js"\r\n'
        b"Content-Type: application/javascript+module\r\n\r\n" + code + b"\r\n--b1--\r\n"
    )
    assert module_source(body, "multipart/form-data; boundary=b1", "index.js") == code
    assert module_source(code, "application/javascript", "index.js") == code


async def test_plan_and_verify_compare_the_downloaded_module(relay_ctx: Context) -> None:
    """Cloudflare serves the module inside multipart/form-data: the shipped code is up to
    date, and a different module (same bindings) is drift in both plan and verify."""
    import httpx

    from polaris_tui.relay import WORKER_MAIN_MODULE

    ctx = relay_ctx
    name, account = ctx.config.worker_name, ctx.config.account_id
    raw = httpx.get(
        f"{ctx.endpoints.api_base}/accounts/{account}/workers/scripts/{name}",
        headers={"Authorization": f"Bearer {ctx.vault.get('cloudflare-api-token')}"},
    )
    assert raw.headers["content-type"].startswith("multipart/form-data; boundary=")
    assert await pending(ctx, "deploy") == []
    assert (await verify(ctx, "deploy"))["deploy.script"].ok
    metadata = _metadata(ctx, main_module=WORKER_MAIN_MODULE, keep_bindings=["secret_text"])
    metadata["bindings"] = desired_bindings(ctx.config, verify_kv_id(ctx))
    ctx.cf.workers.scripts.update(
        name,
        account_id=account,
        metadata=metadata,
        files=[
            (
                WORKER_MAIN_MODULE,
                b"export class RelayGuard {}\nexport default {};\n",
                "application/javascript+module",
            )
        ],
    )
    [change] = await pending(ctx, "deploy")
    assert change.note == "code"
    assert not (await verify(ctx, "deploy"))["deploy.script"].ok


def verify_kv_id(ctx: Context) -> str:
    from polaris_tui.steps.kv import kv_ids

    return kv_ids(ctx)["id"]
