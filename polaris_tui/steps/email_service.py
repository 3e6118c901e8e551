"""Step ``email-service``: Email Routing on, Email Sending's records published once, DKIM verified.

Cloudflare decides which records Email Sending needs (today a ``cf-bounce._domainkey`` TXT
plus MX/SPF at ``cf-bounce.<domain>``; the runbook shows an older
``<selector>._domainkey`` CNAME), so the step reads them from the API and never hard-codes
them. Enabling Routing adds a second apex SPF record, which the ``auth`` step must merge.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from polaris_tui import waiting
from polaris_tui.errors import PolarisError
from polaris_tui.plan import pending
from polaris_tui.ports import SendingDomain
from polaris_tui.steps import zone
from polaris_tui.steps.base import (
    Action,
    ApplyResult,
    Change,
    Check,
    Plan,
    Progress,
    Step,
    StepState,
    make_plan,
    no_progress,
    timed_check,
)
from polaris_tui.steps.propagation import Expect, served, wait_until_served
from polaris_tui.steps.records import (
    RECORD_KIND,
    Record,
    apply_record_changes,
    list_records,
    unquote,
)
from polaris_tui.steps.zone import diff_slots, is_dkim

if TYPE_CHECKING:
    from polaris_tui.context import Context

STEP_ID = "email-service"
ROUTING_KIND = "email_routing"
SENDING_KIND = "email_sending_domain"
CLOUDFLARE_MX_SUFFIX = ".mx.cloudflare.net"
FOREIGN_MX = "MX records of another provider"
LONG_PENDING = timedelta(hours=1)
CHECK_TIMEOUT_SECONDS = 15.0
AUTH_DRIFT = (
    "Email Routing added its own SPF record at {domain}: the `auth` step may now show drift "
    "(two SPF records break SPF); re-run `polaris-tui apply auth` to merge them into one."
)


class EmailServiceError(PolarisError):
    """The step refuses to act; the message says why and what to do."""

    title = "Email Routing and Sending"


def _value(rec: Record) -> str:
    if rec.type in ("CNAME", "MX"):
        return rec.content.rstrip(".").lower()
    return unquote(rec.content) if rec.type == "TXT" else rec.content


def record_changes(wanted: list[Record], existing: list[Record]) -> list[Change]:
    """Each wanted record exactly once (the desired zone's rule): NOOP, CREATE, UPDATE a stale
    copy, DELETE duplicates. Among duplicates the one the tool did not create is kept
    (Cloudflare may have written it)."""
    return diff_slots(existing, zone.sending_records(wanted))


def dkim_comparison(expected: list[Record], actual: list[Record]) -> str:
    """Expected and actual DKIM records side by side, one row each, columns aligned."""
    rows = [("", "name", "type", "value")]
    rows += [("expected", r.name, r.type, _value(r)) for r in expected]
    rows += [("actual", r.name, r.type, _value(r)) for r in actual] or [
        ("actual", "(no record found)", "", "")
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    return "\n".join(
        "  ".join(cell.ljust(widths[i]) if i < 3 else cell for i, cell in enumerate(row)).rstrip()
        for row in rows
    )


def pending_advice(
    expected: list[Record], actual: list[Record], pending_for: timedelta | None
) -> str:
    """What to say while DKIM is unverified; over an hour, the runbook's compare guidance."""
    if pending_for is None or pending_for < LONG_PENDING:
        return "Cloudflare has not verified DKIM yet; this usually takes a few minutes."
    hours = pending_for.total_seconds() / 3600
    return (
        f"DKIM pending for {hours:.1f} h: the record was probably copied incorrectly. "
        "Compare the trailing part exactly (e.g. .dkim.cloudflare.net); some DNS UIs "
        "append the zone, so paste only the host part.\n" + dkim_comparison(expected, actual)
    )


# -- reading the account ---------------------------------------------------------------------
@dataclass
class Survey:
    """What exists now: routing, apex MX, the sending domain and its required records."""

    routing_enabled: bool
    routing_status: str
    foreign_mx: list[Record]
    sending: SendingDomain | None
    required: list[Record]
    existing: list[Record]

    @property
    def dkim_records(self) -> list[Record]:
        return [r for r in self.required if is_dkim(r)]


async def find_sending_domain(ctx: Context) -> SendingDomain | None:
    domain = ctx.config.domain
    return next((d for d in await ctx.email_sending.domains() if d.name == domain), None)


async def required_records(ctx: Context, sending: SendingDomain) -> list[Record]:
    return await ctx.email_sending.required_records(sending.tag)


def _keys(wanted: list[Record]) -> list[tuple[str, str]]:
    return sorted({(r.name, r.type) for r in wanted})


async def existing_for(ctx: Context, wanted: list[Record]) -> list[Record]:
    """Zone records at the names and types of ``wanted`` (one read per name and type, all in
    flight at once; inside an observation they are filtered from one zone listing)."""
    found = await asyncio.gather(
        *(list_records(ctx, name=name, rtype=rtype) for name, rtype in _keys(wanted))
    )
    return [rec for records in found for rec in records]


async def routing_settings(ctx: Context) -> tuple[bool, str]:
    """Whether Email Routing is enabled on the zone, and its status."""
    routing = await ctx.email_routing.settings()
    return routing.enabled, routing.status


async def foreign_mx(ctx: Context) -> list[Record]:
    """Apex MX records that are not Email Routing's."""
    apex_mx = await list_records(ctx, name=ctx.config.domain, rtype="MX")
    return [r for r in apex_mx if not _value(r).endswith(CLOUDFLARE_MX_SUFFIX)]


async def _sending_and_required(ctx: Context) -> tuple[SendingDomain | None, list[Record]]:
    sending = await find_sending_domain(ctx)
    return sending, (await required_records(ctx, sending) if sending else [])


async def survey(ctx: Context) -> Survey:
    """Routing, the apex MX and the sending domain are read at once; the required records
    follow the sending domain (they need its tag), then their zone copies."""
    (routing_enabled, routing_status), foreign, (sending, required) = await asyncio.gather(
        routing_settings(ctx), foreign_mx(ctx), _sending_and_required(ctx)
    )
    return Survey(
        routing_enabled=routing_enabled,
        routing_status=routing_status,
        foreign_mx=foreign,
        sending=sending,
        required=required,
        existing=await existing_for(ctx, required),
    )


def foreign_mx_error(ctx: Context, foreign: list[Record]) -> EmailServiceError:
    hosts = ", ".join(_value(r) for r in foreign)
    return EmailServiceError(
        f"{FOREIGN_MX} are present at {ctx.config.domain} ({hosts}): enabling Email Routing "
        "would take over inbound mail. Remove them deliberately, then re-run the step."
    )


def plan_changes(ctx: Context, found: Survey) -> list[Change]:
    domain = ctx.config.domain
    changes: list[Change] = []
    if not found.routing_enabled:
        if found.foreign_mx:
            raise foreign_mx_error(ctx, found.foreign_mx)
        changes.append(
            Change(
                Action.CREATE,
                ROUTING_KIND,
                domain,
                {"enabled": False, "status": found.routing_status},
                {"enabled": True},
                "adds Cloudflare's MX records and an SPF record at the apex "
                "(re-run auth afterwards to merge SPF)",
            )
        )
    if found.sending is None:
        changes.append(
            Change(
                Action.CREATE,
                SENDING_KIND,
                domain,
                None,
                {"name": domain},
                "then publishes each record Cloudflare lists as required, once",
            )
        )
    else:
        changes += record_changes(found.required, found.existing)
    return changes


# -- DNS publication and verification --------------------------------------------------------
def expectation(rec: Record) -> Expect:
    """What the authoritative nameservers must answer for ``rec``."""
    want = f"{rec.priority} {_value(rec)}" if rec.type == "MX" else _value(rec)
    return Expect(
        rec.name,
        rec.type,
        lambda values: want in {v.lower() if rec.type != "TXT" else v for v in values},
        rec.display(),
    )


async def published(ctx: Context, records: list[Record]) -> bool:
    """True when every authoritative nameserver serves all ``records``."""
    results = await asyncio.gather(*(served(ctx, expectation(r)) for r in records))
    return bool(records) and all(ok for ok, _ in results)


async def actual_dkim(ctx: Context, expected: list[Record]) -> list[Record]:
    """Zone records that look like an attempt at the DKIM record (zone appended, typos)."""
    heads = {r.name.split(".", 1)[0] + "._domainkey" for r in expected}
    return [r for r in await list_records(ctx) if any(r.name.startswith(h) for h in heads)]


def pending_for(sending: SendingDomain) -> timedelta | None:
    return datetime.now(UTC) - sending.created if sending.created else None


async def _wait_verified(ctx: Context, tag: str, progress: Progress) -> SendingDomain:
    """Poll the sending domain with backoff until Cloudflare reports it enabled or time is up."""
    timeout = ctx.config.dkim_timeout_seconds
    started, delay = time.monotonic(), 0.25
    while True:
        got = await ctx.email_sending.get(tag)
        elapsed = time.monotonic() - started
        if got.enabled:
            progress("DKIM verified by Cloudflare", 1.0)
            return got

        def said(_left: float) -> str:
            waited = waiting.of_limit(time.monotonic() - started, timeout)
            return f"DKIM published; waiting for Cloudflare to verify it {waited}"

        progress(said(0), min(elapsed / timeout, 0.99))
        if elapsed >= timeout:
            return got
        await waiting.pause_async(
            min(delay, max(0.0, timeout - elapsed)),
            said,
            min(elapsed / timeout, 0.99),
            progress=progress,
        )
        delay = waiting.backoff(delay, elapsed, 15.0)


class EmailServiceStep(Step):
    id = STEP_ID

    async def plan(self, ctx: Context) -> Plan:
        found = await survey(ctx)
        facts: dict[str, Any] = {
            "routing_enabled": found.routing_enabled,
            "routing_status": found.routing_status,
            "sending_domain": found.sending.name if found.sending else None,
            "dkim_selector": found.sending.dkim_selector if found.sending else None,
            "required_records": [r.display() for r in found.required],
        }
        if not found.routing_enabled and found.foreign_mx:
            refusal = str(foreign_mx_error(ctx, found.foreign_mx))
            observed = [r.to_json() for r in found.foreign_mx]
            return make_plan(
                self.id, [], refusal, observed=observed, facts=facts, hold=StepState.BLOCKED
            )
        changes = plan_changes(ctx, found)
        # what the changes follow from (not DKIM's verification, which Cloudflare moves on)
        observed = {
            "routing": found.routing_enabled,
            "sending": found.sending.tag if found.sending else None,
            "required": found.required,
            "existing": found.existing,
        }
        todo = pending(changes)
        routing = "routing " + ("on" if found.routing_enabled else "off")
        if found.sending is None:
            summary = f"{routing}; Email Sending not set up"
            return make_plan(self.id, changes, summary, observed=observed, facts=facts)
        if todo:
            summary = f"{routing}; {len(todo)} sending record change(s) needed"
            return make_plan(self.id, changes, summary, observed=observed, facts=facts)
        is_published = await published(ctx, found.dkim_records)
        facts["dkim_published"] = is_published
        facts["dkim_verified"] = found.sending.enabled
        dkim = (
            "DKIM "
            + ("published" if is_published else "not served yet")
            + ", "
            + ("verified" if found.sending.enabled else "not verified yet")
        )
        waiting = not (found.sending.enabled and found.routing_enabled)
        return make_plan(
            self.id,
            changes,
            f"{routing}; {dkim}",
            observed=observed,
            facts=facts,
            hold=StepState.PENDING if waiting else None,
        )

    async def apply(
        self, ctx: Context, changes: list[Change], *, progress: Progress = no_progress
    ) -> ApplyResult:
        domain = ctx.config.domain
        applied: list[Change] = []
        messages: list[str] = []
        if any(c.kind == ROUTING_KIND for c in changes):
            progress("enabling Email Routing", None)
            await ctx.email_routing.enable(domain)
            # Recorded so destroy turns off only what the tool turned on.
            ctx.state.mark_owned(ROUTING_KIND, ctx.config.zone)
            applied += [c for c in changes if c.kind == ROUTING_KIND]
            messages.append(AUTH_DRIFT.format(domain=domain))
        records = [c for c in changes if c.kind == RECORD_KIND]
        sending = await find_sending_domain(ctx)
        if any(c.kind == SENDING_KIND for c in changes):
            if sending is None:
                progress(f"creating the Email Sending domain {domain}", None)
                sending = await ctx.email_sending.create(domain)
                ctx.state.mark_owned(SENDING_KIND, sending.tag)
            applied += [c for c in changes if c.kind == SENDING_KIND]
            wanted = await required_records(ctx, sending)
            # Cloudflare may write some records itself: only what is still missing is added.
            records += record_changes(wanted, await existing_for(ctx, wanted))
        todo = [c for c in records if c.action is not Action.NOOP]
        if todo:
            progress(f"publishing {len(todo)} DNS record change(s)", None)
            await apply_record_changes(ctx, todo)
            applied += todo
        if sending is None:
            return ApplyResult(True, applied, "Email Routing enabled", messages)
        return await self._await_dkim(ctx, sending, applied, messages, progress)

    async def _await_dkim(
        self,
        ctx: Context,
        sending: SendingDomain,
        applied: list[Change],
        messages: list[str],
        progress: Progress,
    ) -> ApplyResult:
        """Wait for publication (authoritative DNS), then for Cloudflare's verification."""
        wanted = await required_records(ctx, sending)
        missing = await wait_until_served(
            ctx,
            [expectation(r) for r in wanted],
            timeout=ctx.config.propagation_timeout_seconds,
            progress=progress,
        )
        if missing:
            labels = ", ".join(e.label for e in missing)
            return ApplyResult(
                False,
                applied,
                f"not served by the authoritative nameservers yet: {labels}",
                messages,
            )
        progress("DKIM published: the authoritative nameservers answer it", None)
        final = await _wait_verified(ctx, sending.tag, progress)
        if final.enabled:
            return ApplyResult(True, applied, "DKIM published and verified by Cloudflare", messages)
        dkim = [r for r in wanted if is_dkim(r)]
        messages.append(pending_advice(dkim, await actual_dkim(ctx, dkim), pending_for(final)))
        return ApplyResult(
            False,
            applied,
            f"DKIM published but not verified by Cloudflare after "
            f"{ctx.config.dkim_timeout_seconds}s; run `polaris-tui verify email-service` later",
            messages,
        )

    async def verify(self, ctx: Context) -> list[Check]:
        """The survey's reads overlap, and each check runs once its own reads are back.

        Routing, the apex MX and the sending domain are read at once; the required records
        need the sending domain's tag; then DKIM verification is judged, and the records' zone
        copies are listed while DNS is asked. A failed read still fails the step's verify, as
        the one-piece survey did. Check times count from the start, so a check that waited
        for its reads is not shown faster.
        """
        started = time.perf_counter()
        routing = asyncio.create_task(routing_settings(ctx))
        foreign = asyncio.create_task(foreign_mx(ctx))
        sending = asyncio.create_task(find_sending_domain(ctx))
        pending: list[asyncio.Task[Any]] = [routing, foreign, sending]

        def check(name: str, run: CheckRun) -> Awaitable[Check]:
            return timed_check(
                STEP_ID, f"{STEP_ID}.{name}", run, CHECK_TIMEOUT_SECONDS, started=started
            )

        async def routing_checks() -> list[Check]:
            return [await check("routing", _routing_check(*await routing))]

        async def mx_checks() -> list[Check]:
            return [await check("mx", _mx_check(ctx, await foreign))]

        async def sending_checks() -> list[Check]:
            return [await check("sending-domain", _sending_check(ctx, await sending))]

        async def record_checks() -> list[Check]:
            domain = await sending
            if domain is None:
                return []
            required = await required_records(ctx, domain)
            dkim = [r for r in required if is_dkim(r)]
            others = [r for r in required if not is_dkim(r)]
            groups = [dkim, *([rec] for rec in others)]
            served = [asyncio.create_task(published(ctx, group)) for group in groups]
            verified = asyncio.create_task(
                check("dkim-verified", lambda: _verified_check(ctx, domain, dkim))
            )
            pending.extend([*served, verified])
            existing = await existing_for(ctx, required)
            dkim_published, *records = await asyncio.gather(
                check("dkim-published", _served_check(dkim, existing, served[0])),
                *(
                    check(f"record-{i}", _served_check(group, existing, task))
                    for i, (group, task) in enumerate(zip(groups[1:], served[1:], strict=True), 1)
                ),
            )
            return [dkim_published, await verified, *records]

        try:
            groups = await asyncio.gather(
                routing_checks(), mx_checks(), sending_checks(), record_checks()
            )
        finally:
            for task in pending:
                task.cancel()
        return [c for group in groups for c in group]


CheckRun = Callable[[], Awaitable[tuple[bool, str]]]


def _routing_check(enabled: bool, status: str) -> CheckRun:
    """Enabled is not enough: Cloudflare reports ``ready`` only when its records are right."""

    async def run() -> tuple[bool, str]:
        if not enabled:
            return False, "Email Routing is not enabled on the zone"
        if status != "ready":
            return False, f"Email Routing is enabled but Cloudflare reports status {status}"
        return True, "Email Routing enabled (status ready)"

    return run


def _mx_check(ctx: Context, foreign: list[Record]) -> CheckRun:
    """Inbound mail stays with one provider: no other MX beside Email Routing's."""

    async def run() -> tuple[bool, str]:
        if foreign:
            return False, str(foreign_mx_error(ctx, foreign))
        return True, f"no MX records of another provider at {ctx.config.domain}"

    return run


def _sending_check(ctx: Context, sending: SendingDomain | None) -> CheckRun:
    async def run() -> tuple[bool, str]:
        if sending is None:
            return False, f"no Email Sending domain for {ctx.config.domain}"
        sel = sending.dkim_selector or "(none reported)"
        return True, f"Email Sending domain {sending.name}, DKIM selector {sel}"

    return run


def _served_check(
    records: list[Record], existing: list[Record], served: Awaitable[bool]
) -> CheckRun:
    """Each record exists once in the zone and every authoritative nameserver serves it.

    ``served`` is the DNS answer, asked while the zone's copies were being listed.
    """

    async def run() -> tuple[bool, str]:
        for rec in records:
            count = sum(1 for e in existing if e.same_as(rec))
            if count != 1:
                return False, f"{rec.display()}: {count} copies in the zone, expected exactly 1"
        if not await served:
            shown = "; ".join(r.display() for r in records)
            return False, f"not served by every authoritative nameserver: {shown}"
        return True, "served: " + "; ".join(r.display() for r in records)

    return run


async def _verified_check(
    ctx: Context, sending: SendingDomain, dkim: list[Record]
) -> tuple[bool, str]:
    if sending.enabled:
        return True, f"Cloudflare reports {sending.name} verified"
    actual = await actual_dkim(ctx, dkim)
    return False, pending_advice(dkim, actual, pending_for(sending))
