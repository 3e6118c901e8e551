"""DNS records through the SDK, shared by every step that touches the zone.

Records the tool creates carry ``OWNER_COMMENT`` so a later plan knows what it may update or
delete; anything else is the operator's and is only deleted with explicit permission.
Several changes go to Cloudflare in one ``dns.records.batch`` call.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from polaris_tui.adapters.cloudflare_api import all_items
from polaris_tui.steps.base import Action, Change

if TYPE_CHECKING:
    from polaris_tui.context import Context

OWNER_COMMENT = "managed by polaris-tui"
RECORD_KIND = "dns_record"


@dataclass(frozen=True)
class Record:
    """A DNS record as the API reports it (TXT content without surrounding quotes)."""

    type: str
    name: str
    content: str
    proxied: bool = False
    ttl: int = 1
    priority: int | None = None
    id: str | None = None
    comment: str | None = None

    @property
    def owned(self) -> bool:
        return (self.comment or "").startswith(OWNER_COMMENT)

    def display(self) -> str:
        """``TYPE name content`` as an operator would compare it with dig."""
        extra = f" (priority {self.priority})" if self.priority is not None else ""
        proxy = " [proxied]" if self.proxied else ""
        return f"{self.type} {self.name} {self.content}{extra}{proxy}"

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "type": self.type,
            "name": self.name,
            "content": self.content,
            "proxied": self.proxied,
            "ttl": self.ttl,
        }
        if self.priority is not None:
            out["priority"] = self.priority
        if self.id:
            out["id"] = self.id
        return out

    def same_as(self, other: Record) -> bool:
        """Equal in everything the tool manages (not id, ttl or comment)."""
        return (self.type, self.name, unquote(self.content), self.proxied, self.priority) == (
            other.type,
            other.name,
            unquote(other.content),
            other.proxied,
            other.priority,
        )


def unquote(content: str) -> str:
    """TXT content as one string: the API may return it quoted or split into quoted chunks."""
    text = content.strip()
    if text.startswith('"') and text.endswith('"'):
        parts = text[1:-1].split('" "')
        return "".join(parts)
    return text


def _from_api(obj: Any) -> Record:
    data = obj.model_dump() if hasattr(obj, "model_dump") else dict(obj)
    rtype = data["type"]
    content = data.get("content") or ""
    if rtype == "TXT":
        content = unquote(content)
    return Record(
        type=rtype,
        name=data["name"],
        content=content,
        proxied=bool(data.get("proxied") or False),
        ttl=int(data.get("ttl") or 1),
        priority=data.get("priority"),
        id=data.get("id"),
        comment=data.get("comment"),
    )


def list_records(
    ctx: Context, *, name: str | None = None, rtype: str | None = None
) -> list[Record]:
    """All records at ``name`` (exact) and/or of ``rtype``, following pagination."""
    params: dict[str, Any] = {"zone_id": ctx.zone_id, "per_page": 100}
    if name:
        params["name"] = {"exact": name}
    if rtype:
        params["type"] = rtype
    return [_from_api(r) for r in all_items(ctx.cf.dns.records.list(**params))]


def _body(rec: Record) -> dict[str, Any]:
    body: dict[str, Any] = {
        "type": rec.type,
        "name": rec.name,
        "content": rec.content,
        "ttl": rec.ttl,
        "comment": rec.comment or OWNER_COMMENT,
    }
    if rec.type in ("A", "AAAA", "CNAME"):
        body["proxied"] = rec.proxied
    if rec.priority is not None:
        body["priority"] = rec.priority
    if rec.type == "TXT":
        body["content"] = f'"{rec.content}"' if not rec.content.startswith('"') else rec.content
    return body


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


def apply_record_changes(ctx: Context, changes: list[Change]) -> None:
    """Send every record change in one batch request (deletes, patches, then posts)."""
    deletes, patches, posts = [], [], []
    for c in changes:
        if c.kind != RECORD_KIND or c.action is Action.NOOP:
            continue
        if c.action is Action.DELETE:
            deletes.append({"id": c.before["id"]})
        elif c.action is Action.UPDATE:
            rec = Record(**{k: v for k, v in c.after.items() if k != "id"})
            patches.append({"id": c.after["id"], **_body(rec)})
        else:
            posts.append(_body(Record(**c.after)))
    if not (deletes or patches or posts):
        return
    kwargs: dict[str, Any] = {"zone_id": ctx.zone_id}
    if deletes:
        kwargs["deletes"] = deletes
    if patches:
        kwargs["patches"] = patches
    if posts:
        kwargs["posts"] = posts
    ctx.cf.dns.records.batch(**kwargs)
