"""Email Routing (settings, its DNS records, rules, destination addresses) and
Email Sending subdomains with their cf-bounce records."""

from __future__ import annotations

import base64
import secrets
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from polaris_tui.sandbox import dkim_keys, zone
from polaris_tui.sandbox.address_verification import (
    VERIFY_PATH,
    mark_verified,
    send_verification,
    verified_at,
)
from polaris_tui.sandbox.api.common import (
    ApiContext,
    check_account,
    check_zone,
    ctx,
    json_body,
    require_object,
)
from polaris_tui.sandbox.envelope import ApiError, ok, paginate
from polaris_tui.sandbox.state import epoch_ms, new_id, now_iso

ROUTING_SPF = "v=spf1 include:_spf.mx.cloudflare.net ~all"
ROUTING_MX = (
    ("route1.mx.cloudflare.net", 13),
    ("route2.mx.cloudflare.net", 86),
    ("route3.mx.cloudflare.net", 24),
)
SPF_INCLUDE = "include:_spf.mx.cloudflare.net"
BOUNCE = "cf-bounce"
ROUTING_DKIM_SELECTOR = "cf2024-1"
# The older CNAME form; its selector name is a sandbox choice (the runbook leaves it open).
LEGACY_SELECTOR = "cf-legacy"
SENDING_DMARC = "v=DMARC1; p=none;"  # what onboarding writes is not documented exactly


# -- Email Routing -------------------------------------------------------------------
def routing_mx(domain: str) -> list[dict[str, Any]]:
    return [
        {"name": domain, "type": "MX", "content": host, "priority": prio, "ttl": 1}
        for host, prio in ROUTING_MX
    ]


def routing_required(state: dict[str, Any]) -> list[dict[str, Any]]:
    """What enabling Email Routing publishes: MX, the apex SPF and its DKIM TXT at
    ``cf2024-1._domainkey``."""
    domain = state["zone"]["name"]
    dkim = {
        "name": f"{ROUTING_DKIM_SELECTOR}._domainkey.{domain}",
        "type": "TXT",
        "content": f"v=DKIM1; h=sha256; k=rsa; p={routing_dkim_key(state)}",
        "ttl": 1,
    }
    spf = {"name": domain, "type": "TXT", "content": ROUTING_SPF, "ttl": 1}
    return [*routing_mx(domain), spf, dkim]


def routing_dkim_key(state: dict[str, Any]) -> str:
    """The zone's Email Routing DKIM public key (made on first use, like the sending one)."""
    routing = state["email_routing"]
    if not routing.get("dkim_key"):
        routing["dkim_key"] = base64.b64encode(secrets.token_bytes(294)).decode()
    return routing["dkim_key"]


def _present(state: dict[str, Any], want: dict[str, Any]) -> bool:
    return any(
        r.get("content", "").lower() == str(want["content"]).lower()
        and (want["type"] != "MX" or r.get("priority") == want.get("priority"))
        for r in zone.find(state, want["name"], want["type"])
    )


def _spf_records(state: dict[str, Any], name: str) -> list[dict[str, Any]]:
    return [
        r
        for r in zone.find(state, name, "TXT")
        if (r.get("content") or "").strip('"').lower().startswith("v=spf1")
    ]


def _routing_spf_ok(state: dict[str, Any], domain: str) -> bool:
    """One apex SPF record, and it includes Cloudflare's (a merged record counts)."""
    spf = _spf_records(state, domain)
    return len(spf) == 1 and SPF_INCLUDE in (spf[0].get("content") or "").lower().split()


def routing_status(state: dict[str, Any]) -> str:
    """Derived from the zone as Cloudflare describes it: its MX records present and an
    SPF record that includes ``_spf.mx.cloudflare.net``; otherwise misconfigured."""
    routing, domain = state["email_routing"], state["zone"]["name"]
    if not routing["enabled"]:
        return "unconfigured"
    mx_ok = all(_present(state, want) for want in routing_mx(domain))
    if not (mx_ok and _routing_spf_ok(state, domain)):
        return "misconfigured"
    return "unlocked" if routing.get("unlocked") else "ready"


def routing_settings(state: dict[str, Any]) -> dict[str, Any]:
    routing, domain = state["email_routing"], state["zone"]["name"]
    return {
        "id": routing["tag"],
        "tag": routing["tag"],
        "name": domain,
        "enabled": routing["enabled"],
        "created": routing["created"],
        "modified": routing["modified"],
        "skip_wizard": True,
        "support_subaddress": False,
        "status": routing_status(state),
    }


async def get_routing(request: Request) -> Response:
    context = check_zone(request)
    with context.store.read() as state:
        return ok(routing_settings(state))


async def enable_routing(request: Request) -> Response:
    """Adds Cloudflare's MX records and apex SPF beside whatever exists (two SPF records
    is the real outcome when one was already published)."""
    context = check_zone(request)
    await json_body(request, required=False)
    with context.store.change() as state:
        for want in routing_required(state):
            if not _present(state, want):
                zone.add_record(state, want, meta={"email_routing": True, "auto_added": True})
        state["email_routing"].update(enabled=True, unlocked=False, modified=now_iso())
        return ok(routing_settings(state))


async def disable_routing(request: Request) -> Response:
    """Turns Routing off and, as Cloudflare documents, removes the MX records it added."""
    context = check_zone(request)
    with context.store.change() as state:
        for ident, rec in list(state["dns_records"].items()):
            meta = rec.get("meta", {})
            if rec["type"] == "MX" and meta.get("email_routing") and meta.get("auto_added"):
                del state["dns_records"][ident]
        state["email_routing"].update(enabled=False, modified=now_iso())
        return ok(routing_settings(state))


async def unlock_routing(request: Request) -> Response:
    context = check_zone(request)
    await json_body(request, required=False)
    with context.store.change() as state:
        state["email_routing"].update(unlocked=True, modified=now_iso())
        return ok(routing_settings(state))


async def routing_dns(request: Request) -> Response:
    context = check_zone(request)
    with context.store.read() as state:
        if state["email_routing"].get("dkim_key"):
            return ok(routing_required(state))
    with context.store.change() as state:  # the first read mints the zone's DKIM key
        return ok(routing_required(state))


def _address_view(addr: dict[str, Any], auto_verify_ms: int) -> dict[str, Any]:
    hidden = ("created_ts", "verified_at", "verify_token")
    view = {k: v for k, v in addr.items() if k not in hidden}
    return {**view, "verified": verified_at(addr, auto_verify_ms)}


async def list_addresses(request: Request) -> Response:
    context = check_account(request)
    with context.store.read() as state:
        items = [
            _address_view(a, context.settings.address_verify_ms)
            for a in state["email_addresses"].values()
        ]
    return paginate(items, request.query_params)


async def create_address(request: Request) -> Response:
    context = check_account(request)
    body = require_object(await json_body(request))
    email = body.get("email")
    if not isinstance(email, str) or "@" not in email:
        raise ApiError(400, 9207, "Request body is invalid: field 'email' must be an email address")
    with context.store.change() as state:
        if any(a["email"] == email.lower() for a in state["email_addresses"].values()):
            raise ApiError(400, 2032, f"Destination address {email} already exists.")
        ident, created = new_id(), now_iso()
        addr = {
            "id": ident,
            "tag": ident,
            "email": email.lower(),
            "created": created,
            "modified": created,
            "created_ts": epoch_ms(),
            "verified_at": None,
            "verify_token": secrets.token_urlsafe(16),
        }
        state["email_addresses"][ident] = addr
    link = f"{str(request.base_url).rstrip('/')}{VERIFY_PATH}{addr['verify_token']}"
    send_verification(context.store.directory / "inbox", addr["email"], link)
    return ok(_address_view(addr, context.settings.address_verify_ms))


async def open_verification_link(request: Request) -> Response:
    """The link in the verification mail (outside /client/v4, needs no token)."""
    context = ctx(request)
    token = request.path_params["token"]
    with context.store.change() as state:
        addr = next(
            (a for a in state["email_addresses"].values() if a.get("verify_token") == token),
            None,
        )
        if addr is None:
            return Response("This verification link is not valid.", status_code=404)
        mark_verified(addr)
        email = addr["email"]
    return Response(f"{email} is verified for Email Routing.", media_type="text/plain")


def _address(state: dict[str, Any], ident: str) -> dict[str, Any]:
    addr = state["email_addresses"].get(ident)
    if addr is None:
        raise ApiError(404, 2020, "Destination address not found.")
    return addr


async def get_address(request: Request) -> Response:
    context = check_account(request)
    with context.store.read() as state:
        addr = _address(state, request.path_params["address_id"])
        return ok(_address_view(addr, context.settings.address_verify_ms))


async def delete_address(request: Request) -> Response:
    context = check_account(request)
    with context.store.change() as state:
        addr = _address(state, request.path_params["address_id"])
        del state["email_addresses"][addr["id"]]
    return ok(_address_view(addr, context.settings.address_verify_ms))


def _rule_from(body: dict[str, Any], state: dict[str, Any], ident: str) -> dict[str, Any]:
    actions, matchers = body.get("actions"), body.get("matchers")
    if not isinstance(actions, list) or not actions:
        raise ApiError(
            400, 9207, "Request body is invalid: field 'actions' must be a non-empty list"
        )
    if not isinstance(matchers, list) or not matchers:
        raise ApiError(
            400, 9207, "Request body is invalid: field 'matchers' must be a non-empty list"
        )
    known = {a["email"] for a in state["email_addresses"].values()}
    for i, action in enumerate(actions):
        if not isinstance(action, dict) or action.get("type") not in ("forward", "drop", "worker"):
            raise ApiError(
                400,
                9207,
                f"Request body is invalid: field 'actions.{i}.type' "
                "must be forward, drop or worker",
            )
        if action["type"] == "forward":
            for target in action.get("value") or []:
                if str(target).lower() not in known:
                    raise ApiError(
                        400,
                        2020,
                        f"field 'actions.{i}.value': {target} is not a "
                        "destination address of this account; add it first.",
                    )
    for i, matcher in enumerate(matchers):
        if not isinstance(matcher, dict) or matcher.get("type") not in ("literal", "all"):
            raise ApiError(
                400,
                9207,
                f"Request body is invalid: field 'matchers.{i}.type' must be literal or all",
            )
    return {
        "id": ident,
        "tag": ident,
        "name": body.get("name", ""),
        "enabled": bool(body.get("enabled", True)),
        "priority": body.get("priority", 0),
        "actions": actions,
        "matchers": matchers,
        "source": "api",
    }


async def list_rules(request: Request) -> Response:
    context = check_zone(request)
    with context.store.read() as state:
        rules = list(state["email_rules"].values())
    return paginate(rules, request.query_params)


async def create_rule(request: Request) -> Response:
    context = check_zone(request)
    body = require_object(await json_body(request))
    with context.store.change() as state:
        rule = _rule_from(body, state, new_id())
        state["email_rules"][rule["id"]] = rule
    return ok(rule)


def _rule(state: dict[str, Any], ident: str) -> dict[str, Any]:
    rule = state["email_rules"].get(ident)
    if rule is None:
        raise ApiError(404, 2020, "Routing rule not found.")
    return rule


async def get_rule(request: Request) -> Response:
    context = check_zone(request)
    with context.store.read() as state:
        return ok(_rule(state, request.path_params["rule_id"]))


async def update_rule(request: Request) -> Response:
    context = check_zone(request)
    body = require_object(await json_body(request))
    with context.store.change() as state:
        old = _rule(state, request.path_params["rule_id"])
        rule = _rule_from(body, state, old["id"])
        state["email_rules"][old["id"]] = rule
    return ok(rule)


async def delete_rule(request: Request) -> Response:
    context = check_zone(request)
    with context.store.change() as state:
        rule = _rule(state, request.path_params["rule_id"])
        del state["email_rules"][rule["id"]]
    return ok(rule)


# -- Email Sending -------------------------------------------------------------------
def sending_required(sub: dict[str, Any], dkim_mode: str) -> list[dict[str, Any]]:
    name, bounce = sub["name"], f"{BOUNCE}.{sub['name']}"
    if dkim_mode == "cname":
        sel = sub["dkim_selector"]
        dkim = {
            "name": f"{sel}._domainkey.{name}",
            "type": "CNAME",
            "content": f"{sel}.dkim.cloudflare.net",
            "ttl": 1,
        }
    else:
        dkim = {
            "name": f"{BOUNCE}._domainkey.{name}",
            "type": "TXT",
            "content": f"v=DKIM1; h=sha256; k=rsa; p={sub['dkim_key']}",
            "ttl": 1,
        }
    mx = [
        {"name": bounce, "type": "MX", "content": host, "priority": prio, "ttl": 1}
        for host, prio in ROUTING_MX
    ]
    return [dkim, *mx, {"name": bounce, "type": "TXT", "content": ROUTING_SPF, "ttl": 1}]


def _refresh_enabled(state: dict[str, Any], sub: dict[str, Any], dkim_mode: str) -> bool:
    """Track since when all required records exist; returns True when that changed."""
    complete = all(_present(state, want) for want in sending_required(sub, dkim_mode))
    if complete and sub.get("records_since") is None:
        sub["records_since"] = epoch_ms()
        return True
    if not complete and sub.get("records_since") is not None:
        sub["records_since"] = None
        return True
    return False


def sending_view(sub: dict[str, Any], activation_ms: int) -> dict[str, Any]:
    since = sub.get("records_since")
    enabled = since is not None and epoch_ms() >= since + activation_ms
    hidden = ("dkim_key", "records_since", "created_ts")
    return {**{k: v for k, v in sub.items() if k not in hidden}, "enabled": enabled}


def _subdomain(state: dict[str, Any], tag: str) -> dict[str, Any]:
    sub = state["sending_subdomains"].get(tag)
    if sub is None:
        raise ApiError(404, 2030, "Sending subdomain not found.")
    return sub


def _read_refreshed(context: ApiContext, tag: str | None) -> list[dict[str, Any]]:
    mode = context.settings.dkim_mode
    with context.store.read() as state:
        subs = [_subdomain(state, tag)] if tag else list(state["sending_subdomains"].values())
        stale = any(_refresh_enabled(state, dict(s), mode) for s in subs)
    if stale:
        with context.store.change() as state:
            for sub in state["sending_subdomains"].values():
                _refresh_enabled(state, sub, mode)
            subs = [_subdomain(state, tag)] if tag else list(state["sending_subdomains"].values())
    return subs


async def create_subdomain(request: Request) -> Response:
    context = check_zone(request)
    body = require_object(await json_body(request))
    name = body.get("name")
    if not isinstance(name, str) or not name.strip():
        raise ApiError(400, 9207, "Request body is invalid: field 'name' is required")
    mode = context.settings.dkim_mode
    with context.store.change() as state:
        name = zone.fqdn(name, state["zone"]["name"])
        sub = next((s for s in state["sending_subdomains"].values() if s["name"] == name), None)
        if sub is None:
            tag, created = new_id(), now_iso()
            sub = {
                "tag": tag,
                "name": name,
                "created": created,
                "modified": created,
                "dkim_selector": LEGACY_SELECTOR if mode == "cname" else BOUNCE,
                "return_path_domain": f"{BOUNCE}.{name}",
                "drop_suppressed_recipients": False,
                "preview_enabled": False,
                "dkim_key": dkim_keys.mint(context.store.keyring, tag),
                "records_since": None,
            }
            state["sending_subdomains"][tag] = sub
        for want in sending_required(sub, mode):
            if want["type"] == "CNAME" or _present(state, want):
                continue  # the legacy CNAME form is left for the operator to publish
            zone.add_record(state, want, meta={"email_sending": True, "auto_added": True})
        _add_dmarc(state, name)
        _refresh_enabled(state, sub, mode)
        return ok(sending_view(sub, context.settings.activation_ms))


def _add_dmarc(state: dict[str, Any], name: str) -> None:
    """Onboarding also writes a ``_dmarc`` TXT; never a second one beside an existing DMARC."""
    dmarc = f"_dmarc.{name}"
    if any(
        (r.get("content") or "").strip('"').lower().startswith("v=dmarc1")
        for r in zone.find(state, dmarc, "TXT")
    ):
        return
    zone.add_record(
        state,
        {"name": dmarc, "type": "TXT", "content": SENDING_DMARC, "ttl": 1},
        meta={"email_sending": True, "auto_added": True},
    )


async def list_subdomains(request: Request) -> Response:
    context = check_zone(request)
    subs = _read_refreshed(context, None)
    return ok([sending_view(s, context.settings.activation_ms) for s in subs])


async def get_subdomain(request: Request) -> Response:
    context = check_zone(request)
    sub = _read_refreshed(context, request.path_params["tag"])[0]
    return ok(sending_view(sub, context.settings.activation_ms))


async def edit_subdomain(request: Request) -> Response:
    context = check_zone(request)
    body = require_object(await json_body(request))
    with context.store.change() as state:
        sub = _subdomain(state, request.path_params["tag"])
        for key in ("drop_suppressed_recipients", "preview_enabled"):
            if key in body:
                sub[key] = bool(body[key])
        sub["modified"] = now_iso()
        return ok(sending_view(sub, context.settings.activation_ms))


async def delete_subdomain(request: Request) -> Response:
    context = check_zone(request)
    with context.store.change() as state:
        sub = _subdomain(state, request.path_params["tag"])
        for rec in list(state["dns_records"].values()):
            if rec.get("meta", {}).get("email_sending") and (
                rec["name"].endswith(f"{BOUNCE}.{sub['name']}")
                or rec["name"] == f"{BOUNCE}._domainkey.{sub['name']}"
            ):
                del state["dns_records"][rec["id"]]
        del state["sending_subdomains"][sub["tag"]]
        dkim_keys.forget(context.store.keyring, sub["tag"])
    return ok(None)


async def subdomain_dns(request: Request) -> Response:
    context = check_zone(request)
    with context.store.read() as state:
        sub = _subdomain(state, request.path_params["tag"])
        return ok(sending_required(sub, context.settings.dkim_mode))


zone_base = "/zones/{zone_id}/email"
routes = [
    Route(zone_base + "/routing", get_routing, methods=["GET"]),
    Route(zone_base + "/routing/dns", routing_dns, methods=["GET"]),
    Route(zone_base + "/routing/dns", enable_routing, methods=["POST"]),
    Route(zone_base + "/routing/dns", disable_routing, methods=["DELETE"]),
    Route(zone_base + "/routing/dns", unlock_routing, methods=["PATCH"]),
    Route(zone_base + "/routing/enable", enable_routing, methods=["POST"]),
    Route(zone_base + "/routing/disable", disable_routing, methods=["POST"]),
    Route(zone_base + "/routing/unlock", unlock_routing, methods=["POST"]),
    Route(zone_base + "/routing/rules", list_rules, methods=["GET"]),
    Route(zone_base + "/routing/rules", create_rule, methods=["POST"]),
    Route(zone_base + "/routing/rules/{rule_id}", get_rule, methods=["GET"]),
    Route(zone_base + "/routing/rules/{rule_id}", update_rule, methods=["PUT"]),
    Route(zone_base + "/routing/rules/{rule_id}", delete_rule, methods=["DELETE"]),
    Route("/accounts/{account_id}/email/routing/addresses", list_addresses, methods=["GET"]),
    Route("/accounts/{account_id}/email/routing/addresses", create_address, methods=["POST"]),
    Route(
        "/accounts/{account_id}/email/routing/addresses/{address_id}", get_address, methods=["GET"]
    ),
    Route(
        "/accounts/{account_id}/email/routing/addresses/{address_id}",
        delete_address,
        methods=["DELETE"],
    ),
    Route(zone_base + "/sending/subdomains", list_subdomains, methods=["GET"]),
    Route(zone_base + "/sending/subdomains", create_subdomain, methods=["POST"]),
    Route(zone_base + "/sending/subdomains/{tag}", get_subdomain, methods=["GET"]),
    Route(zone_base + "/sending/subdomains/{tag}", edit_subdomain, methods=["PATCH"]),
    Route(zone_base + "/sending/subdomains/{tag}", delete_subdomain, methods=["DELETE"]),
    Route(zone_base + "/sending/subdomains/{tag}/dns", subdomain_dns, methods=["GET"]),
]
# The verification mail's link is opened in a browser: outside /client/v4, no token.
verification_routes = [
    Route(VERIFY_PATH + "{token}", open_verification_link, methods=["GET"]),
]
