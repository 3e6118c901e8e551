"""R2 buckets with custom domains (pending -> active) and KV namespaces."""

from __future__ import annotations

import re
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from polaris_tui.sandbox import schema, zone
from polaris_tui.sandbox.api.common import ApiContext, check_account, json_body, require_object
from polaris_tui.sandbox.envelope import ApiError, ok, paginate
from polaris_tui.sandbox.state import epoch_ms, new_id, now_iso

BUCKET_NAME = re.compile(r"^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$")
R2_PUBLIC_TARGET = "public.r2.dev"


def _bucket_view(bucket: dict[str, Any]) -> dict[str, Any]:
    return {
        "name": bucket["name"],
        "creation_date": bucket["creation_date"],
        "location": bucket.get("location", "enam"),
        "storage_class": "Standard",
        "jurisdiction": "default",
    }


def _bucket(state: dict[str, Any], name: str) -> dict[str, Any]:
    bucket = state["r2_buckets"].get(name)
    if bucket is None:
        raise ApiError(404, 10006, "The specified bucket does not exist.")
    return bucket


async def list_buckets(request: Request) -> Response:
    context = check_account(request)
    with context.store.read() as state:
        buckets = [
            _bucket_view(b) for b in sorted(state["r2_buckets"].values(), key=lambda b: b["name"])
        ]
    prefix = request.query_params.get("name_contains")
    if prefix:
        buckets = [b for b in buckets if prefix in b["name"]]
    return ok({"buckets": buckets})


async def create_bucket(request: Request) -> Response:
    context = check_account(request)
    body = require_object(await json_body(request))
    schema.validate(body, schema.request_schema("post", "/accounts/{account_id}/r2/buckets"))
    name = body["name"]
    if not BUCKET_NAME.match(name):
        raise ApiError(
            400,
            10005,
            f"field 'name': {name!r} is not a valid bucket name "
            "(3-63 lowercase letters, digits and hyphens).",
        )
    with context.store.change() as state:
        if name in state["r2_buckets"]:
            raise ApiError(
                409, 10004, "The bucket you tried to create already exists, and you own it."
            )
        context.create_bucket(name)
        bucket = {
            "name": name,
            "creation_date": now_iso(),
            "location": (body.get("locationHint") or "enam"),
            "custom_domains": {},
        }
        state["r2_buckets"][name] = bucket
    return ok(_bucket_view(bucket))


async def get_bucket(request: Request) -> Response:
    context = check_account(request)
    with context.store.read() as state:
        return ok(_bucket_view(_bucket(state, request.path_params["bucket"])))


async def delete_bucket(request: Request) -> Response:
    context = check_account(request)
    with context.store.change() as state:
        bucket = _bucket(state, request.path_params["bucket"])
        if bucket["custom_domains"]:
            raise ApiError(409, 10008, "The bucket has custom domains attached; remove them first.")
        if context.bucket_keys(bucket["name"]):
            raise ApiError(409, 10008, "The bucket you tried to delete is not empty.")
        context.delete_bucket(bucket["name"])
        del state["r2_buckets"][bucket["name"]]
    return ok({})


def domain_status(entry: dict[str, Any], activation_ms: int) -> dict[str, str]:
    """Ownership and SSL become active once the activation delay has passed."""
    if not entry["enabled"]:
        return {"ownership": "deactivated", "ssl": "deactivated"}
    if epoch_ms() >= entry["created_ts"] + activation_ms:
        return {"ownership": "active", "ssl": "active"}
    return {"ownership": "pending", "ssl": "initializing"}


def _domain_view(entry: dict[str, Any], context: ApiContext) -> dict[str, Any]:
    return {
        "domain": entry["domain"],
        "enabled": entry["enabled"],
        "status": domain_status(entry, context.settings.activation_ms),
        "minTLS": entry.get("minTLS", "1.0"),
        "ciphers": entry.get("ciphers"),
        "zoneId": entry["zoneId"],
        "zoneName": context.store.domain,
    }


async def list_custom(request: Request) -> Response:
    context = check_account(request)
    with context.store.read() as state:
        bucket = _bucket(state, request.path_params["bucket"])
        domains = [_domain_view(e, context) for e in bucket["custom_domains"].values()]
    return ok({"domains": domains})


async def create_custom(request: Request) -> Response:
    context = check_account(request)
    body = require_object(await json_body(request))
    for field, kind in (("domain", str), ("enabled", bool), ("zoneId", str)):
        if not isinstance(body.get(field), kind):
            raise ApiError(
                400, 9207, f"Request body is invalid: field '{field}' is required ({kind.__name__})"
            )
    domain = body["domain"].lower().rstrip(".")
    if body["zoneId"] != context.store.zone_id:
        raise ApiError(
            400, 10041, f"field 'zoneId': {body['zoneId']} is not a zone of this account."
        )
    with context.store.change() as state:
        bucket = _bucket(state, request.path_params["bucket"])
        if not zone.in_zone(domain, state["zone"]["name"]):
            # A validation error like the 10041 above; never 10042, which is R2's NotEntitled.
            raise ApiError(
                400, 10041, f"field 'domain': {domain} is not inside zone {state['zone']['name']}."
            )
        for other in state["r2_buckets"].values():
            if domain in other["custom_domains"]:
                raise ApiError(
                    409,
                    10056,
                    f"The domain {domain} is already attached to bucket {other['name']}.",
                )
        entry = {
            "domain": domain,
            "enabled": body["enabled"],
            "zoneId": body["zoneId"],
            "minTLS": body.get("minTLS", "1.0"),
            "ciphers": body.get("ciphers"),
            "created_ts": epoch_ms(),
        }
        bucket["custom_domains"][domain] = entry
        if not zone.find(state, domain):
            zone.add_record(
                state,
                {
                    "name": domain,
                    "type": "CNAME",
                    "content": R2_PUBLIC_TARGET,
                    "proxied": True,
                    "ttl": 1,
                },
                meta={"read_only": True, "managed_by": "r2", "r2_bucket": bucket["name"]},
            )
    return ok(
        {
            "domain": domain,
            "enabled": entry["enabled"],
            "zoneId": entry["zoneId"],
            "minTLS": entry["minTLS"],
            "ciphers": entry["ciphers"],
        }
    )


def _custom(bucket: dict[str, Any], domain: str) -> dict[str, Any]:
    entry = bucket["custom_domains"].get(domain.lower())
    if entry is None:
        raise ApiError(404, 10057, f"Custom domain {domain} is not attached to this bucket.")
    return entry


async def get_custom(request: Request) -> Response:
    context = check_account(request)
    with context.store.read() as state:
        bucket = _bucket(state, request.path_params["bucket"])
        return ok(_domain_view(_custom(bucket, request.path_params["domain"]), context))


async def update_custom(request: Request) -> Response:
    context = check_account(request)
    body = require_object(await json_body(request))
    with context.store.change() as state:
        bucket = _bucket(state, request.path_params["bucket"])
        entry = _custom(bucket, request.path_params["domain"])
        for key in ("enabled", "minTLS", "ciphers"):
            if key in body:
                entry[key] = body[key]
    return ok(
        {
            "domain": entry["domain"],
            "enabled": entry["enabled"],
            "minTLS": entry["minTLS"],
            "ciphers": entry["ciphers"],
        }
    )


async def delete_custom(request: Request) -> Response:
    context = check_account(request)
    with context.store.change() as state:
        bucket = _bucket(state, request.path_params["bucket"])
        entry = _custom(bucket, request.path_params["domain"])
        del bucket["custom_domains"][entry["domain"]]
        for rec in zone.find(state, entry["domain"]):
            if rec.get("meta", {}).get("managed_by") == "r2":
                del state["dns_records"][rec["id"]]
    return ok({"domain": entry["domain"]})


# -- KV ------------------------------------------------------------------------------
KV_BASE = "/accounts/{account_id}/storage/kv/namespaces"


def _namespace(state: dict[str, Any], ident: str) -> dict[str, Any]:
    ns = state["kv_namespaces"].get(ident)
    if ns is None:
        raise ApiError(404, 10013, "namespace not found")
    return ns


async def list_namespaces(request: Request) -> Response:
    context = check_account(request)
    with context.store.read() as state:
        items = sorted(state["kv_namespaces"].values(), key=lambda n: n["title"])
    return paginate(items, request.query_params)


async def create_namespace(request: Request) -> Response:
    context = check_account(request)
    body = require_object(await json_body(request))
    schema.validate(body, schema.request_schema("post", KV_BASE))
    with context.store.change() as state:
        if any(n["title"] == body["title"] for n in state["kv_namespaces"].values()):
            raise ApiError(400, 10014, "a namespace with this account ID and title already exists")
        ns = {"id": new_id(), "title": body["title"], "supports_url_encoding": True}
        state["kv_namespaces"][ns["id"]] = ns
    return ok(ns)


async def get_namespace(request: Request) -> Response:
    context = check_account(request)
    with context.store.read() as state:
        return ok(_namespace(state, request.path_params["namespace_id"]))


async def rename_namespace(request: Request) -> Response:
    context = check_account(request)
    body = require_object(await json_body(request))
    schema.validate(body, schema.request_schema("put", KV_BASE + "/{namespace_id}"))
    with context.store.change() as state:
        ns = _namespace(state, request.path_params["namespace_id"])
        if any(
            n["title"] == body["title"] and n["id"] != ns["id"]
            for n in state["kv_namespaces"].values()
        ):
            raise ApiError(400, 10014, "a namespace with this account ID and title already exists")
        ns["title"] = body["title"]
    return ok(ns)


async def delete_namespace(request: Request) -> Response:
    context = check_account(request)
    with context.store.change() as state:
        ns = _namespace(state, request.path_params["namespace_id"])
        del state["kv_namespaces"][ns["id"]]
        state.get("kv_values", {}).pop(ns["id"], None)
    return ok({})


R2 = "/accounts/{account_id}/r2/buckets"
routes = [
    Route(R2, list_buckets, methods=["GET"]),
    Route(R2, create_bucket, methods=["POST"]),
    Route(R2 + "/{bucket}", get_bucket, methods=["GET"]),
    Route(R2 + "/{bucket}", delete_bucket, methods=["DELETE"]),
    Route(R2 + "/{bucket}/domains/custom", list_custom, methods=["GET"]),
    Route(R2 + "/{bucket}/domains/custom", create_custom, methods=["POST"]),
    Route(R2 + "/{bucket}/domains/custom/{domain}", get_custom, methods=["GET"]),
    Route(R2 + "/{bucket}/domains/custom/{domain}", update_custom, methods=["PUT"]),
    Route(R2 + "/{bucket}/domains/custom/{domain}", delete_custom, methods=["DELETE"]),
    Route(KV_BASE, list_namespaces, methods=["GET"]),
    Route(KV_BASE, create_namespace, methods=["POST"]),
    Route(KV_BASE + "/{namespace_id}", get_namespace, methods=["GET"]),
    Route(KV_BASE + "/{namespace_id}", rename_namespace, methods=["PUT"]),
    Route(KV_BASE + "/{namespace_id}", delete_namespace, methods=["DELETE"]),
]
