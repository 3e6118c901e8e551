"""dmarc_mailbox: apply auth adds the operator's inbox as a destination address, waits until
its owner opens the verification link the sandbox mailed, then routes dmarc_rua to it; a
timeout says what to click and a re-run resumes without adding the address again."""

from __future__ import annotations

import dataclasses
import threading
import time
from pathlib import Path

import pytest

from polaris_tui import runner
from polaris_tui.steps.auth import RULE_KIND, AuthStep
from polaris_tui.steps.base import Action
from polaris_tui.steps.mailbox import ADDRESS_KIND, plan_mailbox
from tests.runtime_helpers import run_cli, verify

MAILBOX = "reports@inbox.example"
RUA = "dmarc-reports@polaris.test"


def _with_mailbox(ctx, timeout: int = 60):  # type: ignore[no-untyped-def]
    ctx.config = dataclasses.replace(
        ctx.config, dmarc_mailbox=MAILBOX, mailbox_timeout_seconds=timeout
    )
    return ctx


async def _addresses(ctx) -> list:  # type: ignore[no-untyped-def]
    return [a for a in await ctx.email_routing.addresses() if a.email == MAILBOX]


async def _rules_to_mailbox(ctx) -> list:  # type: ignore[no-untyped-def]
    return [r for r in await ctx.email_routing.rules() if ("literal", RUA) in r.matchers]


def test_plan_adds_the_address_and_says_a_verification_mail_comes() -> None:
    add, rule = plan_mailbox(
        RUA, MAILBOX, rule_kind=RULE_KIND, verified=(), unverified=(), timeout=900
    )
    assert (add.action, add.kind, add.target) == (Action.CREATE, ADDRESS_KIND, MAILBOX)
    assert f"Cloudflare sends a verification mail to {MAILBOX}; click the link" in add.note
    assert rule.after == {"to": RUA, "forward": MAILBOX} and "once it is verified" in rule.note
    # Added but not verified yet: only the rule is left, and it still waits.
    (rule,) = plan_mailbox(
        RUA, MAILBOX, rule_kind=RULE_KIND, verified=(), unverified=(MAILBOX,), timeout=900
    )
    assert rule.kind == RULE_KIND and "once it is verified" in rule.note


async def test_apply_waits_until_the_mailed_link_is_opened(sandbox_ctx) -> None:  # type: ignore[no-untyped-def]
    ctx = _with_mailbox(sandbox_ctx)
    seen: list[str] = []

    def owner_opens_the_mail() -> None:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if any(MAILBOX in m for m in seen) and any("waiting for" in m for m in seen):
                try:
                    ctx.sandbox.verify_address(MAILBOX)
                    return
                except LookupError:
                    pass
            time.sleep(0.05)

    clicker = threading.Thread(target=owner_opens_the_mail, daemon=True)
    clicker.start()
    result = await runner.apply_async(
        ctx,
        AuthStep(),
        await runner.plan_async(ctx, AuthStep()),
        confirm=lambda _s, _c: True,
        progress=lambda m, _f: seen.append(m),
    )
    clicker.join(timeout=30)
    assert result.ok, result.detail
    waits = [m for m in seen if m.startswith(f"waiting for {MAILBOX} to be verified")]
    assert waits and waits[0].endswith("of 60 s)"), seen
    assert [a.verified for a in await _addresses(ctx)] == [True]
    (rule,) = await _rules_to_mailbox(ctx)
    assert rule.actions == ("forward",)
    assert ctx.state.owned(ADDRESS_KIND) == {MAILBOX}
    assert (await runner.plan_async(ctx, AuthStep())).pending == []
    assert (await verify(ctx, "auth"))["auth.dmarc-rua-routed"].ok


async def test_timeout_says_what_to_click_and_a_rerun_resumes(sandbox_ctx) -> None:  # type: ignore[no-untyped-def]
    ctx = _with_mailbox(sandbox_ctx, timeout=1)
    result = await runner.apply_async(
        ctx, AuthStep(), await runner.plan_async(ctx, AuthStep()), confirm=lambda _s, _c: True
    )
    assert not result.ok
    assert f"{MAILBOX} is not verified after 1s" in result.detail
    assert "click its verification link" in result.detail and "resumes" in result.detail
    assert [a.verified for a in await _addresses(ctx)] == [False]
    assert await _rules_to_mailbox(ctx) == []
    routed = (await verify(ctx, "auth"))["auth.dmarc-rua-routed"]
    assert not routed.ok and "not verified yet: click the link" in routed.detail

    left = (await runner.plan_async(ctx, AuthStep())).pending
    assert [c.kind for c in left if c.kind in (ADDRESS_KIND, RULE_KIND)] == [RULE_KIND]
    ctx.sandbox.verify_address(MAILBOX)
    assert (
        await runner.apply_async(
            ctx, AuthStep(), await runner.plan_async(ctx, AuthStep()), confirm=lambda _s, _c: True
        )
    ).ok
    assert len(await _addresses(ctx)) == 1 and len(await _rules_to_mailbox(ctx)) == 1


async def test_a_cancel_stops_the_wait_and_creates_no_rule(sandbox_ctx) -> None:  # type: ignore[no-untyped-def]
    ctx = _with_mailbox(sandbox_ctx)

    class Cancelled(Exception):
        pass

    def progress(message: str, _fraction: float | None) -> None:
        if message.startswith("waiting for"):
            raise Cancelled

    with pytest.raises(Cancelled):
        await AuthStep().apply(
            ctx, (await runner.plan_async(ctx, AuthStep())).pending, progress=progress
        )
    assert await _rules_to_mailbox(ctx) == [] and len(await _addresses(ctx)) == 1


def test_without_dmarc_mailbox_nothing_is_added(sandbox_ctx) -> None:  # type: ignore[no-untyped-def]
    ctx = sandbox_ctx
    changes = runner.plan(ctx, AuthStep()).pending
    assert not [c for c in changes if c.kind in (ADDRESS_KIND, RULE_KIND)]


def test_fresh_sandbox_apply_all_then_verify_passes_unattended(tmp_path: Path) -> None:
    """Nothing done by hand: the sandbox's auto-verify knob stands for the owner's click."""
    box = tmp_path / "sbx"
    env = {"POLARIS_SANDBOX_ADDRESS_VERIFY_MS": "500"}
    assert run_cli(box, "status", env=env).returncode in (0, 3)  # the sandbox writes its config
    assert run_cli(box, "config", "set", "dmarc_mailbox", MAILBOX, env=env).returncode == 0
    plan = run_cli(box, "plan", "auth", env=env)
    assert f"Cloudflare sends a verification mail to {MAILBOX}" in plan.stdout, plan.stdout
    applied = run_cli(box, "apply", "all", "--yes", timeout=600, env=env)
    assert applied.returncode == 0, applied.stdout + applied.stderr
    checked = run_cli(box, "verify", "all", timeout=300, env=env)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "auth.dmarc-rua-routed" in checked.stdout
