"""DNS record changes, shared by every step that touches the zone.

Records the tool creates carry ``OWNER_COMMENT`` so a later plan knows what it may update or
delete; anything else is the operator's and is only deleted with explicit permission. An
existing record the tool updates in place gets ``ADOPTED_COMMENT``: managed from then on, but
``destroy`` leaves it, since it was the operator's first.
Several changes go to Cloudflare in one batch request.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

from polaris_tui.ports import ADOPTED_COMMENT, OWNER_COMMENT, Record, unquote
from polaris_tui.steps.base import Action, Change

if TYPE_CHECKING:
    from polaris_tui.context import Context

__all__ = [
    "OWNER_COMMENT",
    "RECORD_KIND",
    "Record",
    "apply_record_changes",
    "list_records",
    "record_change",
    "unquote",
]

RECORD_KIND = "dns_record"


async def list_records(
    ctx: Context, *, name: str | None = None, rtype: str | None = None
) -> list[Record]:
    """All records at ``name`` (exact) and/or of ``rtype``."""
    return await ctx.dns_records.list(name=name, type=rtype)


def record_change(before: Record | None, after: Record | None, *, note: str = "") -> Change:
    """A Change for one record; ``before``/``after`` are JSON so plans serialise as-is."""
    if before is None and after is not None:
        return Change(Action.CREATE, RECORD_KIND, after.display(), None, after.to_json(), note)
    if before is not None and after is None:
        return Change(
            Action.DELETE,
            RECORD_KIND,
            before.display(),
            before.to_json(),
            None,
            note,
            owned=before.owned,
        )
    assert before is not None and after is not None
    action = Action.NOOP if before.same_as(after) else Action.UPDATE
    return Change(
        action,
        RECORD_KIND,
        after.display(),
        before.to_json(),
        {**after.to_json(), "id": before.id},
        note,
    )


def _owned(rec: Record) -> Record:
    return replace(rec, comment=rec.comment or OWNER_COMMENT)


def _adopted(rec: Record, before: Record | None) -> Record:
    """A patch keeps the tool's own marker; an operator's record becomes adopted."""
    ours = before is not None and before.owned
    return replace(rec, comment=before.comment if ours and before else ADOPTED_COMMENT)


async def apply_record_changes(ctx: Context, changes: list[Change]) -> None:
    """Send every record change in one batch request (deletes, patches, then posts)."""
    deletes: list[str] = []
    patches: list[Record] = []
    posts: list[Record] = []
    for c in changes:
        if c.kind != RECORD_KIND or c.action is Action.NOOP:
            continue
        if c.action is Action.DELETE:
            deletes.append(c.before["id"])
        elif c.action is Action.UPDATE:
            patches.append(Record(**c.after))
        else:
            posts.append(_owned(Record(**c.after)))
    if patches:
        current = {r.id: r for r in await ctx.dns_records.list()}
        patches = [_adopted(p, current.get(p.id)) for p in patches]
    if deletes or patches or posts:
        await ctx.dns_records.batch(deletes=deletes, patches=patches, posts=posts)
