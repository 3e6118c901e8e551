"""Step 1 — DNS records: apex, manage. and mail. at the Traefik entry (runbook step 1).

``mail.`` is proxied because a Worker Route only intercepts proxied traffic; apex and
``manage.`` are DNS-only by default so they resolve to Traefik as the runbook's verify
section expects. ``assets.`` belongs to the R2 custom domain (the assets step) unless the
config names another public origin, which gets a CNAME here.

Existing records are read first: a conflicting record we did not create is updated in place
(shown before/after) or, when it cannot be (a CNAME where an A is wanted), deleted only with
--allow-delete. Unrelated records are never touched.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from polaris_tui import troubleshooting
from polaris_tui.plan import pending
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
from polaris_tui.steps.propagation import Expect, wait_until_served
from polaris_tui.steps.records import (
    RECORD_KIND,
    Record,
    apply_record_changes,
    list_records,
    record_change,
)
from polaris_tui.steps.zone import (
    ADDRESS_TYPES,
    Desired,
    desired_zone,
    diff_slots,
    owned_by,
    private_r2_cnames,
)

if TYPE_CHECKING:
    from polaris_tui.config import Config
    from polaris_tui.context import Context
    from polaris_tui.ports import DnsAnswer

STEP_ID = "dns"


def wanted(ctx: Context) -> list[Desired]:
    """The address records this step owns in the desired zone."""
    return owned_by(STEP_ID, desired_zone(ctx.config))


def check_id(want: Desired) -> str:
    """``dns.<label>-<type>``: apex, manage and mail name the host in check ids."""
    return f"dns.{want.label}-{want.record.type.lower()}"


@dataclass(frozen=True)
class Observed:
    """The zone's records at each host the step manages, and at ``assets.``."""

    hosts: dict[str, list[Record]]
    assets: list[Record]


async def observe(ctx: Context, wants: list[Desired]) -> Observed:
    names = list(dict.fromkeys(w.record.name for w in wants))
    *found, assets = await asyncio.gather(
        *(list_records(ctx, name=n) for n in names),
        list_records(ctx, name=ctx.config.assets_host, rtype="CNAME"),
    )
    return Observed(dict(zip(names, found, strict=True)), assets)


def _note(target: str, note: str, before: Record | None = None) -> Change:
    """A no-op line in the plan that tells the operator who owns a host."""
    return Change(
        Action.NOOP,
        RECORD_KIND,
        target,
        before.to_json() if before else None,
        note=note,
        owned=before.owned if before else True,
    )


def other_owners(cfg: Config, assets: list[Record]) -> list[Change]:
    """Hosts another step owns: mail. under a Worker Custom Domain, assets. under R2."""
    notes: list[Change] = []
    if cfg.route_mode == "custom_domain":
        notes.append(
            _note(
                cfg.mail_host,
                "belongs to the Worker Custom Domain (route step): Cloudflare creates it",
            )
        )
    if cfg.assets_origin == "r2":
        private = private_r2_cnames(assets)
        for rec in private:
            notes.append(
                _note(
                    rec.display(),
                    "a CNAME to the R2 S3 API host serves nothing publicly; the assets step "
                    "replaces it with the R2 custom domain",
                    rec,
                )
            )
        if not private:
            notes.append(
                _note(
                    cfg.assets_host, "belongs to the R2 custom domain: the assets step attaches it"
                )
            )
    return notes


def plan_host(
    host: str, existing: list[Record], wants: list[Record], *, note: str = ""
) -> list[Change]:
    """Changes that make ``host``'s address records exactly ``wants`` (pure, for tests).

    Each wanted record's slot is diffed by the zone's one rule (``diff_slots``). A record
    that cannot become a wanted one (a CNAME where an A is wanted) is deleted, with ``owned``
    telling the runner whether that needs --allow-delete.
    """
    current = [r for r in existing if r.type in ADDRESS_TYPES]
    changes = diff_slots(current, [Desired(STEP_ID, host, w, note) for w in wants])
    want_types = {w.type for w in wants}
    for rec in current:
        if rec.type in want_types:
            continue
        if rec.type == "CNAME" or rec.owned:
            why = (
                f"a CNAME at {host} conflicts with the planned {'/'.join(sorted(want_types))}"
                if rec.type == "CNAME"
                else f"created by polaris-tui; {rec.type} is no longer planned"
            )
            changes.append(record_change(rec, None, note=why))
        elif rec.type in ("A", "AAAA") and "CNAME" in want_types:
            changes.append(record_change(rec, None, note="conflicts with the planned CNAME"))
        else:
            changes.append(
                Change(
                    Action.NOOP,
                    RECORD_KIND,
                    rec.display(),
                    rec.to_json(),
                    rec.to_json(),
                    "not managed: remove it if it does not point at Traefik",
                    owned=False,
                )
            )
    return changes


def diff(cfg: Config, observed: Observed, wants: list[Desired]) -> list[Change]:
    """The step's changes: each host's records against the desired zone, then the notes on
    hosts another step owns."""
    changes: list[Change] = []
    for host, existing in observed.hosts.items():
        changes += plan_host(host, existing, [w.record for w in wants if w.record.name == host])
    return changes + other_owners(cfg, observed.assets)


class DnsStep(Step):
    id = STEP_ID

    async def plan(self, ctx: Context) -> Plan:
        wants = wanted(ctx)
        observed = await observe(ctx, wants)
        changes = diff(ctx.config, observed, wants)
        todo = pending(changes)
        if not todo:
            summary = "records as planned"
        elif all(c.action is Action.CREATE for c in todo):
            summary = f"{len(todo)} record(s) to create"
        else:
            summary = f"{len(todo)} change(s): " + ", ".join(c.target for c in todo)
        return make_plan(self.id, changes, summary, observed=observed)

    async def apply(
        self, ctx: Context, changes: list[Change], *, progress: Progress = no_progress
    ) -> ApplyResult:
        records = [c for c in changes if c.kind == RECORD_KIND and c.action is not Action.NOOP]
        progress(f"sending {len(records)} DNS change(s) in one batch", 0.1)
        await apply_record_changes(ctx, records)
        wants = wanted(ctx)
        touched = {(c.after["name"], c.after["type"]) for c in records if c.after}
        expects = [
            Expect(w.record.name, w.record.type, _accept(w.record), w.record.display())
            for w in wants
            if (w.record.name, w.record.type) in touched
        ]
        missing = await wait_until_served(
            ctx, expects, timeout=ctx.config.propagation_timeout_seconds, progress=progress
        )
        if missing:
            return ApplyResult(
                False,
                records,
                "applied, but not served yet by every authoritative nameserver: "
                + ", ".join(e.label for e in missing),
            )
        return ApplyResult(True, records, f"{len(records)} change(s) applied and served")

    async def verify(self, ctx: Context) -> list[Check]:
        wants = wanted(ctx)
        timeout = ctx.config.dns_timeout_seconds * 3
        checks = list(
            await asyncio.gather(
                *(timed_check(self.id, check_id(w), _served_check(ctx, w), timeout) for w in wants)
            )
        )
        failed = [(c, w) for c, w in zip(checks, wants, strict=True) if not c.ok]
        await asyncio.gather(*(proxied_guidance(ctx, c, w.record) for c, w in failed))
        return checks


def judge(values: tuple[str, ...], want: Record) -> tuple[bool, str]:
    """Is an authoritative answer right for ``want``? A proxied record answers with
    Cloudflare's edge addresses, not the origin: that is correct and said so."""
    shown = ", ".join(values) or "no records"
    if not values:
        return False, "no records"
    if want.proxied and want.type in ("A", "AAAA"):
        if want.content in values:
            return False, f"{shown}: the origin address, so the record is not proxied"
        return True, f"{shown}: Cloudflare's edge (proxied, as planned; origin {want.content})"
    if set(values) == {want.content}:
        return True, shown
    return False, f"{shown}, expected {want.content}"


def _accept(want: Record) -> Callable[[tuple[str, ...]], bool]:
    return lambda values: judge(values, want)[0]


def describe(answers: list[DnsAnswer]) -> str:
    """``server: values`` for each answer, the way an operator would read several digs."""
    parts = []
    for a in answers:
        body = ", ".join(a.records) if a.ok and a.records else (a.rcode if not a.ok else "empty")
        parts.append(f"{a.server} {body}")
    return "; ".join(parts)


async def ask_both(ctx: Context, name: str, rtype: str) -> tuple[list[DnsAnswer], list[DnsAnswer]]:
    """Authoritative and public answers, all queried concurrently."""
    auth, public = await asyncio.gather(
        ctx.dns.ask_authoritative(name, rtype), ctx.dns.ask_public(name, rtype)
    )
    return auth, public


def public_note(public: list[DnsAnswer]) -> str:
    if not public:
        return "public resolvers: none configured"
    return "public resolvers (may lag behind caches): " + describe(public)


def _served_check(ctx: Context, want: Desired) -> Callable[[], Awaitable[tuple[bool, str]]]:
    rec = want.record

    async def run() -> tuple[bool, str]:
        auth, public = await ask_both(ctx, rec.name, rec.type)
        if not auth:
            return False, "no authoritative nameserver found for the zone"
        verdicts = [judge(a.records, rec) if a.ok else (False, a.rcode) for a in auth]
        ok = all(v[0] for v in verdicts)
        detail = (
            f"{rec.type} {rec.name}: authoritative "
            + "; ".join(f"{a.server} {v[1]}" for a, v in zip(auth, verdicts, strict=True))
            + f" | {public_note(public)}"
        )
        return ok, detail

    return run


async def proxied_guidance(ctx: Context, check: Check, want: Record) -> None:
    """A DNS-only host that answers Cloudflare's address is proxied in the zone: say so."""
    if want.proxied:
        return
    try:
        records = await list_records(ctx, name=want.name, rtype=want.type)
    except Exception:  # guidance is a bonus; the failed check already says what is wrong
        return
    if any(r.proxied for r in records):
        entry = troubleshooting.lookup(
            "dns",
            values=troubleshooting.config_values(ctx.config),
            check_id="dns.proxied-unplanned",
        )
        if entry is not None:
            check.guidance = entry.text()
