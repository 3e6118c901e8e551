"""Step 2 — SPF and DMARC (runbook step 2), plus the route for DMARC reports.

Exactly one SPF record at the apex, always: every SPF record found (Email Routing adds its own
``~all`` one) is merged into one that keeps the operator's mechanisms. DMARC at ``_dmarc.``
is created or updated in place, keeping the operator's extra tags; weakening a stricter
policy is a replace that needs explicit permission (--allow-delete, or the TUI's typed
confirmation). Verification asks the authoritative nameservers and validates with checkdmarc.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from polaris_tui import dmarc, spf
from polaris_tui.plan import pending
from polaris_tui.steps import mailbox, zone
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
from polaris_tui.steps.dns import ask_both, public_note
from polaris_tui.steps.propagation import Expect, wait_until_served
from polaris_tui.steps.records import (
    RECORD_KIND,
    Record,
    apply_record_changes,
    list_records,
    record_change,
)
from polaris_tui.steps.zone import diff_slots

if TYPE_CHECKING:
    from polaris_tui.config import Config
    from polaris_tui.context import Context

RULE_KIND = "email_routing_rule"
RULE_NAME = "DMARC reports (polaris-tui)"


def _in_zone(name: str, zone: str) -> bool:
    return name == zone or name.endswith("." + zone)


def plan_spf(
    existing: list[Record], domain: str, qualifier: str, lookups: str = ""
) -> list[Change]:
    """One SPF record from all of them (pure): the desired zone's apex SPF record in its
    slot. Merged-away records lose nothing (their mechanisms are in the one kept), so
    deleting them needs no --allow-delete."""
    return diff_slots(existing, [zone.spf_record(domain, qualifier, existing, lookups)])


def plan_dmarc(existing: list[Record], name: str, planned: dmarc.Planned) -> list[Change]:
    """One DMARC record with the planned tags (pure). A less strict ``p`` than the one
    published is a replace of the old record that the runner only allows when permitted."""
    want = zone.dmarc_record(name, planned, existing)
    before = dmarc.strongest(r.content for r in existing) if existing else None
    if before is not None and dmarc.weakens(before, planned.policy):
        note = (
            f"weakens the published policy p={before} to p={planned.policy}: needs explicit "
            f"confirmation (--allow-delete; TUI: type the hostname), or set "
            f"dmarc_policy = {before} to keep it"
        )
        gone = [replace(record_change(r, None, note=note), owned=False) for r in existing]
        return [*gone, record_change(None, want.record, note=f"p={planned.policy}")]
    return diff_slots(existing, [want])


@dataclass(frozen=True)
class Routing:
    """Whether the rua address receives mail, and where a rule could forward it."""

    routed: bool
    detail: str
    destinations: tuple[str, ...] = ()
    unverified: tuple[str, ...] = ()


async def routing_status(ctx: Context) -> Routing:
    """Read Email Routing rules (zone), then, only when no rule routes the rua address, the
    verified destination addresses (account) a rule could forward to."""
    rua = ctx.config.dmarc_rua.lower()
    for rule in await ctx.email_routing.rules():
        if not rule.enabled or not any(t in ("forward", "worker") for t in rule.actions):
            continue
        for kind, value in rule.matchers:
            if kind == "all" or (kind == "literal" and value.lower() == rua):
                return Routing(True, f"rule {rule.name or rule.id!r}")
    addresses = await ctx.email_routing.addresses()
    verified = tuple(a.email for a in addresses if a.verified)
    unverified = tuple(a.email for a in addresses if not a.verified)
    return Routing(False, f"no Email Routing rule forwards {rua}", verified, unverified)


def plan_routing(rua: str, routing: Routing) -> list[Change]:
    """A forwarding rule only when exactly one verified destination makes the choice clear."""
    if routing.routed:
        return [Change(Action.NOOP, RULE_KIND, rua, note=f"routed by {routing.detail}")]
    if len(routing.destinations) != 1:
        return []
    dest = routing.destinations[0]
    return [
        Change(
            Action.CREATE,
            RULE_KIND,
            rua,
            after={"to": rua, "forward": dest},
            note=f"DMARC reports never arrive unless {rua} is routed: forward it to the "
            f"verified address {dest}",
        )
    ]


@dataclass(frozen=True)
class Observed:
    """What the step's plan is made from: the apex SPF and DMARC records, and how the rua
    address is routed (None when it is outside the zone)."""

    spf: list[Record]
    dmarc: list[Record]
    routing: Routing | None


class AuthStep(Step):
    id = "auth"

    def _dmarc_name(self, ctx: Context) -> str:
        return f"_dmarc.{ctx.config.domain}"

    async def _records(self, ctx: Context) -> tuple[list[Record], list[Record]]:
        apex, at_dmarc = await asyncio.gather(
            list_records(ctx, name=ctx.config.domain, rtype="TXT"),
            list_records(ctx, name=self._dmarc_name(ctx), rtype="TXT"),
        )
        spfs = [r for r in apex if spf.is_spf(r.content)]
        dmarcs = [r for r in at_dmarc if dmarc.is_dmarc(r.content)]
        return spfs, dmarcs

    async def observe(self, ctx: Context) -> Observed:
        rua = ctx.config.dmarc_rua
        in_zone = _in_zone(rua.rsplit("@", 1)[1].lower(), ctx.config.zone)
        (spfs, dmarcs), routing = await asyncio.gather(
            self._records(ctx), routing_status(ctx) if in_zone else _nothing()
        )
        return Observed(spfs, dmarcs, routing)

    def desired(self, cfg: Config, observed: Observed) -> list[zone.Desired]:
        """auth's slice of the desired zone: one SPF record, one DMARC record."""
        table = zone.desired_zone(cfg, apex_spf=observed.spf, dmarcs=observed.dmarc)
        return zone.owned_by(self.id, table)

    async def plan(self, ctx: Context) -> Plan:
        cfg = ctx.config
        observed = await self.observe(ctx)
        spf_want, _ = self.desired(cfg, observed)
        # counting the merged record's nested lookups asks DNS: a note, not part of the diff
        nested = await _spf_records(ctx, spf_want.record.content)
        lookups = spf.lookup_note(spf.count_lookups(spf_want.record.content, nested.get))
        planned = dmarc.Planned(cfg.dmarc_policy, cfg.dmarc_rua)
        changes = [
            *plan_spf(observed.spf, cfg.domain, cfg.spf_qualifier, lookups),
            *plan_dmarc(observed.dmarc, zone.dmarc_name(cfg), planned),
        ]
        routing, box = observed.routing, cfg.dmarc_mailbox
        if routing is not None and box and not routing.routed:
            changes += mailbox.plan_mailbox(
                cfg.dmarc_rua,
                box,
                rule_kind=RULE_KIND,
                verified=routing.destinations,
                unverified=routing.unverified,
                timeout=cfg.mailbox_timeout_seconds,
            )
        elif routing is not None:
            changes += plan_routing(cfg.dmarc_rua, routing)
        todo = pending(changes)
        spfs, dmarcs = observed.spf, observed.dmarc
        facts = {"spf_records": len(spfs), "dmarc_records": len(dmarcs)}
        if len(spfs) > 1:
            summary = f"{len(spfs)} SPF records: must be one"
        elif not todo:
            summary = "one SPF and one DMARC record as planned"
        elif not spfs and not dmarcs:
            summary = "SPF and DMARC not published yet"
        else:
            summary = "differs from the plan: " + ", ".join(c.target for c in todo)
        return make_plan(self.id, changes, summary, observed=observed, facts=facts)

    async def apply(
        self, ctx: Context, changes: list[Change], *, progress: Progress = no_progress
    ) -> ApplyResult:
        records = [c for c in changes if c.kind == RECORD_KIND and c.action is not Action.NOOP]
        addresses = [c for c in changes if c.kind == mailbox.ADDRESS_KIND]
        rules = [c for c in changes if c.kind == RULE_KIND and c.action is Action.CREATE]
        messages = [c.note for c in records if "WARNING" in c.note]
        if records:
            progress(f"sending {len(records)} DNS change(s) in one batch", 0.1)
            await apply_record_changes(ctx, records)
        for c in addresses:
            await mailbox.add_address(ctx, c.target, progress)
        for c in rules:
            forward = c.after["forward"]
            if forward == ctx.config.dmarc_mailbox and not await mailbox.wait_verified(
                ctx, forward, progress
            ):
                detail = mailbox.timeout_detail(ctx, forward)
                return ApplyResult(False, records + addresses, detail, messages)
            progress(f"creating the Email Routing rule for {c.target}", 0.3)
            rule_id = await ctx.email_routing.create_forward_rule(
                RULE_NAME, c.after["to"], c.after["forward"]
            )
            ctx.state.mark_owned(RULE_KIND, rule_id)
        expects = await self._expects(ctx, records)
        missing = await wait_until_served(
            ctx, expects, timeout=ctx.config.propagation_timeout_seconds, progress=progress
        )
        applied = records + addresses + rules
        if missing:
            return ApplyResult(
                False,
                applied,
                "applied, but not served yet by every authoritative nameserver: "
                + ", ".join(e.label for e in missing),
                messages,
            )
        return ApplyResult(True, applied, f"{len(applied)} change(s) applied and served", messages)

    async def _expects(self, ctx: Context, records: list[Change]) -> list[Expect]:
        """For each name the changes touched: the servers must answer exactly the records the
        zone now holds there (read back, so a delete-only merge is waited for too)."""
        touched = {(c.after or c.before)["name"] for c in records}
        spfs, dmarcs = await self._records(ctx)
        expects = []
        for name, is_kind, now in (
            (ctx.config.domain, spf.is_spf, spfs),
            (self._dmarc_name(ctx), dmarc.is_dmarc, dmarcs),
        ):
            if name not in touched:
                continue
            want = sorted(r.content for r in now)
            expects.append(
                Expect(
                    name,
                    "TXT",
                    lambda values, want=want, is_kind=is_kind: (
                        sorted(v for v in values if is_kind(v)) == want
                    ),
                    f"TXT {name} " + " | ".join(want),
                )
            )
        return expects

    async def verify(self, ctx: Context) -> list[Check]:
        cfg = ctx.config
        timeout = cfg.dns_timeout_seconds * 4
        apex = asyncio.ensure_future(ask_both(ctx, cfg.domain, "TXT"))
        at_dmarc = asyncio.ensure_future(ask_both(ctx, self._dmarc_name(ctx), "TXT"))
        servers = asyncio.ensure_future(ctx.dns.authoritative_servers())

        async def resolver() -> Any:
            """A fresh resolver per validation: each runs in its own thread."""
            from polaris_tui.adapters.mail_auth_check import zone_resolver

            return zone_resolver(cfg.zone, await servers, list(ctx.dns.resolvers), ctx.dns.timeout)

        async def checked(validate: Any, record: str) -> tuple[bool, str]:
            result = await asyncio.to_thread(validate, record, cfg.domain, await resolver())
            return result.ok, result.detail

        async def spf_single() -> tuple[bool, str]:
            auth, public = await apex
            counts = [len([v for v in a.records if spf.is_spf(v)]) for a in auth if a.ok]
            ok = bool(auth) and len(counts) == len(auth) and all(n == 1 for n in counts)
            return ok, f"authoritative: {_only(auth, spf.is_spf)} | {_public(public, spf.is_spf)}"

        async def spf_planned() -> tuple[bool, str]:
            auth, _ = await apex
            record = _single(auth, spf.is_spf)
            if record is None:
                return False, "no single SPF record served"
            want = spf.merge([record], qualifier=cfg.spf_qualifier).record
            if record == want:
                return True, record
            return False, f"served {record!r}, planned {want!r}"

        async def spf_valid() -> tuple[bool, str]:
            from polaris_tui.adapters.mail_auth_check import validate_spf

            auth, _ = await apex
            record = _single(auth, spf.is_spf)
            if record is None:
                return False, "no single SPF record served"
            return await checked(validate_spf, record)

        async def dmarc_planned() -> tuple[bool, str]:
            auth, public = await at_dmarc
            record = _single(auth, dmarc.is_dmarc)
            shown = (
                f"authoritative: {_only(auth, dmarc.is_dmarc)} | {_public(public, dmarc.is_dmarc)}"
            )
            if record is None:
                return False, f"not exactly one DMARC record served; {shown}"
            want = dmarc.merge([record], dmarc.Planned(cfg.dmarc_policy, cfg.dmarc_rua))
            if dmarc.same(record, want):
                return True, shown
            return False, f"served {record!r}, planned {want!r}"

        async def dmarc_valid() -> tuple[bool, str]:
            from polaris_tui.adapters.mail_auth_check import validate_dmarc

            auth, _ = await at_dmarc
            record = _single(auth, dmarc.is_dmarc)
            if record is None:
                return False, "not exactly one DMARC record served"
            return await checked(validate_dmarc, record)

        rua_domain = cfg.dmarc_rua.rsplit("@", 1)[1].lower()

        async def rua_routed() -> tuple[bool, str]:
            routing = await routing_status(ctx)
            if routing.routed:
                return True, f"{cfg.dmarc_rua} is routed by {routing.detail}"
            box = cfg.dmarc_mailbox
            if box and box.lower() in {a.lower() for a in routing.unverified}:
                hint = f"{box} is not verified yet: click the link in the mail from Cloudflare"
            elif box:
                hint = f"`polaris-tui apply auth` adds {box} and forwards reports to it"
            elif not routing.destinations:
                hint = "no verified destination address in the account: add and verify one"
            elif len(routing.destinations) > 1:
                hint = "several verified destinations: create the rule for the one you read"
            else:
                hint = f"`polaris-tui apply auth` forwards it to {routing.destinations[0]}"
            return False, f"{routing.detail}; {hint}"

        async def rua_authorized() -> tuple[bool, str]:
            from polaris_tui.adapters.mail_auth_check import rua_authorized as check

            result = await asyncio.to_thread(check, cfg.domain, rua_domain, await resolver())
            return result.ok, result.detail

        runs = [
            ("auth.spf-single", spf_single),
            ("auth.spf-planned", spf_planned),
            ("auth.spf-valid", spf_valid),
            ("auth.dmarc-planned", dmarc_planned),
            ("auth.dmarc-valid", dmarc_valid),
        ]
        if _in_zone(rua_domain, cfg.zone):
            runs.append(("auth.dmarc-rua-routed", rua_routed))
        else:
            runs.append(("auth.dmarc-rua-authorized", rua_authorized))
        try:
            return list(
                await asyncio.gather(*(timed_check(self.id, i, run, timeout) for i, run in runs))
            )
        finally:
            for task in (apex, at_dmarc, servers):
                task.cancel()


def _only(answers: list[Any], is_kind: Any) -> str:
    """Each server's records of one kind (SPF or DMARC), for the check detail."""
    parts = []
    for a in answers:
        mine = [v for v in a.records if is_kind(v)] if a.ok else []
        parts.append(
            f"{a.server} " + (" | ".join(mine) if mine else (a.rcode if not a.ok else "none"))
        )
    return "; ".join(parts) or "no authoritative nameserver"


def _public(answers: list[Any], is_kind: Any) -> str:
    return public_note(answers) if not answers else "public: " + _only(answers, is_kind)


def _single(answers: list[Any], is_kind: Any) -> str | None:
    """The one record of a kind every authoritative server agrees on, else None."""
    seen = {tuple(v for v in a.records if is_kind(v)) for a in answers if a.ok}
    if len(seen) != 1 or not answers or any(not a.ok for a in answers):
        return None
    (values,) = seen
    return values[0] if len(values) == 1 else None


async def _nothing() -> None:
    """An awaitable None: the read a configuration leaves out, in a ``gather``."""


async def _spf_of(ctx: Context, target: str) -> str | None:
    """``target``'s one SPF record. Names in the zone are asked of the authoritative servers,
    others of the public resolvers; with none configured (the sandbox) they stay unresolved
    and the count says so."""
    inside = _in_zone(target, ctx.config.zone)
    if not inside and not ctx.dns.resolvers:
        return None
    ask = ctx.dns.ask_authoritative if inside else ctx.dns.ask_public
    for a in await ask(target, "TXT"):
        found = [v for v in a.records if spf.is_spf(v)] if a.ok else []
        if len(found) == 1:
            return found[0]
    return None


async def _spf_records(ctx: Context, record: str) -> dict[str, str | None]:
    """target -> its SPF record for every include/redirect reachable from ``record``, for
    counting nested lookups before publishing; each level's targets are asked at once."""
    known: dict[str, str | None] = {}
    targets = spf.nested_targets(record)
    while targets := [t for t in dict.fromkeys(targets) if t not in known]:
        answers = await asyncio.gather(*(_spf_of(ctx, t) for t in targets))
        known.update(zip(targets, answers, strict=True))
        targets = [n for a in answers if a and spf.is_spf(a) for n in spf.nested_targets(a)]
    return known
