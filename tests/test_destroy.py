"""destroy: the runbook in reverse, removing only what the tool created, over the sandbox.

The round trip runs the console script as an operator would (apply all, destroy all, plan,
apply all again, verify); the ownership rules run in-process against the same sandbox."""

from __future__ import annotations

import json
from pathlib import Path

from polaris_tui import destroy, runner
from polaris_tui.apply_lock import apply_lock
from polaris_tui.steps.auth import AuthStep
from polaris_tui.steps.base import Action
from polaris_tui.steps.dns import DnsStep
from polaris_tui.steps.email_service import EmailServiceStep
from polaris_tui.steps.records import list_records
from polaris_tui.steps.secret import VAULT_A
from tests.runtime_helpers import run_cli

ENV = {"POLARIS_SANDBOX_ADDRESS_VERIFY_MS": "300"}  # the mailbox owner clicks at once
STEPS = ["dns", "auth", "email-service", "assets", "kv", "secret", "deploy", "route"]


def _yes(_step, _changes) -> bool:  # type: ignore[no-untyped-def]
    return True


def _json(proc) -> dict:  # type: ignore[no-untyped-def]
    return json.loads(proc.stdout)


def _removals(report: dict) -> dict[str, list[str]]:
    return {
        s["id"]: [c["kind"] for c in s["changes"] if c["action"] == "delete"]
        for s in report["steps"]
    }


def test_destroy_all_then_apply_all_rebuilds_the_runbook(tmp_path: Path) -> None:
    box = tmp_path / "sbx"
    assert run_cli(box, "status", env=ENV).returncode in (0, 3)
    assert run_cli(box, "config", "set", "dmarc_mailbox", "ops@inbox.example").returncode == 0
    applied = run_cli(box, "apply", "all", "--yes", timeout=600, env=ENV)
    assert applied.returncode == 0, applied.stdout + applied.stderr

    preview = run_cli(box, "destroy", "all", "--json", env=ENV)
    assert preview.returncode == 3, preview.stdout + preview.stderr
    planned = _removals(_json(preview))
    assert list(planned) == list(reversed(STEPS))  # the runbook in reverse
    assert planned["route"] == ["worker_route"] and planned["deploy"] == ["worker_script"]
    assert set(planned["auth"]) == {"email_routing_rule", "email_routing_address", "dns_record"}
    assert "email_routing" in planned["email-service"]
    assert run_cli(box, "plan", "all", env=ENV).returncode == 0  # the preview removed nothing

    gone = run_cli(box, "destroy", "all", "--yes", "--purge-secrets", timeout=300, env=ENV)
    assert gone.returncode == 0, gone.stdout + gone.stderr
    left = run_cli(box, "destroy", "all", "--json", env=ENV)
    assert left.returncode == 0, left.stdout
    assert all(kinds == [] for kinds in _removals(_json(left)).values())

    plan = run_cli(box, "plan", "all", "--json", env=ENV)
    assert plan.returncode == 3
    pending = {s["id"]: s["changes"] for s in _json(plan)["steps"]}
    assert [step for step in STEPS if pending[step]] == STEPS, pending

    again = run_cli(box, "apply", "all", "--yes", timeout=600, env=ENV)
    assert again.returncode == 0, again.stdout + again.stderr
    checked = run_cli(box, "verify", "all", timeout=300, env=ENV)
    assert checked.returncode == 0, checked.stdout + checked.stderr


async def test_operator_records_and_pre_existing_routing_are_left_alone(sandbox_ctx) -> None:  # type: ignore[no-untyped-def]
    ctx = sandbox_ctx
    cf, zone, domain = ctx.cf, ctx.zone_id, ctx.config.domain
    operator_spf = "v=spf1 include:_spf.google.com ~all"
    for name, content in ((domain, operator_spf), (domain, "google-site-verification=abc")):
        cf.dns.records.create(zone_id=zone, type="TXT", name=name, content=content, ttl=1)
    cf.dns.records.create(zone_id=zone, type="A", name=f"www.{domain}", content="192.0.2.7", ttl=1)
    cf.email_routing.dns.create(zone_id=zone)  # the operator had Email Routing on already
    for step in (DnsStep(), AuthStep(), EmailServiceStep()):
        assert (
            await runner.apply_async(ctx, step, await runner.plan_async(ctx, step), confirm=_yes)
        ).ok

    for step_id in ("email-service", "auth", "dns"):
        changes = await destroy.plan_async(ctx, step_id)
        assert all(c.action is Action.DELETE for c in changes)
        assert (await destroy.apply_async(ctx, step_id, changes)).ok
    assert (await ctx.email_routing.settings()).enabled  # not the tool's to turn off
    txt = [r.content for r in await list_records(ctx, name=domain, rtype="TXT")]
    assert "google-site-verification=abc" in txt
    # The operator's SPF was merged in place (adopted): it stays, with the merged content.
    assert [c for c in txt if c.startswith("v=spf1")] == [
        "v=spf1 include:_spf.google.com include:_spf.mx.cloudflare.net -all"
    ]
    assert [r.content for r in await list_records(ctx, name=f"www.{domain}")] == ["192.0.2.7"]
    assert [r for r in await list_records(ctx, name=domain) if r.type in ("A", "AAAA")] == []
    assert all([await destroy.plan_async(ctx, s) == [] for s in ("email-service", "auth", "dns")])


def test_keyring_secrets_stay_unless_purged(sandbox_ctx) -> None:  # type: ignore[no-untyped-def]
    ctx = sandbox_ctx
    original = ctx.vault.get(VAULT_A)
    ctx.vault.set(VAULT_A, "s" * 43)
    try:
        assert destroy.plan(ctx, "secret") == []
        (purge,) = destroy.plan(ctx, "secret", purge_secrets=True)
        assert (purge.kind, purge.target) == ("keyring_secret", VAULT_A)
        assert destroy.apply(ctx, "secret", [purge]).ok
        assert ctx.vault.get(VAULT_A) is None
    finally:
        if original is not None:
            ctx.vault.set(VAULT_A, original)


def test_destroy_honours_the_apply_lock(tmp_path: Path) -> None:
    box = tmp_path / "sbx"
    assert run_cli(box, "status").returncode in (0, 3)
    with apply_lock(box / "tool-state" / "domains" / "polaris.test", "polaris-tui apply all"):
        refused = run_cli(box, "destroy", "all", "--yes")
    assert refused.returncode == 1, refused.stdout + refused.stderr
    assert "(polaris-tui apply all)" in refused.stderr and refused.stdout == ""
