"""The dns step: plan rules (pure) and the real thing against the sandbox (SDK + dnspython)."""

from __future__ import annotations

import dataclasses

import pytest

from polaris_tui import runner
from polaris_tui.steps.base import Action, StepState
from polaris_tui.steps.dns import DnsStep, judge, plan_host
from polaris_tui.steps.records import OWNER_COMMENT, Record, list_records

HOST = "manage.example.com"
WANT = Record("A", HOST, "203.0.113.10")


def _yes(step, changes) -> bool:  # type: ignore[no-untyped-def]
    return True


# -- plan rules -----------------------------------------------------------------------
def test_missing_record_is_created() -> None:
    (change,) = plan_host(HOST, [], [WANT])
    assert change.action is Action.CREATE and change.after["content"] == "203.0.113.10"


def test_matching_record_is_a_noop() -> None:
    existing = Record("A", HOST, "203.0.113.10", id="r1")
    assert [c.action for c in plan_host(HOST, [existing], [WANT])] == [Action.NOOP]


def test_a_pointing_elsewhere_is_updated_with_before_and_after() -> None:
    existing = Record("A", HOST, "198.51.100.7", id="r1")
    (change,) = plan_host(HOST, [existing], [WANT])
    assert change.action is Action.UPDATE
    assert change.before["content"] == "198.51.100.7"
    assert change.after == {**WANT.to_json(), "id": "r1"}
    assert not change.needs_delete_permission


def test_foreign_cname_where_an_a_is_wanted_needs_delete_permission() -> None:
    cname = Record("CNAME", HOST, "lb.example.net", id="c1")
    changes = plan_host(HOST, [cname], [WANT])
    assert [c.action for c in changes] == [Action.CREATE, Action.DELETE]
    assert changes[1].needs_delete_permission and "CNAME" in changes[1].note


def test_our_own_cname_and_surplus_records_are_deleted_without_permission() -> None:
    ours = Record("CNAME", HOST, "old.example.net", id="c1", comment=OWNER_COMMENT)
    surplus = Record("A", HOST, "198.51.100.8", id="a2", comment=OWNER_COMMENT)
    exact = Record("A", HOST, "203.0.113.10", id="a1")
    changes = plan_host(HOST, [surplus, exact, ours], [WANT])
    assert [c.action for c in changes] == [Action.NOOP, Action.DELETE, Action.DELETE]
    assert not any(c.needs_delete_permission for c in changes)


def test_unrelated_types_are_never_touched() -> None:
    txt = Record("TXT", HOST, "hello", id="t1")
    mx = Record("MX", HOST, "mx.example.net", priority=10, id="m1")
    assert plan_host(HOST, [txt, mx], [WANT]) == plan_host(HOST, [], [WANT])


def test_foreign_aaaa_that_is_not_planned_is_shown_but_kept() -> None:
    aaaa = Record("AAAA", HOST, "2001:db8::99", id="v6")
    changes = plan_host(HOST, [aaaa], [WANT])
    assert changes[1].action is Action.NOOP and "not managed" in changes[1].note


def test_proxied_answer_is_cloudflare_and_that_is_correct() -> None:
    want = Record("A", "mail.example.com", "203.0.113.10", proxied=True)
    ok, detail = judge(("104.16.1.1",), want)
    assert ok and "Cloudflare's edge (proxied" in detail
    ok, detail = judge(("203.0.113.10",), want)
    assert not ok and "not proxied" in detail
    assert judge((), want) == (False, "no records")


def test_dns_only_answer_must_be_exactly_the_origin() -> None:
    assert judge(("203.0.113.10",), WANT)[0]
    ok, detail = judge(("203.0.113.10", "198.51.100.7"), WANT)
    assert not ok and "expected 203.0.113.10" in detail


# -- against the sandbox --------------------------------------------------------------
async def test_apply_then_plan_is_empty_and_verify_passes(sandbox_ctx) -> None:  # type: ignore[no-untyped-def]
    step = DnsStep()
    assert (await runner.step_status_async(sandbox_ctx, step)).state is StepState.PENDING
    progress: list[str] = []
    result = await runner.apply_async(
        sandbox_ctx,
        step,
        await runner.plan_async(sandbox_ctx, step),
        confirm=_yes,
        progress=lambda m, f=None: progress.append(m),
    )
    assert result.ok, result.detail
    assert any("served by the authoritative nameservers" in m for m in progress)
    assert (await runner.plan_async(sandbox_ctx, step)).pending == []
    assert (await runner.step_status_async(sandbox_ctx, step)).state is StepState.DONE
    mail = await list_records(sandbox_ctx, name=sandbox_ctx.config.mail_host, rtype="A")
    assert [r.proxied for r in mail] == [True]
    apex = await list_records(sandbox_ctx, name=sandbox_ctx.config.domain, rtype="A")
    assert [(r.content, r.proxied, r.owned) for r in apex] == [("192.0.2.10", False, True)]

    report = await runner.verify_async(sandbox_ctx, [step])
    assert report.ok, [c.detail for c in report.checks if not c.ok]
    by_id = {c.id: c for c in report.checks}
    assert set(by_id) == {
        f"dns.{label}-{t}" for label in ("apex", "manage", "mail") for t in ("a", "aaaa")
    }
    assert "Cloudflare's edge (proxied" in by_id["dns.mail-a"].detail
    assert "192.0.2.10" in by_id["dns.apex-a"].detail


async def test_foreign_cname_is_replaced_only_with_allow_delete(sandbox_ctx) -> None:  # type: ignore[no-untyped-def]
    ctx, cfg = sandbox_ctx, sandbox_ctx.config
    ctx.cf.dns.records.create(
        zone_id=ctx.zone_id, type="CNAME", name=cfg.manage_host, content="lb.example.net", ttl=1
    )
    with pytest.raises(runner.StepFailure, match="--allow-delete"):
        await runner.apply_async(
            ctx, DnsStep(), await runner.plan_async(ctx, DnsStep()), confirm=_yes
        )
    assert [r.type for r in await list_records(ctx, name=cfg.manage_host)] == ["CNAME"]
    assert await list_records(ctx, name=cfg.domain) == []  # nothing at all was applied

    assert (
        await runner.apply_async(
            ctx, DnsStep(), await runner.plan_async(ctx, DnsStep()), confirm=_yes, allow_delete=True
        )
    ).ok
    assert sorted(r.type for r in await list_records(ctx, name=cfg.manage_host)) == ["A", "AAAA"]


async def test_a_pointing_elsewhere_is_updated_on_confirmation_only(sandbox_ctx) -> None:  # type: ignore[no-untyped-def]
    ctx, cfg = sandbox_ctx, sandbox_ctx.config
    ctx.cf.dns.records.create(
        zone_id=ctx.zone_id, type="A", name=cfg.domain, content="198.51.100.7", ttl=1
    )
    ctx.cf.dns.records.create(
        zone_id=ctx.zone_id, type="TXT", name=cfg.domain, content='"unrelated"', ttl=1
    )
    assert (await runner.step_status_async(ctx, DnsStep())).state is StepState.DRIFT
    (update,) = [
        c for c in (await runner.plan_async(ctx, DnsStep())).changes if c.action is Action.UPDATE
    ]
    assert update.before["content"] == "198.51.100.7"
    assert update.after["content"] == "192.0.2.10"

    declined = await runner.apply_async(
        ctx, DnsStep(), await runner.plan_async(ctx, DnsStep()), confirm=lambda s, c: False
    )
    assert not declined.ok
    assert [r.content for r in await list_records(ctx, name=cfg.domain, rtype="A")] == [
        "198.51.100.7"
    ]

    assert (
        await runner.apply_async(
            ctx, DnsStep(), await runner.plan_async(ctx, DnsStep()), confirm=_yes
        )
    ).ok
    assert [r.content for r in await list_records(ctx, name=cfg.domain, rtype="A")] == [
        "192.0.2.10"
    ]
    assert [r.content for r in await list_records(ctx, name=cfg.domain, rtype="TXT")] == [
        "unrelated"
    ]


async def test_a_record_changed_while_the_operator_confirms_refuses_the_plan(sandbox_ctx) -> None:  # type: ignore[no-untyped-def]
    ctx, cfg = sandbox_ctx, sandbox_ctx.config
    shown = await runner.plan_async(ctx, DnsStep())

    def confirm_slowly(_step, _changes) -> bool:  # type: ignore[no-untyped-def]
        ctx.cf.dns.records.create(  # meanwhile, someone else points the apex elsewhere
            zone_id=ctx.zone_id, type="A", name=cfg.domain, content="198.51.100.7", ttl=1
        )
        return True

    with pytest.raises(runner.PlanChanged) as err:
        await runner.apply_async(ctx, DnsStep(), shown, confirm=confirm_slowly)
    assert err.value.step == "dns" and err.value.exit_code == 1
    assert "review the new plan" in err.value.message
    assert [r.content for r in await list_records(ctx, name=cfg.domain, rtype="A")] == [
        "198.51.100.7"
    ]
    assert (
        await list_records(ctx, name=cfg.manage_host) == []
    )  # nothing of the old plan was applied
    assert ctx.journal.last_outcomes(cfg.domain).get("dns") is None


async def test_proxy_switched_on_by_hand_fails_with_guidance(sandbox_ctx) -> None:  # type: ignore[no-untyped-def]
    ctx, cfg = sandbox_ctx, sandbox_ctx.config
    assert (
        await runner.apply_async(
            ctx, DnsStep(), await runner.plan_async(ctx, DnsStep()), confirm=_yes
        )
    ).ok
    (apex,) = await list_records(ctx, name=cfg.domain, rtype="A")
    ctx.cf.dns.records.edit(
        apex.id,
        zone_id=ctx.zone_id,
        type="A",
        name=apex.name,
        content=apex.content,
        proxied=True,
        ttl=1,
    )
    report = await runner.verify_async(ctx, [DnsStep()])
    failed = {c.id: c for c in report.checks if not c.ok}
    assert set(failed) == {"dns.apex-a", "dns.apex-aaaa"}
    assert "expected 192.0.2.10" in failed["dns.apex-a"].detail
    assert "proxied in the zone" in failed["dns.apex-a"].guidance
    (fix,) = (await runner.plan_async(ctx, DnsStep())).pending
    assert fix.before["proxied"] and not fix.after["proxied"]


def test_other_assets_origin_gets_a_cname(sandbox_ctx) -> None:  # type: ignore[no-untyped-def]
    cfg = dataclasses.replace(sandbox_ctx.config, assets_origin="cdn.example.net")
    ctx = dataclasses.replace(sandbox_ctx, config=cfg)
    changes = runner.plan(ctx, DnsStep()).pending
    assert "CNAME assets.polaris.test cdn.example.net" in [c.target for c in changes]
    assert runner.apply(ctx, DnsStep(), runner.plan(ctx, DnsStep()), confirm=_yes).ok
    report = runner.verify(ctx, [DnsStep()])
    assert report.ok and "dns.assets-cname" in {c.id for c in report.checks}


def test_r2_assets_host_is_left_to_the_assets_step(sandbox_ctx) -> None:  # type: ignore[no-untyped-def]
    (note,) = [c for c in runner.plan(sandbox_ctx, DnsStep()).changes if "assets" in c.target]
    assert note.action is Action.NOOP and "R2 custom domain" in note.note


async def test_private_r2_cname_is_pointed_out_not_deleted(sandbox_ctx) -> None:  # type: ignore[no-untyped-def]
    ctx, cfg = sandbox_ctx, sandbox_ctx.config
    ctx.cf.dns.records.create(
        zone_id=ctx.zone_id,
        type="CNAME",
        name=cfg.assets_host,
        content="polaris-assets.r2.cloudflarestorage.com",
        ttl=1,
    )
    (note,) = [c for c in (await runner.plan_async(ctx, DnsStep())).changes if "assets" in c.target]
    assert note.action is Action.NOOP and "serves nothing publicly" in note.note
    assert (
        await runner.apply_async(
            ctx, DnsStep(), await runner.plan_async(ctx, DnsStep()), confirm=_yes
        )
    ).ok
    assert [r.type for r in await list_records(ctx, name=cfg.assets_host)] == ["CNAME"]


def test_custom_domain_mode_leaves_mail_to_the_route_step(sandbox_ctx) -> None:  # type: ignore[no-untyped-def]
    cfg = dataclasses.replace(sandbox_ctx.config, route_mode="custom_domain")
    ctx = dataclasses.replace(sandbox_ctx, config=cfg)
    changes = runner.plan(ctx, DnsStep()).changes
    (note,) = [c for c in changes if c.target == cfg.mail_host]
    assert note.action is Action.NOOP and "Worker Custom Domain" in note.note
    assert not any(c.target.startswith(("A mail.", "AAAA mail.")) for c in changes)
