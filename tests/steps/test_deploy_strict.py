"""Strict mode deployed: the RelayGuard Durable Object bound with its migration, exact limits
at the sandbox edge under concurrency, and the KV fallback when strict mode is off."""

from __future__ import annotations

import dataclasses
import json
import re
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlsplit

import cloudflare
import pytest

from polaris_tui import runner
from polaris_tui.adapters.cloudflare_api import port_error
from polaris_tui.context import Context
from polaris_tui.relay import GUARD_BINDING, GUARD_CLASS, GUARD_MIGRATION_TAG
from polaris_tui.steps.deploy import desired_bindings, wrangler_config
from polaris_tui.steps.secret import VAULT_A
from tests.relay.raw_http import doc_sign, header_block, raw_request
from tests.runtime_helpers import RELAY_STEPS, apply_step, pending, verify

pytest_plugins = ["tests.runtime_fixtures"]


def _settings(ctx: Context) -> dict[str, dict]:
    got = ctx.cf.workers.scripts.script_and_version_settings.get(
        ctx.config.worker_name, account_id=ctx.config.account_id
    )
    return {b.name: b.model_dump(exclude_none=True) for b in got.bindings}


def _migration_tag(ctx: Context) -> str | None:
    listed = ctx.cf.workers.scripts.list(account_id=ctx.config.account_id)
    return next(s.migration_tag for s in listed if s.id == ctx.config.worker_name)


def _request(ctx: Context, to: str, **extra: object) -> tuple[bytes, bytes]:
    """A request signed by the protocol doc's own signer, for the edge's mail host."""
    host = ctx.config.mail_host
    body = json.dumps(
        {"from": ctx.config.sender_customer, "to": to, "subject": "s", "text": "t", **extra}
    ).encode()
    headers = [("Host", host), ("Content-Type", "application/json"),
               *doc_sign(ctx.vault.get(VAULT_A), host, "/send", body).items(),
               ("Content-Length", str(len(body)))]  # fmt: skip
    return header_block("POST", "/send", headers), body


def _race(ctx: Context, requests: list[tuple[bytes, bytes]]) -> dict[int, int]:
    """Send every request at once, one connection each; how many got each status.
    (The sandbox edge drops a request whose client half-closes: keep it open.)"""
    port = urlsplit(ctx.endpoints.edge).port
    assert port is not None
    with ThreadPoolExecutor(len(requests)) as pool:
        statuses = list(pool.map(lambda r: raw_request(port, *r, half_close=False)[0], requests))
    return {s: statuses.count(s) for s in sorted(set(statuses))}


async def test_strict_deploy_binds_the_guard_and_migrates_once(relay_ctx: Context) -> None:
    ctx = relay_ctx
    guard = _settings(ctx)[GUARD_BINDING]
    assert guard["type"] == "durable_object_namespace"
    assert guard["class_name"] == GUARD_CLASS
    assert guard["namespace_id"]  # Cloudflare names the namespace; the plan ignores it
    assert _settings(ctx)["RELAY_STRICT"]["text"] == "true"
    assert _migration_tag(ctx) == GUARD_MIGRATION_TAG
    assert await pending(ctx, "deploy") == []
    assert all(check.ok for check in (await verify(ctx, "deploy")).values())
    # A second upload must not repeat the migration: the class already has its namespace.
    ctx.config = dataclasses.replace(ctx.config, rate_limit_max=25)
    result = await apply_step(ctx, "deploy")
    assert not any("migration" in m for m in result.messages), result.messages
    assert _settings(ctx)[GUARD_BINDING]["namespace_id"] == guard["namespace_id"]


def test_50_copies_of_one_signed_request_at_the_edge_are_accepted_once(
    sending_ctx: Context,
) -> None:
    request = _request(sending_ctx, "race@example.com")
    assert _race(sending_ctx, [request] * 50) == {202: 1, 401: 49}


def test_30_concurrent_sends_to_one_mailbox_at_the_edge_stop_at_the_limit(
    sending_ctx: Context,
) -> None:
    assert sending_ctx.config.rate_limit_max == 10
    variants = ["ada@example.com", "ADA@example.com", "ada+x@example.com"]
    requests = [_request(sending_ctx, variants[i % 3]) for i in range(30)]
    assert _race(sending_ctx, requests) == {202: 10, 429: 20}


async def test_strict_off_deploys_no_guard_and_runs_on_kv(ctx: Context) -> None:
    ctx.config = dataclasses.replace(ctx.config, relay_strict=False)
    for step_id in RELAY_STEPS:
        assert (await apply_step(ctx, step_id)).ok, step_id
    bindings = _settings(ctx)
    assert GUARD_BINDING not in bindings
    assert bindings["RELAY_STRICT"]["text"] == "false"
    assert _migration_tag(ctx) is None
    request = _request(ctx, "fallback@example.com", dry_run=True)  # the claim, no mail
    port = urlsplit(ctx.endpoints.edge).port
    assert port is not None
    assert [raw_request(port, *request, half_close=False)[0] for _ in range(2)] == [200, 401]
    # Turning strict mode on later is a planned update that adds the guard and migrates.
    ctx.config = dataclasses.replace(ctx.config, relay_strict=True)
    [change] = await pending(ctx, "deploy")
    assert f"+{GUARD_BINDING}" in change.note and "+RELAY_STRICT" in change.note
    result = await apply_step(ctx, "deploy")
    assert any(GUARD_MIGRATION_TAG in m for m in result.messages), result.messages
    assert _migration_tag(ctx) == GUARD_MIGRATION_TAG


GUARD = {"type": "durable_object_namespace", "name": GUARD_BINDING, "class_name": GUARD_CLASS}
THEIR_MODULE = b"export class Other {}\nexport class RelayGuard {}\nexport default {};\n"


async def test_a_migration_tag_we_did_not_write_is_refused_by_name(relay_ctx: Context) -> None:
    ctx = relay_ctx
    ctx.cf.workers.scripts.update(
        ctx.config.worker_name,
        account_id=ctx.config.account_id,
        metadata={
            "main_module": "index.js",
            "migrations": {
                "old_tag": GUARD_MIGRATION_TAG,
                "new_tag": "theirs-v2",
                "new_sqlite_classes": ["Other"],
            },
            "keep_bindings": ["secret_text"],
        },
        files=[("index.js", THEIR_MODULE, "application/javascript+module")],
    )
    with pytest.raises(runner.StepFailure, match=r"'theirs-v2'.*another tool migrated it") as got:
        await apply_step(ctx, "deploy")
    assert got.value.entry is not None and got.value.entry.id == "durable-object-migration"
    # Cloudflare's own refusal of a binding without a migration leads to the same guidance.
    with pytest.raises(cloudflare.BadRequestError) as refused:
        ctx.cf.workers.scripts.update(
            "no-migration",
            account_id=ctx.config.account_id,
            metadata={"main_module": "index.js", "bindings": [GUARD]},
            files=[("index.js", THEIR_MODULE, "application/javascript+module")],
        )
    failure = runner.describe_error(ctx, "deploy", port_error(refused.value))
    assert failure.entry is not None and failure.entry.id == "durable-object-migration"


def test_the_wrangler_template_and_the_dry_run_config_bind_the_guard_alike(ctx: Context) -> None:
    from polaris_tui.relay.node import WORKER_DIR

    text = (WORKER_DIR / "wrangler.jsonc").read_text()
    template = json.loads(re.sub(r"^\s*//.*$", "", text, flags=re.M))
    metadata = {
        "main_module": "index.js",
        "compatibility_date": "2026-04-26",
        "bindings": desired_bindings(ctx.config, "0" * 32),
    }
    generated = wrangler_config(ctx.config, metadata)
    for config in (template, generated):
        assert config["durable_objects"] == {
            "bindings": [{"name": GUARD_BINDING, "class_name": GUARD_CLASS}]
        }
        assert config["migrations"] == [
            {"tag": GUARD_MIGRATION_TAG, "new_sqlite_classes": [GUARD_CLASS]}
        ]
    assert template["vars"]["RELAY_STRICT"] == generated["vars"]["RELAY_STRICT"] == "true"
