"""DNS records of the sandbox zone: validation, Cloudflare's conflict rules and filters."""

from __future__ import annotations

import ipaddress
from typing import Any

from polaris_tui.sandbox import schema
from polaris_tui.sandbox.envelope import ApiError
from polaris_tui.sandbox.state import new_id, now_iso

PROXIABLE = frozenset({"A", "AAAA", "CNAME"})
ADDRESS_TYPES = frozenset({"A", "AAAA", "CNAME"})
SUPPORTED_TYPES = ("A", "AAAA", "CNAME", "TXT", "MX", "NS")  # what the DNS server answers
WRITABLE_FIELDS = (
    "name",
    "type",
    "content",
    "proxied",
    "ttl",
    "comment",
    "tags",
    "priority",
    "settings",
)


def fqdn(name: str, domain: str) -> str:
    """Cloudflare accepts ``@``, relative and absolute names; it stores absolute ones."""
    name = (name or "").strip().rstrip(".").lower()
    if name in ("", "@"):
        return domain
    if name == domain or name.endswith("." + domain):
        return name
    return f"{name}.{domain}"


def in_zone(name: str, domain: str) -> bool:
    name = name.rstrip(".").lower()
    return name == domain or name.endswith("." + domain)


def _normalise(rec: dict[str, Any], domain: str) -> None:
    rtype = rec["type"]
    content = rec.get("content")
    if rtype in ("CNAME", "MX", "NS") and isinstance(content, str):
        rec["content"] = content.strip().rstrip(".").lower()
    elif rtype == "AAAA" and isinstance(content, str):
        try:
            rec["content"] = str(ipaddress.IPv6Address(content))
        except ValueError:
            raise ApiError(
                400, 9005, "Content for AAAA record is invalid. Must be a valid IPv6 address."
            ) from None
    if rec.get("proxied") and rtype not in PROXIABLE:
        raise ApiError(400, 9004, f"field 'proxied': a {rtype} record cannot be proxied.")
    if not in_zone(rec["name"], domain):
        raise ApiError(
            400,
            1004,
            f"DNS Validation Error: field 'name' ({rec['name']}) is not inside the zone {domain}.",
        )


def build_record(
    body: Any,
    zone: dict[str, Any],
    existing: dict[str, Any] | None = None,
    *,
    meta: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Validate a create/update body (or a patch merged onto ``existing``) into a record."""
    if not isinstance(body, dict):
        raise ApiError(400, 9207, "Request body is invalid: expected a JSON object")
    merged: dict[str, Any] = {}
    if existing is not None:
        merged = {k: existing[k] for k in WRITABLE_FIELDS if existing.get(k) is not None}
    merged.update({k: v for k, v in body.items() if k in WRITABLE_FIELDS})
    rtype = merged.get("type")
    if not isinstance(rtype, str) or rtype.upper() not in SUPPORTED_TYPES:
        raise ApiError(
            400,
            9207,
            "Request body is invalid: field 'type' must be one of " + ", ".join(SUPPORTED_TYPES),
        )
    merged["type"] = rtype = rtype.upper()
    schema.validate(merged, schema.component(f"dns-records_{rtype}Record"))
    domain = zone["name"]
    now = now_iso()
    rec: dict[str, Any] = {
        "id": existing["id"] if existing else new_id(),
        "zone_id": zone["id"],
        "zone_name": domain,
        "name": fqdn(merged["name"], domain),
        "type": rtype,
        "content": merged.get("content"),
        "proxiable": rtype in PROXIABLE,
        "proxied": bool(merged.get("proxied", False)),
        "ttl": merged.get("ttl", 1),
        "settings": merged.get("settings") or {},
        "meta": (existing or {}).get("meta") or dict(meta or {}),
        "comment": merged.get("comment"),
        "tags": merged.get("tags") or [],
        "created_on": existing["created_on"] if existing else now,
        "modified_on": now,
    }
    if rtype in ("MX", "SRV", "URI"):
        rec["priority"] = merged.get("priority")
    _normalise(rec, domain)
    return rec


def record_view(rec: dict[str, Any]) -> dict[str, Any]:
    """A record as the current API returns it: no zone_id/zone_name (no longer sent), and
    ``meta`` without the sandbox's own bookkeeping (which product made it, locks), and no
    ``comment`` when there is none."""
    hidden = ("zone_id", "zone_name", "meta")
    view = {k: v for k, v in rec.items() if k not in hidden and (k != "comment" or v)}
    return {**view, "meta": {}}


def check_conflicts(records: dict[str, dict[str, Any]], rec: dict[str, Any]) -> None:
    """Cloudflare's rules: a CNAME owns its name; identical records are refused."""
    for other in records.values():
        if other["id"] == rec["id"] or other["name"] != rec["name"]:
            continue
        if rec["type"] == "CNAME" and other["type"] in ADDRESS_TYPES:
            raise ApiError(400, 81053, "An A, AAAA, or CNAME record with that host already exists.")
        if other["type"] == "CNAME" and rec["type"] != "CNAME":
            raise ApiError(400, 81054, "A CNAME record with that host already exists.")
        if (
            other["type"] == rec["type"]
            and other.get("content") == rec.get("content")
            and other.get("priority") == rec.get("priority")
        ):
            raise ApiError(400, 81058, "An identical record already exists.")


def filter_records(records: list[dict[str, Any]], query: Any, domain: str) -> list[dict]:
    """``name``/``name.exact``/``name.contains``/..., ``type``, ``content``, ``proxied``."""
    out = records
    for key in ("name", "name.exact"):
        if query.get(key):
            wanted = fqdn(query[key], domain)
            out = [r for r in out if r["name"] == wanted]
    for op, test in (
        ("contains", str.__contains__),
        ("startswith", str.startswith),
        ("endswith", str.endswith),
    ):
        if query.get(f"name.{op}"):
            out = [r for r in out if test(r["name"], query[f"name.{op}"].lower())]
        if query.get(f"content.{op}"):
            out = [r for r in out if test(r.get("content") or "", query[f"content.{op}"])]
    if query.get("type"):
        out = [r for r in out if r["type"] == query["type"].upper()]
    for key in ("content", "content.exact"):
        if query.get(key):
            out = [r for r in out if r.get("content") == query[key]]
    if query.get("proxied") in ("true", "false"):
        want = query["proxied"] == "true"
        out = [r for r in out if r["proxied"] is want]
    return sorted(out, key=lambda r: (r["type"], r["name"], r["created_on"]))


def add_record(
    state: dict[str, Any], body: dict[str, Any], *, meta: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Create one record in a state draft, enforcing the conflict rules."""
    rec = build_record(body, state["zone"], meta=meta)
    check_conflicts(state["dns_records"], rec)
    state["dns_records"][rec["id"]] = rec
    return rec


def find(state: dict[str, Any], name: str, rtype: str | None = None) -> list[dict[str, Any]]:
    return [
        r
        for r in state["dns_records"].values()
        if r["name"] == name and (rtype is None or r["type"] == rtype)
    ]
