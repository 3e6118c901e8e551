"""Token verification and the zone listing."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from polaris_tui.sandbox.account_knobs import knobs
from polaris_tui.sandbox.api.common import check_account, check_zone, ctx
from polaris_tui.sandbox.envelope import ok, paginate

TOKEN_ID = "5a4d5a0b0e2f4a6e9a1c1d0a5b0c0e11"


def _token_status(request: Request) -> dict[str, Any]:
    expires_on = knobs(request).token_expires_on()
    return {"id": TOKEN_ID, "status": "active", "not_before": None, "expires_on": expires_on}


async def verify_user_token(request: Request) -> Response:
    return ok(_token_status(request))


async def verify_account_token(request: Request) -> Response:
    check_account(request)
    return ok(_token_status(request))


def zone_object(request: Request) -> dict[str, Any]:
    store = ctx(request).store
    zone = store.data["zone"]
    status = knobs(request).zone_status
    delegated = [f"ns1.{zone['name']}", f"ns2.{zone['name']}"]
    return {
        "id": zone["id"],
        "name": zone["name"],
        "status": status,
        "paused": False,
        "type": "full",
        "development_mode": 0,
        "name_servers": knobs(request).name_servers(delegated),
        "original_name_servers": delegated if status == "pending" else None,
        "original_registrar": None,
        "original_dnshost": None,
        "created_on": zone["created_on"],
        "modified_on": zone["created_on"],
        "activated_on": zone["created_on"] if status == "active" else None,
        "account": {"id": store.account_id, "name": "Polaris sandbox account"},
        "owner": {"id": None, "name": None, "type": "user"},
        "permissions": ["#dns_records:edit", "#zone:read", "#worker:edit"],
        "plan": {
            "id": "0feeeeeeeeeeeeeeeeeeeeeeeeeeeeee",
            "name": "Free Website",
            "price": 0,
            "currency": "USD",
            "frequency": "",
            "is_subscribed": False,
            "can_subscribe": False,
            "legacy_id": "free",
            "legacy_discount": False,
            "externally_managed": False,
        },
        "meta": {
            "step": 2,
            "custom_certificate_quota": 0,
            "page_rule_quota": 3,
            "phishing_detected": False,
        },
    }


async def list_zones(request: Request) -> Response:
    zone = zone_object(request)
    query = request.query_params
    zones = [zone]
    if query.get("name") and query["name"].lower().rstrip(".") != zone["name"]:
        zones = []
    if query.get("account.id") and query["account.id"] != zone["account"]["id"]:
        zones = []
    return paginate(zones, query)


async def get_zone(request: Request) -> Response:
    check_zone(request)
    return ok(zone_object(request))


routes = [
    Route("/user/tokens/verify", verify_user_token, methods=["GET"]),
    Route("/accounts/{account_id}/tokens/verify", verify_account_token, methods=["GET"]),
    Route("/zones", list_zones, methods=["GET"]),
    Route("/zones/{zone_id}", get_zone, methods=["GET"]),
]
