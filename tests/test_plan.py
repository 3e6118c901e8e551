"""Plans, their derived state and fingerprint, and the desired zone, on in-memory fakes.

Pure plan/diff logic: no sandbox is booted. The fakes answer as the account does (filters,
Email Routing's own records, Cloudflare's error codes), so a plan that is right here is right
for the same account state.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from polaris_tui import runner
from polaris_tui.plan import Action, Change, StepState, make_plan
from polaris_tui.ports import OWNER_COMMENT, Record
from polaris_tui.steps.assets import AssetsStep, load_assets
from polaris_tui.steps.auth import AuthStep
from polaris_tui.steps.dns import DnsStep
from polaris_tui.steps.email_service import EmailServiceStep
from polaris_tui.steps.kv import KvStep
from polaris_tui.steps.route import RouteStep
from tests.fakes import FakeAccount, fake_context

APEX = "example.com"


def _yes(_step: object, _changes: object) -> bool:
    return True


# -- the derived state ------------------------------------------------------------------------
CREATE = Change(Action.CREATE, "thing", "a", None, {"x": 1})
UPDATE = Change(Action.UPDATE, "thing", "b", {"x": 1}, {"x": 2})
NOOP = Change(Action.NOOP, "thing", "c", {"x": 1}, {"x": 1})


@pytest.mark.parametrize(
    ("changes", "hold", "state"),
    [
        ([], None, StepState.DONE),
        ([NOOP], None, StepState.DONE),
        ([CREATE, NOOP], None, StepState.PENDING),
        ([CREATE, UPDATE], None, StepState.DRIFT),
        (
            [Change(Action.CREATE, "thing", "d", {"enabled": False}, {"enabled": True})],
            None,
            StepState.PENDING,
        ),  # turning a feature on creates, whatever its off state says
        ([NOOP], StepState.PENDING, StepState.PENDING),  # waiting on Cloudflare
        ([CREATE], StepState.DRIFT, StepState.DRIFT),
        ([CREATE], StepState.BLOCKED, StepState.BLOCKED),
    ],
)
def test_state_comes_from_the_changes(
    changes: list[Change], hold: StepState | None, state: StepState
) -> None:
    assert make_plan("x", changes, "summary", hold=hold).state is state


def test_a_pending_change_never_reads_done() -> None:
    for hold in (None, StepState.PENDING, StepState.DRIFT, StepState.BLOCKED):
        for change in (CREATE, UPDATE):
            assert make_plan("x", [change], "s", hold=hold).state is not StepState.DONE


def test_a_plan_cannot_hold_done() -> None:
    with pytest.raises(ValueError, match="cannot hold done"):
        make_plan("x", [], "s", hold=StepState.DONE)


def test_the_fingerprint_hashes_what_was_observed_not_the_summary() -> None:
    one = make_plan("x", [UPDATE], "first words", observed={"seen": [1, 2]})
    two = make_plan("x", [UPDATE], "other words", observed={"seen": [1, 2]})
    three = make_plan("x", [UPDATE], "first words", observed={"seen": [1, 3]})
    assert one.fingerprint == two.fingerprint != three.fingerprint


# -- one observation, one plan, applied only while current ------------------------------------
def test_a_fresh_zone_plans_the_address_records_as_pending(tmp_path: Path) -> None:
    account = FakeAccount()
    plan = runner.plan(fake_context(tmp_path, account), DnsStep())
    assert plan.state is StepState.PENDING
    assert {c.target for c in plan.pending if c.action is Action.CREATE} == {
        "A example.com 192.0.2.10",
        "AAAA example.com 2001:db8::10",
        "A manage.example.com 192.0.2.10",
        "AAAA manage.example.com 2001:db8::10",
        "A mail.example.com 192.0.2.10 [proxied]",
        "AAAA mail.example.com 2001:db8::10 [proxied]",
    }


def test_two_observations_of_one_world_give_one_fingerprint(tmp_path: Path) -> None:
    account = FakeAccount()
    account.zone.add(Record("A", APEX, "198.51.100.7"))
    ctx = fake_context(tmp_path, account)
    assert runner.plan(ctx, DnsStep()).fingerprint == runner.plan(ctx, DnsStep()).fingerprint


def test_a_stale_plan_is_refused_and_nothing_is_written(tmp_path: Path) -> None:
    account = FakeAccount()
    ctx = fake_context(tmp_path, account)
    shown = runner.plan(ctx, DnsStep())
    account.zone.add(Record("A", APEX, "198.51.100.7"))  # someone else, after the plan
    with pytest.raises(runner.PlanChanged) as err:
        runner.apply(ctx, DnsStep(), shown, confirm=_yes)
    assert err.value.step == "dns" and err.value.exit_code == 1
    assert "the world changed since this plan was made: review the new plan" in str(err.value)
    assert account.zone.calls["batch"] == 0
    fresh = runner.plan(ctx, DnsStep())
    assert fresh.state is StepState.DRIFT  # the new plan shows the record to update
    assert runner.apply(ctx, DnsStep(), fresh, confirm=_yes).ok
    assert runner.plan(ctx, DnsStep()).state is StepState.DONE


def test_a_current_plan_is_applied_as_shown(tmp_path: Path) -> None:
    account = FakeAccount()
    ctx = fake_context(tmp_path, account)
    shown = runner.plan(ctx, DnsStep())
    assert runner.apply(ctx, DnsStep(), shown, confirm=_yes).ok
    assert account.zone.calls["batch"] == 1
    assert {r.display() for r in account.zone.records} == {c.target for c in shown.pending}


def test_a_plan_of_another_step_is_not_applied(tmp_path: Path) -> None:
    ctx = fake_context(tmp_path, FakeAccount())
    with pytest.raises(ValueError, match="a plan of dns given to apply auth"):
        runner.apply(ctx, AuthStep(), runner.plan(ctx, DnsStep()), confirm=_yes)


def test_a_panel_load_is_one_observation(tmp_path: Path) -> None:
    account = FakeAccount()
    view = runner.load_step(fake_context(tmp_path, account), DnsStep())
    assert view.plan is not None and view.changes == list(view.plan.changes)
    assert view.status.state is view.plan.state
    assert account.zone.calls["list"] == 1  # the whole zone once, filtered per host


# -- the desired zone: one table, one rule, one owner per record ------------------------------
async def test_routing_spf_is_merged_by_auth_without_delete_permission(tmp_path: Path) -> None:
    account = FakeAccount()
    ctx = fake_context(tmp_path, account)
    assert (
        await runner.apply_async(
            ctx, AuthStep(), await runner.plan_async(ctx, AuthStep()), confirm=_yes
        )
    ).ok
    await account.routing.enable(APEX)  # Cloudflare writes its own SPF record beside ours
    plan = await runner.plan_async(ctx, AuthStep())
    assert plan.state is StepState.DRIFT and "2 SPF records" in plan.summary
    (gone,) = plan.pending  # ours already carries Cloudflare's include: theirs merges away
    assert gone.action is Action.DELETE and "include:_spf.mx.cloudflare.net ~all" in gone.target
    assert not gone.needs_delete_permission
    assert (await runner.apply_async(ctx, AuthStep(), plan, confirm=_yes)).ok
    spfs = [
        r for r in await account.zone.list(name=APEX, type="TXT") if r.content.startswith("v=spf1")
    ]
    assert len(spfs) == 1 and "include:_spf.mx.cloudflare.net" in spfs[0].content


async def test_email_sending_records_follow_the_one_rule(tmp_path: Path) -> None:
    account = FakeAccount()
    ctx = fake_context(tmp_path, account)
    step = EmailServiceStep()
    assert (
        await runner.apply_async(ctx, step, await runner.plan_async(ctx, step), confirm=_yes)
    ).ok
    (domain,) = account.sending.domain_list
    required = await account.sending.required_records(domain.tag)
    for rec in required:  # each exactly once, compared as DNS serves it
        assert sum(1 for r in account.zone.records if r.same_as(rec)) == 1, rec.display()
    assert (await runner.plan_async(ctx, step)).state is StepState.DONE
    account.sending.verifying = False  # Cloudflare has not checked the records yet
    waiting = await runner.plan_async(ctx, step)
    assert waiting.pending == [] and waiting.state is StepState.PENDING
    assert "not verified yet" in waiting.summary


async def test_a_stale_copy_in_another_spelling_is_kept_not_duplicated(tmp_path: Path) -> None:
    account = FakeAccount()
    account.routing.enabled = True
    made = await account.sending.create(APEX)
    for rec in await account.sending.required_records(made.tag):  # as an operator pasted them
        pasted = rec.content.upper() + "." if rec.type == "MX" else f'"{rec.content}"'
        account.zone.add(Record(rec.type, rec.name.upper() + ".", pasted, priority=rec.priority))
    plan = await runner.plan_async(fake_context(tmp_path, account), EmailServiceStep())
    assert plan.pending == []


def test_route_and_dns_plan_mail_from_the_same_table_entry(tmp_path: Path) -> None:
    account = FakeAccount()
    account.zone.add(Record("A", f"mail.{APEX}", "198.51.100.9", comment=OWNER_COMMENT))
    ctx = fake_context(tmp_path, account)
    by_dns = {
        (c.action, c.target, str(c.after))
        for c in runner.plan(ctx, DnsStep()).pending
        if "mail." in c.target
    }
    by_route = {
        (c.action, c.target, str(c.after))
        for c in runner.plan(ctx, RouteStep()).pending
        if c.kind == "dns_record"
    }
    assert by_dns == by_route and len(by_dns) == 2  # the A updated in place, the AAAA created


async def test_every_record_two_steps_plan_is_planned_alike(tmp_path: Path) -> None:
    account = FakeAccount()
    await account.routing.enable(APEX)
    await account.sending.create(APEX)
    ctx = fake_context(tmp_path, account)
    planned: dict[str, set[str]] = {}
    for step in (DnsStep(), AuthStep(), EmailServiceStep(), RouteStep()):
        for c in (await runner.plan_async(ctx, step)).pending:
            if c.kind == "dns_record":
                planned.setdefault(c.target, set()).add(f"{c.action} {c.after}")
    assert planned and all(len(ways) == 1 for ways in planned.values()), planned


# -- the other steps: the same Plan, the same derived state -----------------------------------
def test_kv_plan_states(tmp_path: Path) -> None:
    account = FakeAccount()
    ctx = fake_context(tmp_path, account)
    fresh = runner.plan(ctx, KvStep())
    assert fresh.state is StepState.PENDING and fresh.summary.startswith("missing:")
    assert runner.apply(ctx, KvStep(), fresh, confirm=_yes).ok
    assert runner.plan(ctx, KvStep()).state is StepState.DONE
    ctx.state.set("kv", {"id": "someone-elses", "preview_id": "x"})  # the tool state moved
    moved = runner.plan(ctx, KvStep())
    assert moved.state is StepState.DRIFT and "tool state differs" in moved.summary


async def test_assets_wait_for_the_domain_certificate_without_a_change(tmp_path: Path) -> None:
    account = FakeAccount()
    ctx = fake_context(tmp_path, account)
    fresh = await runner.plan_async(ctx, AssetsStep())
    assert fresh.state is StepState.PENDING
    assert {c.kind for c in fresh.pending} == {"r2_bucket", "r2_object", "r2_custom_domain"}
    bucket = ctx.config.r2_bucket
    await account.r2.create_bucket(bucket)
    for asset in load_assets(ctx.config.assets_dir):
        await account.r2.put_object(
            bucket, asset.key, asset.data, content_type="", cache_control=""
        )
    await account.r2.attach_custom_domain(bucket, ctx.config.assets_host)  # certificate pending
    waiting = await runner.plan_async(ctx, AssetsStep())
    assert waiting.pending == [] and waiting.state is StepState.PENDING
    assert "not active yet" in waiting.summary
    account.r2.activate(bucket, ctx.config.assets_host)
    assert (await runner.plan_async(ctx, AssetsStep())).state is StepState.DONE
    # the certificate turning active moved nothing a change depends on
    assert (await runner.plan_async(ctx, AssetsStep())).fingerprint == waiting.fingerprint


async def test_an_object_replaced_after_the_plan_refuses_the_upload(tmp_path: Path) -> None:
    account = FakeAccount()
    ctx = fake_context(tmp_path, account)
    shown = await runner.plan_async(ctx, AssetsStep())
    await account.r2.create_bucket(ctx.config.r2_bucket)  # someone else made the bucket meanwhile
    with pytest.raises(runner.PlanChanged):
        await runner.apply_async(ctx, AssetsStep(), shown, confirm=_yes)
    assert account.r2.calls["put_object"] == 0
