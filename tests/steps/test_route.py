"""route step: Worker Route on a proxied record (default) or a Custom Domain, verified over
HTTP at the sandbox edge with the runbook's checks."""

from __future__ import annotations

import dataclasses

import pytest

from polaris_tui import runner
from polaris_tui.context import Context
from polaris_tui.steps.base import Action
from polaris_tui.steps.records import list_records
from polaris_tui.steps.route import DOMAIN_KIND, ROUTE_KIND, find_route
from tests.runtime_helpers import apply_step, pending, verify

pytest_plugins = ["tests.runtime_fixtures"]


@pytest.fixture
async def deployed_ctx(ctx: Context) -> Context:
    """The Worker deployed on an account that can send (Email Sending verified), so verify's
    delivery.authenticated test message is delivered and judged."""
    for step_id in ("email-service", "kv", "secret", "deploy"):
        await apply_step(ctx, step_id)
    return ctx


def _record(ctx: Context, *, proxied: bool) -> str:
    rec = ctx.cf.dns.records.create(
        zone_id=ctx.zone_id,
        type="A",
        name=ctx.config.mail_host,
        content=ctx.config.traefik_ipv4,
        proxied=proxied,
        ttl=1,
    )
    return rec.id


def _other_worker(ctx: Context, name: str) -> None:
    ctx.cf.workers.scripts.update(
        name,
        account_id=ctx.config.account_id,
        metadata={"main_module": "w.js", "compatibility_date": "2026-04-26"},
        files=[
            (
                "w.js",
                b"export default {fetch() {return new Response('x')}}",
                "application/javascript+module",
            )
        ],
    )


async def test_route_mode_binds_mail_host_and_passes_the_runbook_checks(
    deployed_ctx: Context,
) -> None:
    ctx = deployed_ctx
    changes = await pending(ctx, "route")
    # mail.'s records exactly as the dns step owns them in the desired zone (A and AAAA)
    assert [(c.action, c.kind, c.after.get("type")) for c in changes[:2]] == [
        (Action.CREATE, "dns_record", "A"),
        (Action.CREATE, "dns_record", "AAAA"),
    ]
    assert (changes[2].action, changes[2].kind) == (Action.CREATE, ROUTE_KIND)
    assert all(c.after["proxied"] is True for c in changes[:2])
    assert (await apply_step(ctx, "route")).ok
    assert await pending(ctx, "route") == []
    checks = await verify(ctx, "route")
    assert all(c.ok for c in checks.values()), checks
    assert checks["route.get-send"].data["status"] == 405
    assert checks["route.unsigned-post"].data["status"] == 401
    assert checks["route.signed-probe"].data["status"] == 200
    assert "key A" in checks["route.signed-probe"].detail


async def test_dns_only_record_is_planned_proxied(deployed_ctx: Context) -> None:
    ctx = deployed_ctx
    record_id = _record(ctx, proxied=False)
    [fix, _aaaa, _route] = await pending(ctx, "route")
    assert fix.action is Action.UPDATE and fix.after["proxied"] is True
    assert "proxied" in fix.note
    await apply_step(ctx, "route")
    records = await list_records(ctx, name=ctx.config.mail_host)
    assert {r.type for r in records} == {"A", "AAAA"} and all(r.proxied for r in records)
    assert record_id in {r.id for r in records}  # updated in place, not replaced
    assert all(c.ok for c in (await verify(ctx, "route")).values())


async def test_unbound_host_maps_522_and_404_to_propagation_guidance(deployed_ctx: Context) -> None:
    ctx = deployed_ctx
    checks = await verify(ctx, "route")
    assert checks["route.get-send"].data["status"] == 404  # no record: Traefik/none answers
    assert "hasn't propagated" in checks["route.get-send"].guidance
    _record(ctx, proxied=True)
    checks = await verify(ctx, "route")
    get_send = checks["route.get-send"]
    assert not get_send.ok and get_send.data["status"] == 522
    assert "522" in get_send.guidance and "verify dns" in get_send.guidance
    assert not checks["route.bound"].ok


async def test_route_to_another_worker_is_repointed(deployed_ctx: Context) -> None:
    ctx = deployed_ctx
    _other_worker(ctx, "someone-else")
    ctx.cf.workers.routes.create(
        zone_id=ctx.zone_id, pattern=f"{ctx.config.mail_host}/*", script="someone-else"
    )
    route_change = next(c for c in await pending(ctx, "route") if c.kind == ROUTE_KIND)
    assert (route_change.action, route_change.before) == (Action.UPDATE, "someone-else")
    await apply_step(ctx, "route")
    assert (await find_route(ctx)).script == ctx.config.worker_name


async def test_custom_domain_deletes_conflicts_only_when_allowed(deployed_ctx: Context) -> None:
    ctx = deployed_ctx
    ctx.config = dataclasses.replace(ctx.config, route_mode="custom_domain")
    _record(ctx, proxied=False)
    changes = await pending(ctx, "route")
    assert [(c.action, c.kind, c.owned) for c in changes] == [
        (Action.DELETE, "dns_record", False),
        (Action.CREATE, DOMAIN_KIND, True),
    ]
    assert "100117" in changes[0].note
    with pytest.raises(runner.StepFailure, match="--allow-delete"):
        await apply_step(ctx, "route")
    assert (await apply_step(ctx, "route", allow_delete=True)).ok
    assert await pending(ctx, "route") == []
    checks = await verify(ctx, "route")
    assert set(checks) == {"route.bound", "route.get-send", "route.unsigned-post",
                           "route.signed-probe", "delivery.authenticated"}  # fmt: skip
    assert all(c.ok for c in checks.values()), checks


def test_custom_domain_held_by_another_worker_names_it(deployed_ctx: Context) -> None:
    ctx = deployed_ctx
    ctx.config = dataclasses.replace(ctx.config, route_mode="custom_domain")
    _other_worker(ctx, "legacy-mailer")
    ctx.cf.workers.domains.update(
        account_id=ctx.config.account_id,
        hostname=ctx.config.mail_host,
        service="legacy-mailer",
        zone_id=ctx.zone_id,
    )
    with pytest.raises(runner.StepFailure) as caught:
        runner.plan(ctx, runner.select("route")[0])
    assert "legacy-mailer" in caught.value.message
    assert caught.value.entry is not None and caught.value.entry.id == "custom-domain-taken"
