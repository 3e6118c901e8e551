"""Runbook step 8: bind ``mail.<domain>`` to the relay Worker.

Default: a Worker Route ``mail.<domain>/*``, which only intercepts traffic for a *proxied*
record, so the step checks that record and plans the fix. Optional ``route_mode =
"custom_domain"``: Cloudflare then creates its own record and refuses (100117) while an
A/AAAA/CNAME exists there; those records are shown and deleted only with --allow-delete.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import replace
from typing import TYPE_CHECKING

from polaris_tui import waiting
from polaris_tui.errors import ApiError, Conflict
from polaris_tui.plan import pending
from polaris_tui.ports import WorkerDomain, WorkerRoute
from polaris_tui.steps import delivery_probe, zone
from polaris_tui.steps.base import (
    Action,
    ApplyResult,
    Change,
    Check,
    Plan,
    Progress,
    Step,
    make_plan,
    no_progress,
    timed_check,
)
from polaris_tui.steps.dns import plan_host
from polaris_tui.steps.records import (
    RECORD_KIND,
    Record,
    apply_record_changes,
    list_records,
    record_change,
)
from polaris_tui.steps.relay_probe import (
    describe,
    signed_probe,
    status_check,
    unsigned_request,
)
from polaris_tui.steps.secret import VAULT_A

if TYPE_CHECKING:
    from polaris_tui.context import Context

ADDRESS_TYPES = ("A", "AAAA", "CNAME")
ROUTE_KIND = "worker_route"
DOMAIN_KIND = "worker_custom_domain"
CHECK_TIMEOUT = 10.0
REACHABLE = (405, 401)  # the Worker answers: GET is not allowed, or unsigned
PROXIED_NOTE = "owned by the dns step; a Worker Route only intercepts proxied traffic"


TAKEN_CODE = 100116
RECORDS_IN_THE_WAY_CODE = 100117


class HostnameTaken(Conflict):
    """Another Worker holds the hostname as a Custom Domain (Cloudflare error 100116)."""

    def __init__(self, message: str) -> None:
        super().__init__(message, status=409, codes=(TAKEN_CODE,))


class RecordsConflict(Conflict):
    """Records at the hostname block a Custom Domain (Cloudflare error 100117)."""

    def __init__(self, message: str) -> None:
        super().__init__(message, status=409, codes=(RECORDS_IN_THE_WAY_CODE,))


def pattern(ctx: Context) -> str:
    return f"{ctx.config.mail_host}/*"


async def find_route(ctx: Context) -> WorkerRoute | None:
    return next((r for r in await ctx.workers.routes() if r.pattern == pattern(ctx)), None)


async def find_domain(ctx: Context) -> WorkerDomain | None:
    host = ctx.config.mail_host
    return next((d for d in await ctx.workers.domains(host) if d.hostname == host), None)


async def mail_records(ctx: Context) -> list[Record]:
    found = await list_records(ctx, name=ctx.config.mail_host)
    return [r for r in found if r.type in ADDRESS_TYPES]


def _taken(ctx: Context, holder: str) -> HostnameTaken:
    return HostnameTaken(
        f"{ctx.config.mail_host} is a Custom Domain of the Worker {holder!r}, not "
        f"{ctx.config.worker_name!r}"
    )


async def wait_until_reachable(ctx: Context, progress: Progress) -> int | None:
    """Poll ``GET /send`` until the Worker answers (405/401) or the propagation timeout."""
    started, delay, status = time.monotonic(), 0.2, None
    limit = ctx.config.propagation_timeout_seconds
    while True:
        try:
            status = await unsigned_request(ctx, "GET")
        except Exception:  # not reachable yet is what we are waiting out
            status = None
        elapsed = time.monotonic() - started

        def said(_left: float, status: int | None = status) -> str:
            waited = waiting.of_limit(time.monotonic() - started, limit)
            return f"GET https://{ctx.config.mail_host}/send -> {status} {waited}"

        progress(said(0), None)
        if status in REACHABLE or elapsed >= limit:
            return status
        await waiting.pause_async(min(delay, max(0.0, limit - elapsed)), said, progress=progress)
        delay = waiting.backoff(delay, elapsed, 5.0)


class RouteStep(Step):
    id = "route"

    async def plan(self, ctx: Context) -> Plan:
        custom = ctx.config.route_mode == "custom_domain"
        changes = await (self._plan_custom_domain(ctx) if custom else self._plan_route(ctx))
        todo = pending(changes)
        if todo:
            summary = "; ".join(f"{c.action} {c.kind} {c.target}" for c in todo)
        else:
            summary = f"{ctx.config.mail_host} bound to the Worker ({ctx.config.route_mode})"
        sends = delivery_probe.note(ctx)
        facts = {"delivery_check": sends} if sends else {}
        return make_plan(self.id, changes, summary, facts=facts)

    async def _plan_route(self, ctx: Context) -> list[Change]:
        """mail.'s records as the desired zone has them (owned by dns, proxied), then the
        route: a Worker Route only intercepts proxied traffic, so route cannot do without."""
        host = ctx.config.mail_host
        wants = [
            d.record
            for d in zone.owned_by("dns", zone.desired_zone(ctx.config))
            if d.record.name == host
        ]
        existing, route = await asyncio.gather(list_records(ctx, name=host), find_route(ctx))
        changes = plan_host(host, existing, wants, note=PROXIED_NOTE)
        worker = ctx.config.worker_name
        if route is None:
            changes.append(Change(Action.CREATE, ROUTE_KIND, pattern(ctx), None, worker))
        elif route.script != worker:
            changes.append(
                Change(
                    Action.UPDATE,
                    ROUTE_KIND,
                    pattern(ctx),
                    route.script,
                    worker,
                    note=f"the route now points at {route.script!r}",
                )
            )
        else:
            changes.append(Change(Action.NOOP, ROUTE_KIND, pattern(ctx), worker, worker))
        return changes

    async def _plan_custom_domain(self, ctx: Context) -> list[Change]:
        host, worker = ctx.config.mail_host, ctx.config.worker_name
        domain, records = await asyncio.gather(find_domain(ctx), mail_records(ctx))
        if domain is not None and domain.service == worker:
            return [Change(Action.NOOP, DOMAIN_KIND, host, worker, worker)]
        if domain is not None:
            raise _taken(ctx, domain.service)
        changes = [
            replace(
                record_change(rec, None, note="blocks a Worker Custom Domain (error 100117)"),
                owned=False,
            )
            for rec in records
        ]
        changes.append(Change(Action.CREATE, DOMAIN_KIND, host, None, worker))
        return changes

    async def apply(
        self, ctx: Context, changes: list[Change], *, progress: Progress = no_progress
    ) -> ApplyResult:
        records = [c for c in changes if c.kind == RECORD_KIND]
        if records:
            progress(f"{len(records)} DNS change(s) at {ctx.config.mail_host}", 0.2)
            await apply_record_changes(ctx, records)
        messages = []
        for change in changes:
            if change.kind == ROUTE_KIND and change.action is Action.CREATE:
                route_id = await ctx.workers.create_route(change.target, change.after)
                ctx.state.mark_owned(ROUTE_KIND, route_id)
                messages.append(f"route {change.target} -> {change.after}")
            elif change.kind == ROUTE_KIND and change.action is Action.UPDATE:
                route = await find_route(ctx)
                assert route is not None
                await ctx.workers.update_route(route.id, change.target, change.after)
                messages.append(f"route {change.target} now -> {change.after}")
            elif change.kind == DOMAIN_KIND and change.action is Action.CREATE:
                try:
                    await ctx.workers.attach_domain(change.target, change.after)
                    ctx.state.mark_owned(DOMAIN_KIND, change.target)
                except ApiError as exc:
                    if TAKEN_CODE in exc.codes:
                        held = await find_domain(ctx)
                        raise _taken(ctx, held.service if held else "(unknown)") from None
                    if RECORDS_IN_THE_WAY_CODE in exc.codes:
                        found = ", ".join(r.display() for r in await mail_records(ctx))
                        raise RecordsConflict(
                            f"records at {change.target} block the Custom Domain: {found}; "
                            "re-run with --allow-delete to remove them"
                        ) from None
                    raise
                messages.append(f"custom domain {change.target} -> {change.after}")
        applied = [c for c in changes if c.action is not Action.NOOP]
        status = await wait_until_reachable(ctx, progress)
        if status not in REACHABLE:
            return ApplyResult(
                False,
                applied,
                f"bound, but GET https://{ctx.config.mail_host}/send still answers {status} "
                f"after {ctx.config.propagation_timeout_seconds}s",
                messages,
            )
        progress(f"{ctx.config.mail_host} reaches the Worker", 1.0)
        return ApplyResult(True, applied, f"{len(applied)} change(s) applied", messages)

    async def verify(self, ctx: Context) -> list[Check]:
        custom = ctx.config.route_mode == "custom_domain"

        async def bound() -> tuple[bool, str]:
            worker = ctx.config.worker_name
            if custom:
                domain = await find_domain(ctx)
                if domain is None or domain.service != worker:
                    holder = domain.service if domain else "nothing"
                    return False, f"{ctx.config.mail_host} custom domain -> {holder}"
                return True, f"custom domain {ctx.config.mail_host} -> {worker}"
            route = await find_route(ctx)
            if route is None or route.script != worker:
                return False, f"route {pattern(ctx)} -> {route.script if route else 'missing'}"
            return True, f"route {pattern(ctx)} -> {worker}"

        async def proxied() -> tuple[bool, str]:
            records = await mail_records(ctx)
            if not records:
                return False, f"no A/AAAA/CNAME at {ctx.config.mail_host}: run apply dns or route"
            plain = [r.display() for r in records if not r.proxied]
            if plain:
                return False, f"DNS-only, the route cannot intercept: {', '.join(plain)}"
            return True, ", ".join(r.display() for r in records)

        async def get_send() -> tuple[bool, str, int | None]:
            status = await unsigned_request(ctx, "GET")
            return status in REACHABLE, f"GET /send -> {status} (405 or 401 expected)", status

        async def unsigned_post() -> tuple[bool, str, int | None]:
            status = await unsigned_request(ctx, "POST")
            return status == 401, f"unsigned POST /send -> {status} (401 expected)", status

        async def signed() -> tuple[bool, str, int | None]:
            value = await asyncio.to_thread(ctx.vault.get, VAULT_A)
            if not value:
                return False, f"no {VAULT_A} in the keyring to sign with", None
            probe = await signed_probe(ctx, value)
            return probe.accepted, "signed dry run: " + describe(probe, VAULT_A), probe.status

        checks = [
            timed_check(self.id, "route.bound", bound, CHECK_TIMEOUT),
            status_check(self.id, "route.get-send", get_send, CHECK_TIMEOUT),
            status_check(self.id, "route.unsigned-post", unsigned_post, CHECK_TIMEOUT),
            status_check(self.id, "route.signed-probe", signed, CHECK_TIMEOUT),
        ]
        if not custom:
            checks.append(timed_check(self.id, "route.mail-record", proxied, CHECK_TIMEOUT))
        if delivery_probe.planned_recipient(ctx) is not None:
            checks.append(delivery_probe.check(ctx, self.id))
        return list(await asyncio.gather(*checks))

    def verify_timeout(self, ctx: Context, default: float) -> float:
        if delivery_probe.planned_recipient(ctx) is None:
            return default
        return max(default, delivery_probe.timeout(ctx) + CHECK_TIMEOUT)
