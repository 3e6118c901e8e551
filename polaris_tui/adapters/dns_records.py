"""The zone's DNS records over the Cloudflare API (``dns.records``), as ``ports.Record``."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from polaris_tui.adapters.cloudflare_api import (
    CloudflareApi,
    all_items,
    dump,
    in_thread,
    translated,
)
from polaris_tui.ports import Record, unquote


def _record(obj: Any) -> Record:
    data = dump(obj)
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
        priority=None if data.get("priority") is None else int(data["priority"]),
        id=data.get("id"),
        comment=data.get("comment"),
    )


def _body(rec: Record) -> dict[str, Any]:
    """The API's spelling: TXT content quoted, ``proxied`` only where it applies."""
    body: dict[str, Any] = {
        "type": rec.type,
        "name": rec.name,
        "content": rec.content,
        "ttl": rec.ttl,
    }
    if rec.comment is not None:
        body["comment"] = rec.comment
    if rec.type in ("A", "AAAA", "CNAME"):
        body["proxied"] = rec.proxied
    if rec.priority is not None:
        body["priority"] = rec.priority
    if rec.type == "TXT" and not rec.content.startswith('"'):
        body["content"] = f'"{rec.content}"'
    return body


@dataclass
class CloudflareDnsRecords:
    api: CloudflareApi

    @in_thread
    def list(self, *, name: str | None = None, type: str | None = None) -> list[Record]:
        params: dict[str, Any] = {"zone_id": self.api.zone_id, "per_page": 100}
        if name:
            params["name"] = {"exact": name}
        if type:
            params["type"] = type
        with translated():
            return [_record(r) for r in all_items(self.api.client.dns.records.list(**params))]

    @in_thread
    def batch(
        self, *, deletes: Sequence[str], patches: Sequence[Record], posts: Sequence[Record]
    ) -> None:
        kwargs: dict[str, Any] = {"zone_id": self.api.zone_id}
        if deletes:
            kwargs["deletes"] = [{"id": ident} for ident in deletes]
        if patches:
            kwargs["patches"] = [{"id": rec.id, **_body(rec)} for rec in patches]
        if posts:
            kwargs["posts"] = [_body(rec) for rec in posts]
        if len(kwargs) == 1:
            return
        with translated():
            self.api.client.dns.records.batch(**kwargs)
