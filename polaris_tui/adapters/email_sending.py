"""Email Sending over the Cloudflare API: the zone's sending domains and the records they need.

The API's field spellings vary between doc versions (``tag`` or ``email_sending_tag``) and its
record names may be relative to the zone; both are settled here, so the step sees one shape.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from polaris_tui.adapters.cloudflare_api import CloudflareApi, dump, in_thread, translated
from polaris_tui.ports import Record, SendingDomain, unquote


def _field(raw: Mapping[str, Any], key: str) -> Any:
    """``key`` or its ``email_sending_`` spelling (API doc versions differ)."""
    value = raw.get(key)
    return value if value is not None else raw.get(f"email_sending_{key}")


def parse_sending_domain(raw: Mapping[str, Any]) -> SendingDomain:
    created = raw.get("created")
    if isinstance(created, str):
        created = datetime.fromisoformat(created.replace("Z", "+00:00"))
    return SendingDomain(
        tag=str(_field(raw, "tag")),
        name=str(raw.get("name") or _field(raw, "name")).lower().rstrip("."),
        enabled=bool(_field(raw, "enabled")),
        dkim_selector=_field(raw, "dkim_selector"),
        return_path_domain=_field(raw, "return_path_domain"),
        created=created,
    )


def fqdn(name: str, zone: str) -> str:
    """An absolute lowercase name; the API may return names relative to the zone."""
    name = (name or "").strip().rstrip(".").lower()
    if name in ("", "@"):
        return zone
    return name if name == zone or name.endswith("." + zone) else f"{name}.{zone}"


def required_record(raw: Mapping[str, Any], zone: str) -> Record:
    """One record Email Sending asks for, normalised the way the DNS API stores it."""
    rtype = str(raw["type"]).upper()
    content = str(raw.get("content") or "")
    if rtype == "TXT":
        content = unquote(content)
    elif rtype in ("CNAME", "MX"):
        content = content.rstrip(".").lower()
    priority = raw.get("priority")
    return Record(
        type=rtype,
        name=fqdn(str(raw.get("name") or ""), zone),
        content=content,
        priority=int(priority) if priority is not None else None,
    )


@dataclass
class CloudflareEmailSending:
    api: CloudflareApi
    zone: str

    @in_thread
    def domains(self) -> list[SendingDomain]:
        with translated():
            listed = list(self.api.client.email_sending.subdomains.list(zone_id=self.api.zone_id))
        return [parse_sending_domain(dump(item)) for item in listed]

    @in_thread
    def get(self, tag: str) -> SendingDomain:
        with translated():
            got = self.api.client.email_sending.subdomains.get(tag, zone_id=self.api.zone_id)
        return parse_sending_domain(dump(got))

    @in_thread
    def create(self, name: str) -> SendingDomain:
        with translated():
            made = self.api.client.email_sending.subdomains.create(
                zone_id=self.api.zone_id, name=name
            )
        return parse_sending_domain(dump(made))

    @in_thread
    def required_records(self, tag: str) -> list[Record]:
        with translated():
            listed = list(
                self.api.client.email_sending.subdomains.dns.get(tag, zone_id=self.api.zone_id)
            )
        return [required_record(dump(r), self.zone) for r in listed]

    @in_thread
    def delete(self, tag: str) -> None:
        with translated():
            self.api.client.email_sending.subdomains.delete(tag, zone_id=self.api.zone_id)
