"""Runbook step 5: the KV namespaces the relay uses for nonce dedup and rate counters.

Cloudflare rejects two namespaces with one title, so production and preview get different
titles; existing namespaces are reused by title (a re-run never creates duplicates). The ids
are kept in the tool state for the deploy step and, when ``worker_dir`` is set, written into
the app's wrangler.jsonc.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from polaris_tui.errors import ApiError
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
from polaris_tui.wrangler_sync import KvIds, read_kv_ids, wrangler_path, write_kv_ids

if TYPE_CHECKING:
    from polaris_tui.context import Context

TITLE = "EMAIL_NONCE_DEDUP"
PREVIEW_TITLE = "EMAIL_NONCE_DEDUP_preview"
SLOTS = {"id": TITLE, "preview_id": PREVIEW_TITLE}  # state key -> namespace title
STATE_KEY = "kv"
OWNED_KIND = "kv_namespace"
CHECK_TIMEOUT = 10.0
TITLE_EXISTS = 10014  # Cloudflare: a namespace with this title already exists


async def list_namespaces(ctx: Context) -> dict[str, str]:
    """Every namespace of the account as title -> id (all pages)."""
    return await ctx.kv.titles()


async def create_namespace(ctx: Context, title: str) -> str:
    """Create a namespace; if a retried create already made it (title clash), use that one."""
    try:
        return await ctx.kv.create(title)
    except ApiError as exc:
        existing = (await list_namespaces(ctx)).get(title)
        if TITLE_EXISTS in exc.codes and existing:
            return existing
        raise


def kv_ids(ctx: Context) -> dict[str, str]:
    """The recorded ids ({"id": .., "preview_id": ..}); empty before the step ran."""
    return dict(ctx.state.get(STATE_KEY) or {})


class KvStep(Step):
    id = "kv"

    def _wanted(self, existing: dict[str, str]) -> dict[str, str | None]:
        return {slot: existing.get(title) for slot, title in SLOTS.items()}

    async def plan(self, ctx: Context) -> Plan:
        found = self._wanted(await list_namespaces(ctx))
        changes = self._changes(ctx, found)
        missing = [SLOTS[s] for s, ident in found.items() if ident is None]
        todo = pending(changes)
        if missing:
            summary = f"missing: {', '.join(missing)}"
        elif any(c.kind == "tool_state" for c in todo):
            summary = "namespaces exist but the tool state differs"
        elif todo:
            summary = "; ".join(f"{c.action} {c.target}" for c in todo)
        else:
            summary = f"{TITLE} {found['id']}, preview {found['preview_id']}"
        return make_plan(self.id, changes, summary, facts=found)

    def _changes(self, ctx: Context, found: dict[str, str | None]) -> list[Change]:
        recorded = kv_ids(ctx)
        changes = []
        for slot, title in SLOTS.items():
            ident = found[slot]
            if ident is None:
                changes.append(Change(Action.CREATE, OWNED_KIND, title, None, {"title": title}))
            elif recorded.get(slot) != ident:
                changes.append(
                    Change(
                        Action.UPDATE,
                        "tool_state",
                        f"{STATE_KEY}.{slot}",
                        recorded.get(slot),
                        ident,
                        note=f"reuse the existing namespace titled {title}",
                    )
                )
            else:
                changes.append(Change(Action.NOOP, OWNED_KIND, title, ident, ident))
        if ctx.config.worker_dir is not None:
            changes.append(self._wrangler_change(ctx, found))
        return changes

    def _wrangler_change(self, ctx: Context, found: dict[str, str | None]) -> Change:
        assert ctx.config.worker_dir is not None
        path = wrangler_path(ctx.config.worker_dir)
        current = read_kv_ids(path).to_json()
        creating = any(ident is None for ident in found.values())
        action = Action.NOOP if current == found and not creating else Action.UPDATE
        after: dict[str, Any] = {
            slot: ident or f"(id of the new {SLOTS[slot]})" for slot, ident in found.items()
        }
        return Change(action, "wrangler_config", str(path), current, after)

    async def apply(
        self, ctx: Context, changes: list[Change], *, progress: Progress = no_progress
    ) -> ApplyResult:
        applied: list[Change] = []
        ids = kv_ids(ctx)
        by_title = {title: slot for slot, title in SLOTS.items()}
        messages = []
        for i, change in enumerate(changes):
            progress(f"{change.action} {change.target}", i / max(len(changes), 1))
            if change.kind == "wrangler_config":
                continue
            if change.kind == OWNED_KIND and change.action is Action.CREATE:
                ident = await create_namespace(ctx, change.target)
                ids[by_title[change.target]] = ident
                ctx.state.mark_owned(OWNED_KIND, ident)
                messages.append(f"created {change.target}: {ident}")
            elif change.kind == "tool_state":
                ids[change.target.split(".", 1)[1]] = change.after
            else:
                continue
            ctx.state.set(STATE_KEY, ids)
            applied.append(change)
        if any(c.kind == "wrangler_config" for c in changes):
            assert ctx.config.worker_dir is not None
            path = wrangler_path(ctx.config.worker_dir)
            if write_kv_ids(path, KvIds(ids.get("id"), ids.get("preview_id"))):
                messages.append(f"wrote the KV ids into {path}")
            applied.extend(c for c in changes if c.kind == "wrangler_config")
        progress("KV namespaces ready", 1.0)
        return ApplyResult(True, applied, f"{len(applied)} change(s) applied", messages)

    async def verify(self, ctx: Context) -> list[Check]:
        listing = asyncio.create_task(list_namespaces(ctx))

        def slot_check(slot: str) -> Any:
            async def run() -> tuple[bool, str]:
                title, recorded = SLOTS[slot], kv_ids(ctx).get(slot)
                actual = (await listing).get(title)
                if actual is None:
                    return False, f"no namespace titled {title}: run `polaris-tui apply kv`"
                if recorded != actual:
                    return False, f"{title} is {actual} but the tool state has {recorded}"
                return True, f"{title} = {actual}"

            return run

        async def wrangler() -> tuple[bool, str]:
            assert ctx.config.worker_dir is not None
            path = wrangler_path(ctx.config.worker_dir)
            current = (await asyncio.to_thread(read_kv_ids, path)).to_json()
            found = self._wanted(await listing)
            if current != found:
                return False, f"{path} has {current}, the account has {found}"
            return True, f"{path} holds both ids"

        checks = [
            timed_check(self.id, "kv.namespace", slot_check("id"), CHECK_TIMEOUT),
            timed_check(self.id, "kv.preview-namespace", slot_check("preview_id"), CHECK_TIMEOUT),
        ]
        if ctx.config.worker_dir is not None:
            checks.append(timed_check(self.id, "kv.wrangler-config", wrangler, CHECK_TIMEOUT))
        return list(await asyncio.gather(*checks))
