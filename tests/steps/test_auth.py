"""The auth step: one SPF, DMARC with the stricter-policy guard, report routing, checkdmarc.

Runs against the sandbox with the real SDK and dnspython; the done-when scenario also runs
through the console script.
"""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from pathlib import Path

import pytest

from polaris_tui import runner
from polaris_tui.steps.auth import AuthStep, plan_dmarc, plan_spf
from polaris_tui.steps.base import Action, StepState
from polaris_tui.steps.dns import DnsStep
from polaris_tui.steps.records import OWNER_COMMENT, Record, list_records

CLI = Path(sys.executable).parent / "polaris-tui"
GOOGLE_SPF = "v=spf1 include:_spf.google.com ~all"
UNRELATED = "google-site-verification=abc123"
MERGED = "v=spf1 include:_spf.google.com include:_spf.mx.cloudflare.net -all"
RUNBOOK_DMARC = (
    "v=DMARC1; p=none; rua=mailto:dmarc-reports@polaris.test; fo=1; aspf=r; adkim=r; pct=100"
)


def _yes(step, changes) -> bool:  # type: ignore[no-untyped-def]
    return True


def _txt(ctx, name: str, content: str) -> None:  # type: ignore[no-untyped-def]
    ctx.cf.dns.records.create(
        zone_id=ctx.zone_id, type="TXT", name=name, content=f'"{content}"', ttl=1
    )


def seed_done_when(cf, ep) -> None:  # type: ignore[no-untyped-def]
    """Operator SPF, Email Routing's own ~all SPF, an unrelated TXT, a verified inbox
    (its owner opens the verification link the sandbox mailed)."""
    zone_id, account_id, domain = ep.zone_id, ep.account_id, ep.domain
    for content in (GOOGLE_SPF, UNRELATED):
        cf.dns.records.create(zone_id=zone_id, type="TXT", name=domain, content=content, ttl=1)
    cf.email_routing.dns.create(zone_id=zone_id)
    cf.email_routing.addresses.create(account_id=account_id, email="ops@inbox.example")
    ep.verify_address("ops@inbox.example")


async def apex_txt(ctx) -> list[str]:  # type: ignore[no-untyped-def]
    return sorted(r.content for r in await list_records(ctx, name=ctx.config.domain, rtype="TXT"))


async def dmarc_txt(ctx) -> list[str]:  # type: ignore[no-untyped-def]
    return [
        r.content for r in await list_records(ctx, name=f"_dmarc.{ctx.config.domain}", rtype="TXT")
    ]


# -- pure plan rules ------------------------------------------------------------------
def test_two_spf_records_become_one_without_delete_permission() -> None:
    google = Record("TXT", "example.com", GOOGLE_SPF, id="g")
    routing = Record("TXT", "example.com", "v=spf1 include:_spf.mx.cloudflare.net ~all", id="r")
    update, delete = plan_spf([google, routing], "example.com", "-all")
    assert update.action is Action.UPDATE and update.before["id"] == "g"
    assert update.after["content"] == MERGED
    assert delete.action is Action.DELETE and delete.before["id"] == "r"
    assert not delete.needs_delete_permission


def test_our_spf_record_is_the_one_kept() -> None:
    foreign = Record("TXT", "example.com", GOOGLE_SPF, id="g")
    ours = Record("TXT", "example.com", "v=spf1 mx -all", id="o", comment=OWNER_COMMENT)
    update, delete = plan_spf([foreign, ours], "example.com", "-all")
    assert update.before["id"] == "o" and delete.before["id"] == "g"


def test_weaker_dmarc_policy_needs_explicit_permission() -> None:
    strict = Record("TXT", "_dmarc.example.com", "v=DMARC1; p=reject; ruf=mailto:f@example.com")
    changes = plan_dmarc([strict], "_dmarc.example.com", _planned("none"))
    assert [c.action for c in changes] == [Action.DELETE, Action.CREATE]
    assert changes[0].needs_delete_permission
    assert "weakens the published policy p=reject to p=none" in changes[0].note
    assert "ruf=mailto:f@example.com" in changes[1].after["content"]


def test_same_or_stricter_dmarc_policy_is_an_update_in_place() -> None:
    existing = Record("TXT", "_dmarc.example.com", "v=DMARC1; p=quarantine; sp=reject", id="d")
    (change,) = plan_dmarc([existing], "_dmarc.example.com", _planned("reject"))
    assert change.action is Action.UPDATE and not change.needs_delete_permission
    assert change.after["content"].startswith("v=DMARC1; p=reject;")
    assert change.after["content"].endswith("; sp=reject")


def _planned(policy: str):  # type: ignore[no-untyped-def]
    from polaris_tui.dmarc import Planned

    return Planned(policy, "dmarc-reports@example.com")


# -- against the sandbox --------------------------------------------------------------
async def test_done_when_one_spf_one_dmarc_unrelated_untouched(sandbox_ctx) -> None:  # type: ignore[no-untyped-def]
    ctx = sandbox_ctx
    seed_done_when(ctx.cf, ctx.sandbox)
    assert (await runner.step_status_async(ctx, AuthStep())).state is StepState.DRIFT

    assert (
        await runner.apply_async(
            ctx, DnsStep(), await runner.plan_async(ctx, DnsStep()), confirm=_yes
        )
    ).ok
    result = await runner.apply_async(
        ctx, AuthStep(), await runner.plan_async(ctx, AuthStep()), confirm=_yes
    )
    assert result.ok, result.detail

    assert await apex_txt(ctx) == sorted([MERGED, UNRELATED])
    (dmarc,) = await dmarc_txt(ctx)
    assert dmarc == RUNBOOK_DMARC
    for step in (DnsStep(), AuthStep()):
        assert (await runner.plan_async(ctx, step)).pending == []
        assert (await runner.step_status_async(ctx, step)).state is StepState.DONE
    report = await runner.verify_async(ctx, [DnsStep(), AuthStep()])
    assert report.ok, [(c.id, c.detail) for c in report.checks if not c.ok]
    by_id = {c.id: c for c in report.checks}
    assert "syntax valid (checkdmarc)" in by_id["auth.spf-valid"].detail
    assert "_spf.google.com" in by_id["auth.spf-valid"].detail  # said, not hidden
    assert by_id["auth.dmarc-valid"].detail.startswith("valid (checkdmarc)")
    assert "routed by rule" in by_id["auth.dmarc-rua-routed"].detail


async def test_email_routing_enabled_later_shows_drift_and_rerun_fixes(sandbox_ctx) -> None:  # type: ignore[no-untyped-def]
    ctx = sandbox_ctx
    assert (await runner.step_status_async(ctx, AuthStep())).state is StepState.PENDING
    assert (
        await runner.apply_async(
            ctx, AuthStep(), await runner.plan_async(ctx, AuthStep()), confirm=_yes
        )
    ).ok
    assert await apex_txt(ctx) == ["v=spf1 include:_spf.mx.cloudflare.net -all"]
    assert (await runner.step_status_async(ctx, AuthStep())).state is StepState.DONE

    ctx.cf.email_routing.dns.create(zone_id=ctx.zone_id)  # adds its own ~all SPF record
    assert len(await apex_txt(ctx)) == 2
    status = await runner.step_status_async(ctx, AuthStep())
    assert status.state is StepState.DRIFT and "2 SPF records" in status.summary
    failed = {c.id: c for c in (await runner.verify_async(ctx, [AuthStep()])).checks if not c.ok}
    assert "auth.spf-single" in failed
    assert "More than one SPF record" in failed["auth.spf-single"].guidance

    (delete,) = (await runner.plan_async(ctx, AuthStep())).pending  # ours already right
    assert delete.action is Action.DELETE and not delete.needs_delete_permission
    progress: list[str] = []
    fixed = await runner.apply_async(
        ctx,
        AuthStep(),
        await runner.plan_async(ctx, AuthStep()),
        confirm=_yes,
        progress=lambda m, f=None: progress.append(m),
    )
    assert fixed.ok
    assert "1/1 records served by the authoritative nameservers" in progress[-1]
    assert await apex_txt(ctx) == ["v=spf1 include:_spf.mx.cloudflare.net -all"]
    assert (await runner.step_status_async(ctx, AuthStep())).state is StepState.DONE


async def test_stricter_published_policy_is_kept_unless_permitted(sandbox_ctx) -> None:  # type: ignore[no-untyped-def]
    ctx = sandbox_ctx
    strict = "v=DMARC1; p=reject; ruf=mailto:forensics@polaris.test"
    _txt(ctx, f"_dmarc.{ctx.config.domain}", strict)

    with pytest.raises(runner.StepFailure, match="--allow-delete"):
        await runner.apply_async(
            ctx, AuthStep(), await runner.plan_async(ctx, AuthStep()), confirm=_yes
        )
    assert await dmarc_txt(ctx) == [strict] and await apex_txt(ctx) == []

    keep = dataclasses.replace(ctx, config=dataclasses.replace(ctx.config, dmarc_policy="reject"))
    assert (
        await runner.apply_async(
            keep, AuthStep(), await runner.plan_async(keep, AuthStep()), confirm=_yes
        )
    ).ok
    (kept,) = await dmarc_txt(ctx)
    assert kept.startswith("v=DMARC1; p=reject;") and kept.endswith(
        "ruf=mailto:forensics@polaris.test"
    )

    assert (
        await runner.apply_async(
            ctx,
            AuthStep(),
            await runner.plan_async(ctx, AuthStep()),
            confirm=_yes,
            allow_delete=True,
        )
    ).ok
    (weakened,) = await dmarc_txt(ctx)
    assert weakened.startswith("v=DMARC1; p=none;") and "ruf=mailto:forensics@" in weakened


def test_unrouted_rua_without_verified_inbox_fails_with_guidance(sandbox_ctx) -> None:  # type: ignore[no-untyped-def]
    ctx = sandbox_ctx
    assert not [c for c in runner.plan(ctx, AuthStep()).changes if c.kind == "email_routing_rule"]
    assert runner.apply(ctx, AuthStep(), runner.plan(ctx, AuthStep()), confirm=_yes).ok
    checks = {c.id: c for c in runner.verify(ctx, [AuthStep()]).checks}
    routed = checks["auth.dmarc-rua-routed"]
    assert not routed.ok and "no verified destination address" in routed.detail
    assert routed.guidance.startswith("DMARC reports never arrive")
    assert all(c.ok for i, c in checks.items() if i != "auth.dmarc-rua-routed")

    for email in ("a@inbox.example", "b@inbox.example"):
        ctx.cf.email_routing.addresses.create(account_id=ctx.config.account_id, email=email)
        ctx.sandbox.verify_address(email)
    assert runner.plan(ctx, AuthStep()).pending == []  # two inboxes: no guess
    (routed,) = [c for c in runner.verify(ctx, [AuthStep()]).checks if c.id.endswith("routed")]
    assert "several verified destinations" in routed.detail


def test_invalid_operator_spf_fails_checkdmarc_validation(sandbox_ctx) -> None:  # type: ignore[no-untyped-def]
    ctx = sandbox_ctx
    _txt(ctx, ctx.config.domain, "v=spf1 ip4:999.1.1.1 ~all")
    assert runner.apply(ctx, AuthStep(), runner.plan(ctx, AuthStep()), confirm=_yes).ok
    (check,) = [c for c in runner.verify(ctx, [AuthStep()]).checks if c.id == "auth.spf-valid"]
    assert not check.ok and "999.1.1.1" in check.detail
    assert check.guidance.startswith("The SPF record does not validate")


def test_external_rua_needs_the_authorization_record(sandbox_ctx) -> None:  # type: ignore[no-untyped-def]
    cfg = dataclasses.replace(sandbox_ctx.config, dmarc_rua="reports@vendor.example")
    ctx = dataclasses.replace(sandbox_ctx, config=cfg)
    assert runner.apply(ctx, AuthStep(), runner.plan(ctx, AuthStep()), confirm=_yes).ok
    checks = {c.id: c for c in runner.verify(ctx, [AuthStep()]).checks}
    assert "auth.dmarc-rua-routed" not in checks
    check = checks["auth.dmarc-rua-authorized"]
    assert not check.ok and "polaris.test._report._dmarc.vendor.example" in check.detail
    assert "_report._dmarc" in check.guidance


def test_public_resolvers_are_asked_and_shown(sandbox_ctx) -> None:  # type: ignore[no-untyped-def]
    ctx = sandbox_ctx
    assert runner.apply(ctx, AuthStep(), runner.plan(ctx, AuthStep()), confirm=_yes).ok
    ctx.dns.resolvers = [(ctx.sandbox.dns_host, ctx.sandbox.dns_port)]
    (check,) = [c for c in runner.verify(ctx, [AuthStep()]).checks if c.id == "auth.spf-single"]
    assert check.ok and "| public: " in check.detail


def test_cli_done_when(tmp_path: Path) -> None:
    from polaris_tui.adapters.cloudflare_api import make_client
    from polaris_tui.sandbox import Sandbox

    box = tmp_path / "sandbox"
    with Sandbox(box) as ep:
        cf = make_client(ep.token, ep.api)
        seed_done_when(cf, ep)

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(CLI), "--sandbox", "--sandbox-dir", str(box), *args],
            capture_output=True,
            text=True,
            timeout=180,
            check=False,
        )

    for args in (("apply", "dns", "--yes"), ("apply", "auth", "--yes")):
        done = cli(*args)
        assert done.returncode == 0, done.stdout + done.stderr
    for step in ("dns", "auth"):
        plan = cli("plan", step)
        assert plan.returncode == 0 and f"{step}: no changes" in plan.stdout, plan.stdout
        verify = cli("verify", step)
        assert verify.returncode == 0, verify.stdout + verify.stderr
        assert "all checks passed" in verify.stdout

    with Sandbox(box) as ep:
        cf = make_client(ep.token, ep.api)
        records = list(cf.dns.records.list(zone_id=ep.zone_id, type="TXT"))
    txt = sorted(r.content.strip('"') for r in records if "._domainkey." not in r.name)
    assert txt == sorted([MERGED, UNRELATED, RUNBOOK_DMARC])
    [dkim] = [r.name for r in records if "._domainkey." in r.name]  # Email Routing's own
    assert dkim == "cf2024-1._domainkey.polaris.test"


@pytest.mark.parametrize(
    ("check_id", "entry"),
    [
        ("auth.spf-single", "two-spf-records"),
        ("auth.spf-planned", "two-spf-records"),
        ("auth.spf-valid", "spf-invalid"),
        ("auth.dmarc-planned", "dmarc-missing"),
        ("auth.dmarc-valid", "dmarc-missing"),
        ("auth.dmarc-rua-routed", "dmarc-reports-missing"),
        ("auth.dmarc-rua-authorized", "dmarc-external-rua"),
        ("dns.apex-a", "dns-record-mismatch"),
        ("dns.manage-aaaa", "dns-record-mismatch"),
        ("dns.assets-cname", "dns-record-mismatch"),
        ("dns.proxied-unplanned", "dns-unplanned-proxy"),
    ],
)
def test_every_check_has_its_troubleshooting_entry(check_id: str, entry: str) -> None:
    from polaris_tui import troubleshooting

    found = troubleshooting.lookup(check_id.split(".")[0], check_id=check_id)
    assert found is not None and found.id == entry


def test_plan_warns_before_the_merge_exceeds_ten_lookups(sandbox_ctx) -> None:  # type: ignore[no-untyped-def]
    ctx = sandbox_ctx
    hosts = " ".join(f"a:h{i}.polaris.test" for i in range(10))
    _txt(ctx, ctx.config.domain, f"v=spf1 {hosts} ~all")
    (spf_change,) = [
        c for c in runner.plan(ctx, AuthStep()).changes if c.target.startswith("TXT polaris")
    ]
    assert spf_change.note.startswith("WARNING: 11 DNS lookups")
    result = runner.apply(ctx, AuthStep(), runner.plan(ctx, AuthStep()), confirm=_yes)
    assert any(m.startswith("WARNING: 11 DNS lookups") for m in result.messages)


async def test_auth_updates_the_dmarc_record_email_sending_made(sandbox_ctx) -> None:  # type: ignore[no-untyped-def]
    """Onboarding Email Sending writes _dmarc and Email Routing a DKIM TXT at
    cf2024-1._domainkey: auth updates that DMARC in place and leaves the DKIM alone."""
    import dns.message
    import dns.query

    ctx = sandbox_ctx
    domain = ctx.config.domain
    ctx.cf.email_routing.dns.create(zone_id=ctx.zone_id)
    ctx.cf.email_sending.subdomains.create(zone_id=ctx.zone_id, name=domain)
    [made] = await list_records(ctx, name=f"_dmarc.{domain}", rtype="TXT")
    assert made.content.startswith("v=DMARC1;")
    [dkim] = await list_records(ctx, name=f"cf2024-1._domainkey.{domain}", rtype="TXT")

    dmarc_changes = [
        c for c in (await runner.plan_async(ctx, AuthStep())).pending if "_dmarc" in c.target
    ]
    assert [(c.action, c.before["id"]) for c in dmarc_changes] == [(Action.UPDATE, made.id)]
    assert (
        await runner.apply_async(
            ctx, AuthStep(), await runner.plan_async(ctx, AuthStep()), confirm=_yes
        )
    ).ok
    assert await dmarc_txt(ctx) == [RUNBOOK_DMARC]
    assert await apex_txt(ctx) == ["v=spf1 include:_spf.mx.cloudflare.net -all"]
    assert [r.content for r in await list_records(ctx, name=dkim.name, rtype="TXT")] == [
        dkim.content
    ]
    host, port = ctx.endpoints.authoritative_dns[0]
    answer = dns.query.tcp(dns.message.make_query(dkim.name, "TXT"), host, port=port, timeout=5)
    served = [b"".join(rd.strings).decode() for rrset in answer.answer for rd in rrset]
    assert served == [dkim.content]
    assert ctx.cf.email_routing.get(zone_id=ctx.zone_id).status == "ready"
