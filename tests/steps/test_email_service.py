"""The email-service step: pure record logic, then Email Routing + Sending through the real SDK
against the sandbox, with DNS publication checked over UDP at its authoritative server."""

from __future__ import annotations

import asyncio
import dataclasses
import os
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from polaris_tui import runner, troubleshooting
from polaris_tui.adapters.email_sending import parse_sending_domain, required_record
from polaris_tui.context import Context
from polaris_tui.session import sandbox_context
from polaris_tui.steps.auth import AuthStep
from polaris_tui.steps.base import Action, StepState
from polaris_tui.steps.email_service import (
    AUTH_DRIFT,
    EmailServiceStep,
    dkim_comparison,
    pending_advice,
    record_changes,
)
from polaris_tui.steps.records import OWNER_COMMENT, Record, list_records

STEP = EmailServiceStep()
ZONE = "polaris.test"


def yes(step: Any, changes: Any) -> bool:
    return True


# -- pure logic ------------------------------------------------------------------------------
def test_sending_domain_parses_both_field_spellings() -> None:
    plain = parse_sending_domain(
        {
            "tag": "t1",
            "name": "Example.com.",
            "enabled": True,
            "dkim_selector": "cf-bounce",
            "return_path_domain": "cf-bounce.example.com",
            "created": "2026-01-02T03:04:05Z",
        }
    )
    prefixed = parse_sending_domain(
        {
            "email_sending_tag": "t1",
            "name": "example.com",
            "email_sending_enabled": True,
            "email_sending_dkim_selector": "cf-bounce",
            "email_sending_return_path_domain": "cf-bounce.example.com",
            "created": "2026-01-02T03:04:05Z",
        }
    )
    assert plain == prefixed
    assert plain.name == "example.com" and plain.enabled and plain.created is not None


def test_required_records_are_normalised() -> None:
    cname = required_record(
        {"type": "CNAME", "name": "Sel._domainkey", "content": "Sel.dkim.cloudflare.net."}, ZONE
    )
    assert (cname.name, cname.content) == ("sel._domainkey.polaris.test", "sel.dkim.cloudflare.net")
    mx = required_record(
        {"type": "MX", "name": "cf-bounce.polaris.test", "content": "r.mx.x.net", "priority": 13.0},
        ZONE,
    )
    assert mx.priority == 13
    txt = required_record({"type": "TXT", "name": "@", "content": '"v=spf1 " "~all"'}, ZONE)
    assert (txt.name, txt.content) == (ZONE, "v=spf1 ~all")


DKIM = Record("TXT", f"cf-bounce._domainkey.{ZONE}", "v=DKIM1; k=rsa; p=NEW")
MX = Record("MX", f"cf-bounce.{ZONE}", "route1.mx.cloudflare.net", priority=13)


def test_each_required_record_exactly_once() -> None:
    theirs = dataclasses.replace(MX, id="a", content="ROUTE1.mx.cloudflare.net.")
    ours = dataclasses.replace(MX, id="b", comment=OWNER_COMMENT)
    stale_dkim = dataclasses.replace(DKIM, id="c", content="v=DKIM1; k=rsa; p=OLD")
    other_txt = Record("TXT", DKIM.name, "unrelated", id="d")
    changes = record_changes([DKIM, MX], [ours, theirs, stale_dkim, other_txt])
    by_action = {(c.action, c.before["id"] if c.before else None) for c in changes}
    assert by_action == {
        (Action.UPDATE, "c"),  # the stale DKIM key is replaced, not joined by a second one
        (Action.NOOP, "a"),  # Cloudflare's own copy is kept
        (Action.DELETE, "b"),  # our duplicate goes
    }
    delete = next(c for c in changes if c.action is Action.DELETE)
    assert delete.owned


def test_missing_records_are_created() -> None:
    changes = record_changes([DKIM, MX], [])
    assert [c.action for c in changes] == [Action.CREATE, Action.CREATE]
    assert "(DKIM)" in changes[0].note


def test_matching_ignores_case_dots_and_quotes() -> None:
    assert dataclasses.replace(DKIM, content=f'"{DKIM.content}"').same_as(DKIM)
    assert dataclasses.replace(
        MX, name=MX.name.upper() + ".", content="ROUTE1.mx.cloudflare.net."
    ).same_as(MX)
    assert not dataclasses.replace(MX, priority=20).same_as(MX)


def test_dkim_comparison_lines_up_expected_and_actual() -> None:
    expected = [Record("CNAME", f"s1._domainkey.{ZONE}", "s1.dkim.cloudflare.net")]
    actual = [
        Record("CNAME", f"s1._domainkey.{ZONE}.{ZONE}", "s1.dkim.cloudflare.net.polaris.test")
    ]
    lines = dkim_comparison(expected, actual).splitlines()
    assert lines[1].startswith("expected  s1._domainkey.polaris.test ")
    assert lines[2].startswith("actual    s1._domainkey.polaris.test.polaris.test ")
    assert lines[1].index("CNAME") == lines[2].index("CNAME")
    assert "(no record found)" in dkim_comparison(expected, [])


def test_long_pending_shows_the_runbook_guidance() -> None:
    expected = [Record("CNAME", f"s1._domainkey.{ZONE}", "s1.dkim.cloudflare.net")]
    short = pending_advice(expected, [], timedelta(minutes=10))
    assert "few minutes" in short and "expected" not in short
    long = pending_advice(expected, [], timedelta(hours=2))
    assert "trailing part exactly" in long and "append the zone" in long
    assert "expected  s1._domainkey.polaris.test" in long


def test_entitlement_guidance_names_the_plan() -> None:
    plan = troubleshooting.lookup("email-service", message="Email Sending: account not entitled")
    assert plan is not None and "Workers Paid" in plan.fix


# -- against the sandbox ---------------------------------------------------------------------
async def sending_records(ctx: Context) -> list[Record]:
    from polaris_tui.steps.email_service import find_sending_domain, required_records

    sending = await find_sending_domain(ctx)
    assert sending is not None
    return await required_records(ctx, sending)


async def apex_spf(ctx: Context) -> list[str]:
    """SPF strings the authoritative nameserver answers at the apex (DNS over UDP)."""
    answers = await ctx.dns.ask_authoritative(ZONE, "TXT")
    assert answers and all(a.ok for a in answers)
    return [v for v in answers[0].records if v.startswith("v=spf1")]


async def test_apply_enables_routing_and_publishes_each_record_once(sandbox_ctx: Context) -> None:
    ctx = sandbox_ctx
    # the auth step's runbook record is already there, as in the runbook's order
    ctx.cf.dns.records.create(
        zone_id=ctx.zone_id,
        type="TXT",
        name=ZONE,
        content='"v=spf1 include:_spf.mx.cloudflare.net -all"',
        ttl=1,
    )
    progress: list[str] = []
    result = await runner.apply_async(
        ctx,
        STEP,
        await runner.plan_async(ctx, STEP),
        confirm=yes,
        progress=lambda m, f=None: progress.append(m),
    )
    assert result.ok, result.detail
    assert result.detail == "DKIM published and verified by Cloudflare"
    assert AUTH_DRIFT.format(domain=ZONE) in result.messages
    assert any("re-run `polaris-tui apply auth`" in m for m in result.messages)
    assert any(m.startswith("DKIM published") for m in progress)

    assert ctx.cf.email_routing.get(zone_id=ctx.zone_id).enabled
    wanted = await sending_records(ctx)
    assert any(r.name == f"cf-bounce._domainkey.{ZONE}" and r.type == "TXT" for r in wanted)
    zone = await list_records(ctx)
    for rec in wanted:
        assert sum(1 for z in zone if z.same_as(rec)) == 1, rec.display()
    # the API's JSON number comes back as an integer priority, read as an operator writes it
    bounce_mx = await ctx.dns_records.list(name=f"cf-bounce.{ZONE}", type="MX")
    assert bounce_mx
    for mx in bounce_mx:
        assert type(mx.priority) is int
        assert mx.display().endswith(f"(priority {mx.priority})")
    # routing added its own ~all beside the runbook's -all: two SPF records, the auth drift
    assert sorted(await apex_spf(ctx)) == [
        "v=spf1 include:_spf.mx.cloudflare.net -all",
        "v=spf1 include:_spf.mx.cloudflare.net ~all",
    ]

    assert (await runner.plan_async(ctx, STEP)).pending == []
    again = await runner.apply_async(ctx, STEP, await runner.plan_async(ctx, STEP), confirm=yes)
    assert again.detail == "nothing to do"
    assert len(await list_records(ctx)) == len(zone)

    insp = await STEP.plan(ctx)
    assert insp.state is StepState.DONE
    assert insp.facts["dkim_published"] and insp.facts["dkim_verified"]
    # two SPF records: Cloudflare reports Routing misconfigured until auth merges them
    assert insp.facts["routing_status"] == "misconfigured"
    report = await runner.verify_async(ctx, [STEP])
    [failed] = [c for c in report.checks if not c.ok]
    assert failed.id == "email-service.routing" and "status misconfigured" in failed.detail
    assert failed.guidance.startswith("Email Routing is enabled but misconfigured")
    assert "polaris-tui apply auth" in failed.guidance
    assert (
        await runner.apply_async(
            ctx, AuthStep(), await runner.plan_async(ctx, AuthStep()), confirm=yes
        )
    ).ok
    report = await runner.verify_async(ctx, [STEP])
    assert report.ok, [(c.id, c.detail) for c in report.checks if not c.ok]
    assert "status ready" in {c.id: c for c in report.checks}["email-service.routing"].detail
    assert {"email-service.dkim-published", "email-service.dkim-verified"} <= {
        c.id for c in report.checks
    }


async def test_other_providers_mx_is_refused_with_guidance(sandbox_ctx: Context) -> None:
    ctx = sandbox_ctx
    ctx.cf.dns.records.create(
        zone_id=ctx.zone_id,
        type="MX",
        name=ZONE,
        content="mx1.mail-host.example",
        priority=10,
        ttl=1,
    )
    with pytest.raises(runner.StepFailure) as err:
        await runner.apply_async(ctx, STEP, await runner.plan_async(ctx, STEP), confirm=yes)
    assert "mx1.mail-host.example" in err.value.message
    assert err.value.entry is not None and err.value.entry.id == "other-mx"
    assert not ctx.cf.email_routing.get(zone_id=ctx.zone_id).enabled
    assert (await STEP.plan(ctx)).state is StepState.BLOCKED
    checks = {c.id: c for c in (await runner.verify_async(ctx, [STEP])).checks}
    assert not checks["email-service.mx"].ok
    assert checks["email-service.mx"].guidance.startswith("Another mail provider's MX")
    assert checks["email-service.routing"].guidance.startswith("Email Routing or Email Sending")


def test_missing_permission_names_it(sandbox_server: Any, sandbox_ctx: Context) -> None:
    box, _ = sandbox_server
    box.set_faults("POST:/zones/*/email/sending/subdomains:403")
    try:
        with pytest.raises(runner.StepFailure) as err:
            runner.apply(sandbox_ctx, STEP, runner.plan(sandbox_ctx, STEP), confirm=yes)
    finally:
        box.set_faults("")
    entry = err.value.entry
    assert entry is not None and entry.id == "email-service-permission"
    assert "Email Sending · Edit" in entry.meaning


@pytest.fixture
def own_sandbox(tmp_path: Path) -> Iterator[Any]:
    """A sandbox started with extra environment settings (DKIM form, activation delay)."""
    from polaris_tui.sandbox import Sandbox

    boxes = []

    def start(**env: str) -> Context:
        saved = {k: os.environ.get(k) for k in env}
        os.environ.update(env)
        try:
            box = Sandbox(tmp_path / f"sbx{len(boxes)}")
            endpoints = box.start()
        finally:
            for k, v in saved.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v
        boxes.append(box)
        return sandbox_context(box, endpoints)

    yield start
    for box in boxes:
        box.stop()


def test_legacy_cname_form_is_published_by_the_step(own_sandbox: Any) -> None:
    ctx = own_sandbox(POLARIS_SANDBOX_DKIM_MODE="cname", POLARIS_SANDBOX_ACTIVATION_MS="200")
    result = runner.apply(ctx, STEP, runner.plan(ctx, STEP), confirm=yes)
    assert result.ok, result.detail
    cnames = [c for c in result.applied if c.kind == "dns_record"]
    assert [c.target for c in cnames] == [
        "CNAME cf-legacy._domainkey.polaris.test cf-legacy.dkim.cloudflare.net"
    ]
    answer = asyncio.run(ctx.dns.lookup(f"cf-legacy._domainkey.{ZONE}", "CNAME"))
    assert answer.records == ("cf-legacy.dkim.cloudflare.net",)
    assert runner.plan(ctx, STEP).pending == []
    assert runner.verify(ctx, [STEP]).ok


async def test_unverified_dkim_times_out_with_both_states_shown(own_sandbox: Any) -> None:
    ctx = own_sandbox(POLARIS_SANDBOX_ACTIVATION_MS="3600000")
    ctx = dataclasses.replace(ctx, config=dataclasses.replace(ctx.config, dkim_timeout_seconds=1))
    progress: list[str] = []
    result = await runner.apply_async(
        ctx,
        STEP,
        await runner.plan_async(ctx, STEP),
        confirm=yes,
        progress=lambda m, f=None: progress.append(m),
    )
    assert not result.ok
    assert "DKIM published but not verified" in result.detail
    assert any("waiting for Cloudflare to verify" in m for m in progress)
    assert any("few minutes" in m for m in result.messages)
    assert (
        await runner.step_status_async(ctx, STEP)
    ).state is StepState.FAILED  # journaled failure
    assert (await STEP.plan(ctx)).summary == "routing on; DKIM published, not verified yet"
    checks = {c.id: c for c in (await runner.verify_async(ctx, [STEP])).checks}
    assert checks["email-service.dkim-published"].ok
    pending = checks["email-service.dkim-verified"]
    assert not pending.ok and pending.guidance.startswith("DKIM stuck on Pending")
