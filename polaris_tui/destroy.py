"""Destroy: the runbook in reverse, removing only what polaris-tui created.

What counts as the tool's: DNS records it created (their comment is exactly
``OWNER_COMMENT``; a record it only updated in place was the operator's first and stays), and
the resources whose ids it marked owned in its state when it created them (routes, custom
domains, the Worker script, KV namespaces, the R2 bucket and custom domain, the Email Sending
domain, Email Routing when the tool turned it on, the DMARC rule and destination address).
Everything else is never touched; keyring secrets only with ``purge_secrets``.

Each step's teardown is planned first (a list of ``Action.DELETE`` changes, shown like a
plan), then applied; front ends confirm in between, as for apply. One small function per
step plans, one remover per kind removes, reaching the world only through the ports (async,
like the steps; ``plan`` and ``apply`` are the synchronous facades front ends call).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from polaris_tui import dmarc, runner, spf
from polaris_tui.blocking import run_blocking
from polaris_tui.errors import NotFound
from polaris_tui.steps import assets, auth, email_service, kv, mailbox, route, secret
from polaris_tui.steps.base import Action, ApplyResult, Change, Progress, no_progress
from polaris_tui.steps.dns import ADDRESS_TYPES, wanted
from polaris_tui.steps.records import RECORD_KIND

if TYPE_CHECKING:
    from polaris_tui.context import Context
    from polaris_tui.ports import Record

ORDER = ("route", "deploy", "secret", "kv", "assets", "email-service", "auth", "dns")
# The kinds are the steps' own change kinds, so a teardown reads like the plan that built it.
RECORD = RECORD_KIND
WORKER_ROUTE = route.ROUTE_KIND
WORKER_DOMAIN = route.DOMAIN_KIND
WORKER_SCRIPT = "worker_script"  # as the deploy step marks its script owned
WORKER_SECRET = "worker_secret"
KEYRING_SECRET = "keyring_secret"
KV_NAMESPACE = kv.OWNED_KIND
R2_DOMAIN = assets.DOMAIN_KIND
R2_OBJECT = assets.OBJECT_KIND
R2_BUCKET = assets.BUCKET_KIND
ROUTING = email_service.ROUTING_KIND
SENDING_DOMAIN = email_service.SENDING_KIND
ROUTING_RULE = auth.RULE_KIND
ROUTING_ADDRESS = mailbox.ADDRESS_KIND


def _remove(kind: str, target: str, before: dict[str, object], note: str = "") -> Change:
    return Change(Action.DELETE, kind, target, before=before, note=note)


async def _records(ctx: Context, keep: Callable[[Record], bool]) -> list[Change]:
    """The records the tool created that ``keep`` selects, as deletes."""
    return [
        _remove(RECORD, r.display(), r.to_json())
        for r in await ctx.dns_records.list()
        if r.created_by_tool and keep(r)
    ]


# -- per step: what would be removed -------------------------------------------------------
async def plan_route(ctx: Context) -> list[Change]:
    out = []
    owned = ctx.state.owned(WORKER_ROUTE)
    if owned:
        out += [
            _remove(WORKER_ROUTE, r.pattern, {"id": r.id, "script": r.script})
            for r in await ctx.workers.routes()
            if r.id in owned
        ]
    host = ctx.config.mail_host
    if host in ctx.state.owned(WORKER_DOMAIN):
        out += [
            _remove(WORKER_DOMAIN, d.hostname, {"id": d.id, "service": d.service})
            for d in await ctx.workers.domains(host)
        ]
    return out


async def plan_deploy(ctx: Context) -> list[Change]:
    name = ctx.config.worker_name
    if name not in ctx.state.owned(WORKER_SCRIPT):
        return []
    try:
        await ctx.workers.settings(name)
    except NotFound:
        return []
    note = "its secrets and bindings go with it"
    return [_remove(WORKER_SCRIPT, name, {"script": name}, note)]


async def plan_secret(ctx: Context, purge_secrets: bool) -> list[Change]:
    script = ctx.config.worker_name
    out = []
    present = await secret.worker_secret_names(ctx) or set()
    for name in sorted(present & set(secret.pushed(ctx))):
        out.append(_remove(WORKER_SECRET, name, {"script": script}))
    if purge_secrets:
        note = "from the OS keyring: the app's CF_EMAIL_WORKER_SECRET no longer matches anything"
        for keyring_name in secret.SLOTS.values():
            if ctx.vault.get(keyring_name) is not None:
                out.append(_remove(KEYRING_SECRET, keyring_name, {"name": keyring_name}, note))
    return out


async def plan_kv(ctx: Context) -> list[Change]:
    owned = ctx.state.owned(KV_NAMESPACE)
    if not owned:
        return []
    return [
        _remove(KV_NAMESPACE, title, {"id": ident})
        for title, ident in sorted((await ctx.kv.titles()).items())
        if ident in owned
    ]


async def plan_assets(ctx: Context) -> list[Change]:
    cfg, out = ctx.config, []
    bucket = cfg.r2_bucket
    owned_bucket = bucket in ctx.state.owned(R2_BUCKET)
    if not await ctx.r2.bucket_exists(bucket):
        return out
    if cfg.assets_host in ctx.state.owned(R2_DOMAIN):
        try:
            await ctx.r2.custom_domain(bucket, cfg.assets_host)
            out.append(_remove(R2_DOMAIN, cfg.assets_host, {"bucket": bucket}))
        except NotFound:
            pass
    present = await ctx.r2.object_etags(bucket, "")
    ours = {assets.KEY_PREFIX + name for name, _ in assets.REQUIRED_SIZES}
    out += [
        _remove(R2_OBJECT, f"{bucket}/{key}", {"key": key}) for key in sorted(ours & set(present))
    ]
    if owned_bucket:
        others = set(present) - ours
        if others:
            note = f"kept: it holds {len(others)} object(s) polaris-tui did not upload"
            out.append(Change(Action.NOOP, R2_BUCKET, bucket, note=note))
        else:
            out.append(_remove(R2_BUCKET, bucket, {"bucket": bucket}))
    return out


async def plan_email_service(ctx: Context) -> list[Change]:
    domain = ctx.config.domain
    out = await _records(
        ctx, lambda r: r.name.endswith(f"cf-bounce.{domain}") or "._domainkey." in r.name
    )
    owned = ctx.state.owned(SENDING_DOMAIN)
    if owned:
        out += [
            _remove(SENDING_DOMAIN, d.name, {"tag": d.tag})
            for d in await ctx.email_sending.domains()
            if d.tag in owned
        ]
    owned_routing = ctx.config.zone in ctx.state.owned(ROUTING)
    if owned_routing and (await ctx.email_routing.settings()).enabled:
        note = "polaris-tui turned it on; Cloudflare removes the MX records it added"
        out.append(_remove(ROUTING, domain, {"zone": ctx.config.zone}, note))
    return out


async def plan_auth(ctx: Context) -> list[Change]:
    domain, out = ctx.config.domain, []
    rules = ctx.state.owned(ROUTING_RULE)
    if rules:
        out += [
            _remove(ROUTING_RULE, r.name or r.id, {"id": r.id})
            for r in await ctx.email_routing.rules()
            if r.id in rules
        ]
    addresses = ctx.state.owned(ROUTING_ADDRESS)
    if addresses:
        note = "polaris-tui added it; adding it again sends a new verification mail"
        out += [
            _remove(ROUTING_ADDRESS, a.email, {"id": a.id}, note)
            for a in await ctx.email_routing.addresses()
            if a.email.lower() in addresses
        ]
    names = {domain, f"_dmarc.{domain}"}
    out += await _records(
        ctx,
        lambda r: (
            r.name in names
            and r.type == "TXT"
            and (spf.is_spf(r.content) or dmarc.is_dmarc(r.content))
        ),
    )
    return out


async def plan_dns(ctx: Context) -> list[Change]:
    names = {w.record.name for w in wanted(ctx)}
    return await _records(ctx, lambda r: r.name in names and r.type in ADDRESS_TYPES)


PLANNERS: dict[str, Callable[[Context, bool], Awaitable[list[Change]]]] = {
    "route": lambda ctx, _purge: plan_route(ctx),
    "deploy": lambda ctx, _purge: plan_deploy(ctx),
    "secret": plan_secret,
    "kv": lambda ctx, _purge: plan_kv(ctx),
    "assets": lambda ctx, _purge: plan_assets(ctx),
    "email-service": lambda ctx, _purge: plan_email_service(ctx),
    "auth": lambda ctx, _purge: plan_auth(ctx),
    "dns": lambda ctx, _purge: plan_dns(ctx),
}


# -- per kind: how it is removed -----------------------------------------------------------
def _forget_pushed(ctx: Context, names: set[str] | None = None) -> None:
    """The state's record of pushed Worker secrets, without those no longer on the Worker."""
    current = secret.pushed(ctx).items()
    left = {k: v for k, v in current if names is not None and k not in names}
    ctx.state.set(secret.PUSHED_KEY, left or None)


async def _remove_script(ctx: Context, c: Change) -> None:
    await ctx.workers.delete_script(c.target)
    ctx.state.forget_owned(WORKER_SCRIPT, c.target)
    _forget_pushed(ctx)  # its secrets went with it


async def _remove_worker_secret(ctx: Context, c: Change) -> None:
    await ctx.workers.update_secrets(c.before["script"], {c.target: None})
    _forget_pushed(ctx, {c.target})


async def _remove_kv(ctx: Context, c: Change) -> None:
    await ctx.kv.delete(c.before["id"])
    ctx.state.forget_owned(KV_NAMESPACE, c.before["id"])
    ids = {k: v for k, v in (ctx.state.get(kv.STATE_KEY) or {}).items() if v != c.before["id"]}
    ctx.state.set(kv.STATE_KEY, ids or None)


async def _remove_r2_domain(ctx: Context, c: Change) -> None:
    await ctx.r2.detach_custom_domain(c.before["bucket"], c.target)
    ctx.state.forget_owned(R2_DOMAIN, c.target)


async def _remove_objects(ctx: Context, c: Change) -> None:
    await ctx.r2.delete_objects(ctx.config.r2_bucket, [c.before["key"]])


async def _remove_bucket(ctx: Context, c: Change) -> None:
    await ctx.r2.delete_bucket(c.target)
    ctx.state.forget_owned(R2_BUCKET, c.target)


async def _remove_sending(ctx: Context, c: Change) -> None:
    await ctx.email_sending.delete(c.before["tag"])
    ctx.state.forget_owned(SENDING_DOMAIN, c.before["tag"])


async def _remove_routing(ctx: Context, c: Change) -> None:
    await ctx.email_routing.disable()
    ctx.state.forget_owned(ROUTING, c.before["zone"])


async def _remove_rule(ctx: Context, c: Change) -> None:
    await ctx.email_routing.delete_rule(c.before["id"])
    ctx.state.forget_owned(ROUTING_RULE, c.before["id"])


async def _remove_address(ctx: Context, c: Change) -> None:
    await ctx.email_routing.delete_address(c.before["id"])
    ctx.state.forget_owned(ROUTING_ADDRESS, c.target.lower())


async def _remove_route(ctx: Context, c: Change) -> None:
    await ctx.workers.delete_route(c.before["id"])
    ctx.state.forget_owned(WORKER_ROUTE, c.before["id"])


async def _remove_worker_domain(ctx: Context, c: Change) -> None:
    await ctx.workers.detach_domain(c.before["id"])
    ctx.state.forget_owned(WORKER_DOMAIN, c.target)


async def _remove_keyring_secret(ctx: Context, c: Change) -> None:
    ctx.vault.delete(c.target)


REMOVERS: dict[str, Callable[[Context, Change], Awaitable[None]]] = {
    WORKER_ROUTE: _remove_route,
    WORKER_DOMAIN: _remove_worker_domain,
    WORKER_SCRIPT: _remove_script,
    WORKER_SECRET: _remove_worker_secret,
    KEYRING_SECRET: _remove_keyring_secret,
    KV_NAMESPACE: _remove_kv,
    R2_DOMAIN: _remove_r2_domain,
    R2_OBJECT: _remove_objects,
    R2_BUCKET: _remove_bucket,
    SENDING_DOMAIN: _remove_sending,
    ROUTING: _remove_routing,
    ROUTING_RULE: _remove_rule,
    ROUTING_ADDRESS: _remove_address,
}


# -- the runner's side ---------------------------------------------------------------------
def select(step_arg: str) -> list[str]:
    """Step ids in teardown order: one id, or every step for ``all``."""
    if step_arg == "all":
        return list(ORDER)
    if step_arg not in ORDER:
        raise KeyError(step_arg)
    return [step_arg]


async def plan_async(ctx: Context, step_id: str, *, purge_secrets: bool = False) -> list[Change]:
    """What destroying ``step_id`` would remove (NOOP entries say what is kept and why)."""
    try:
        return await PLANNERS[step_id](ctx, purge_secrets)
    except Exception as exc:
        raise runner.describe_error(ctx, step_id, exc) from None


async def apply_async(
    ctx: Context, step_id: str, changes: list[Change], *, progress: Progress = no_progress
) -> ApplyResult:
    """Remove what the plan lists, in its order (record deletes first, in one batch), and
    journal it as ``destroy <step>``."""
    todo = [c for c in changes if c.action is Action.DELETE]
    if not todo:
        return ApplyResult(True, [], "nothing to remove")
    done: list[Change] = []
    try:
        records = [c for c in todo if c.kind == RECORD]
        if records:
            progress(f"deleting {len(records)} DNS record(s) in one batch", None)
            deletes = [c.before["id"] for c in records]
            await ctx.dns_records.batch(deletes=deletes, patches=[], posts=[])
            done += records
        for i, c in enumerate(c for c in todo if c.kind != RECORD):
            progress(f"removing {c.kind.replace('_', ' ')} {c.target}", i / len(todo))
            await REMOVERS[c.kind](ctx, c)
            done.append(c)
    except Exception as exc:
        failure = runner.describe_error(ctx, step_id, exc)
        ctx.journal.append(ctx.config.domain, f"destroy {step_id}", "failed", done, failure.message)
        raise failure from None
    detail = f"{len(done)} removed"
    ctx.journal.append(ctx.config.domain, f"destroy {step_id}", "ok", done, detail)
    return ApplyResult(True, done, detail)


def plan(ctx: Context, step_id: str, *, purge_secrets: bool = False) -> list[Change]:
    return run_blocking(plan_async(ctx, step_id, purge_secrets=purge_secrets))


def apply(
    ctx: Context, step_id: str, changes: list[Change], *, progress: Progress = no_progress
) -> ApplyResult:
    return run_blocking(apply_async(ctx, step_id, changes, progress=progress))
