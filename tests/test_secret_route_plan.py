"""The secret and route steps and a rotation, planned and applied on in-memory fakes.

Pure: no sandbox is booted. The HTTP prober fake answers as the edge and the relay Worker do
(a route reaches the Worker only through a proxied record; the Worker accepts what one of its
secrets signed), and the vault is the real one over an in-memory keyring, so the plans and
probes here follow from the same account state as against Cloudflare.
"""

from __future__ import annotations

from pathlib import Path

from polaris_tui import rotation, runner
from polaris_tui.context import Context, fingerprint
from polaris_tui.plan import Action, StepState
from polaris_tui.ports import Record, WorkerRoute, WorkerSettings
from polaris_tui.steps.route import ROUTE_KIND, RouteStep
from polaris_tui.steps.secret import (
    BINDING_A,
    BINDING_B,
    PUSHED_KEY,
    VAULT_A,
    VAULT_B,
    SecretStep,
    generate_secret,
)
from tests.fakes import FakeAccount, FakeScript, fake_context


def _yes(_step: object, _changes: object) -> bool:
    return True


def deploy(account: FakeAccount, ctx: Context, **secrets: str) -> None:
    """The Worker as the deploy step leaves it, holding ``secrets`` (binding -> value)."""
    account.workers.scripts[ctx.config.worker_name] = FakeScript(
        WorkerSettings("2026-04-26"), {"index.js": "export default {}"}, dict(secrets)
    )


def bind(account: FakeAccount, ctx: Context, *, proxied: bool = True, route: bool = True) -> None:
    """mail.<domain> with an address record and (``route``) a Worker Route to the Worker."""
    host = ctx.config.mail_host
    account.zone.add(Record("A", host, ctx.config.traefik_ipv4, proxied=proxied))
    if route:
        pattern = f"{host}/*"
        account.workers.route_list.append(WorkerRoute("route-1", pattern, ctx.config.worker_name))


def with_secret(
    tmp_path: Path, *, on_worker: str | None = None, route: bool = True
) -> tuple[FakeAccount, Context, str]:
    """A signing secret in the keyring and the Worker deployed behind mail.<domain>, holding
    ``on_worker`` as its A (by default the keyring's secret)."""
    account = FakeAccount()
    ctx = fake_context(tmp_path, account)
    value = generate_secret()
    ctx.vault.set(VAULT_A, value)
    deploy(account, ctx, **{BINDING_A: on_worker or value})
    bind(account, ctx, route=route)
    return account, ctx, value


# -- secret ---------------------------------------------------------------------------------
async def test_without_a_secret_one_is_planned_and_the_first_deploy_carries_it(
    tmp_path: Path,
) -> None:
    account = FakeAccount()
    plan = await runner.plan_async(fake_context(tmp_path, account), SecretStep())
    assert plan.state is StepState.PENDING
    assert [(c.action, c.kind) for c in plan.changes] == [
        (Action.CREATE, "signing_secret"),
        (Action.NOOP, "worker_secret"),
    ]
    assert "first deploy" in plan.changes[1].note
    assert account.http.calls.total() == 0  # nothing to sign a probe with


async def test_a_secret_the_relay_accepts_is_done_from_one_probe(tmp_path: Path) -> None:
    account, ctx, value = with_secret(tmp_path)
    plan = await runner.plan_async(ctx, SecretStep())
    assert plan.state is StepState.DONE, plan.summary
    assert (
        plan.summary == f"secret {fingerprint(value)} on the Worker; the relay accepts it as key A"
    )
    assert plan.facts["worker_secrets"] == [BINDING_A]
    assert account.http.calls == {"POST": 1}


async def test_a_worker_holding_another_secret_is_drift(tmp_path: Path) -> None:
    _, ctx, _ = with_secret(tmp_path, on_worker=generate_secret())  # e.g. set by hand
    plan = await runner.plan_async(ctx, SecretStep())
    assert plan.state is StepState.DRIFT
    assert plan.summary.endswith("but the relay: rejected (401)")


async def test_an_unreachable_relay_is_said_not_judged(tmp_path: Path) -> None:
    _, ctx, _ = with_secret(tmp_path, route=False)
    plan = await runner.plan_async(ctx, SecretStep())  # no route yet: the edge answers 522
    assert plan.state is StepState.DONE
    assert plan.summary.endswith("relay not reachable to probe yet")


async def test_apply_generates_once_and_pushes_to_the_deployed_worker(tmp_path: Path) -> None:
    account = FakeAccount()
    ctx = fake_context(tmp_path, account)
    deploy(account, ctx)
    step = SecretStep()
    plan = await runner.plan_async(ctx, step)
    assert {(c.action, c.kind) for c in plan.pending} == {
        (Action.CREATE, "signing_secret"),
        (Action.CREATE, "worker_secret"),
    }
    assert (await runner.apply_async(ctx, step, plan, confirm=_yes)).ok
    value = ctx.vault.get(VAULT_A)
    assert value and step.reveal_once() == value
    assert account.workers.scripts[ctx.config.worker_name].secrets == {BINDING_A: value}
    assert ctx.state.get(PUSHED_KEY) == {BINDING_A: fingerprint(value)}
    again = await runner.plan_async(ctx, SecretStep())
    assert again.pending == [] and ctx.vault.get(VAULT_A) == value


# -- route ----------------------------------------------------------------------------------
async def test_route_plans_mail_proxied_and_the_route(tmp_path: Path) -> None:
    ctx = fake_context(tmp_path, FakeAccount())
    plan = await runner.plan_async(ctx, RouteStep())
    host, worker = ctx.config.mail_host, ctx.config.worker_name
    assert {(c.action, c.target) for c in plan.pending} == {
        (Action.CREATE, f"A {host} {ctx.config.traefik_ipv4} [proxied]"),
        (Action.CREATE, f"AAAA {host} {ctx.config.traefik_ipv6} [proxied]"),
        (Action.CREATE, f"{host}/*"),
    }
    (route,) = [c for c in plan.pending if c.kind == ROUTE_KIND]
    assert route.after == worker


async def test_route_apply_binds_and_waits_until_the_worker_answers(tmp_path: Path) -> None:
    account = FakeAccount()
    ctx = fake_context(tmp_path, account)
    deploy(account, ctx)
    step = RouteStep()
    result = await runner.apply_async(ctx, step, await runner.plan_async(ctx, step), confirm=_yes)
    assert result.ok, result.detail
    assert [r.pattern for r in account.workers.route_list] == [f"{ctx.config.mail_host}/*"]
    assert account.http.calls["GET"] == 1  # the Worker answered 405 at the first poll
    assert (await runner.plan_async(ctx, step)).state is StepState.DONE


async def test_a_dns_only_record_keeps_the_route_from_the_worker(tmp_path: Path) -> None:
    account = FakeAccount()
    ctx = fake_context(tmp_path, account)
    deploy(account, ctx)
    bind(account, ctx, proxied=False)
    plan = await runner.plan_async(ctx, RouteStep())
    (fix,) = [c for c in plan.pending if c.action is Action.UPDATE]  # and the AAAA created
    assert fix.before["proxied"] is False and fix.after["proxied"] is True
    checks = {c.id: c for c in await RouteStep().verify(ctx)}
    assert checks["route.bound"].ok
    assert not checks["route.mail-record"].ok and "DNS-only" in checks["route.mail-record"].detail
    assert not checks["route.get-send"].ok and checks["route.get-send"].data["status"] == 522


# -- rotation -------------------------------------------------------------------------------
async def test_graceful_rotation_stages_b_and_both_secrets_are_accepted(tmp_path: Path) -> None:
    account, ctx, old = with_secret(tmp_path)
    report = await rotation.graceful(ctx)
    new = ctx.vault.get(VAULT_B)
    assert report.ok, report.lines
    assert new and report.new_fingerprint == fingerprint(new)
    assert account.workers.scripts[ctx.config.worker_name].secrets == {
        BINDING_A: old,
        BINDING_B: new,
    }
    assert report.probes == {
        "old": "old secret: accepted as key A",
        "new": "new secret: accepted as key B",
    }
