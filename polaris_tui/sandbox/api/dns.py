"""DNS records: list/create/get/update/edit/delete and batch."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from polaris_tui.sandbox import zone
from polaris_tui.sandbox.api.common import check_zone, json_body, require_object
from polaris_tui.sandbox.envelope import ApiError, ok, paginate


def _existing(state: dict[str, Any], record_id: str) -> dict[str, Any]:
    rec = state["dns_records"].get(record_id)
    if rec is None:
        raise ApiError(404, 81044, "Record does not exist.")
    return rec


def _guard_locked(rec: dict[str, Any], state: dict[str, Any]) -> None:
    """Records a Cloudflare product manages (a Worker custom domain) are read-only."""
    if rec.get("meta", {}).get("read_only"):
        raise ApiError(
            400,
            1046,
            f"Record {rec['name']} is managed by Cloudflare "
            f"({rec['meta'].get('managed_by', 'another product')}) and is read-only.",
        )
    routing = state["email_routing"]
    if (
        rec["type"] == "MX"
        and rec.get("meta", {}).get("email_routing")
        and routing.get("enabled")
        and not routing.get("unlocked")
    ):
        raise ApiError(
            400,
            1046,
            f"Record {rec['name']} is locked by Email Routing; unlock "
            "it with email_routing.dns.edit first.",
        )


async def list_records(request: Request) -> Response:
    context = check_zone(request)
    with context.store.read() as state:
        records = list(state["dns_records"].values())
    found = zone.filter_records(records, request.query_params, context.store.domain)
    return paginate(
        [zone.record_view(r) for r in found], request.query_params, default_per_page=100
    )


async def create_record(request: Request) -> Response:
    context = check_zone(request)
    body = require_object(await json_body(request))
    with context.store.change() as state:
        rec = zone.add_record(state, body)
    return ok(zone.record_view(rec))


async def get_record(request: Request) -> Response:
    context = check_zone(request)
    with context.store.read() as state:
        return ok(zone.record_view(_existing(state, request.path_params["record_id"])))


def _replace(
    state: dict[str, Any], record_id: str, body: dict[str, Any], *, patch: bool
) -> dict[str, Any]:
    current = _existing(state, record_id)
    _guard_locked(current, state)
    if patch:
        rec = zone.build_record(body, state["zone"], current)
    else:
        rec = zone.build_record(body, state["zone"])
        rec.update(id=current["id"], created_on=current["created_on"], meta=current["meta"])
    zone.check_conflicts(state["dns_records"], rec)
    state["dns_records"][record_id] = rec
    return rec


async def update_record(request: Request) -> Response:
    context = check_zone(request)
    body = require_object(await json_body(request))
    with context.store.change() as state:
        rec = _replace(state, request.path_params["record_id"], body, patch=False)
    return ok(zone.record_view(rec))


async def edit_record(request: Request) -> Response:
    context = check_zone(request)
    body = require_object(await json_body(request))
    with context.store.change() as state:
        rec = _replace(state, request.path_params["record_id"], body, patch=True)
    return ok(zone.record_view(rec))


def _delete(state: dict[str, Any], record_id: str) -> dict[str, Any]:
    rec = _existing(state, record_id)
    _guard_locked(rec, state)
    del state["dns_records"][record_id]
    return rec


async def delete_record(request: Request) -> Response:
    context = check_zone(request)
    with context.store.change() as state:
        rec = _delete(state, request.path_params["record_id"])
    return ok({"id": rec["id"]})


def _entries(body: dict[str, Any], key: str) -> list[dict[str, Any]]:
    entries = body.get(key) or []
    if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
        raise ApiError(
            400, 9207, f"Request body is invalid: field '{key}' must be a list of objects"
        )
    for i, entry in enumerate(entries):
        if key != "posts" and not entry.get("id"):
            raise ApiError(400, 9207, f"Request body is invalid: field '{key}.{i}.id' is required")
    return entries


async def batch(request: Request) -> Response:
    """Deletes, then patches, then puts, then posts; all or nothing like Cloudflare."""
    context = check_zone(request)
    body = require_object(await json_body(request))
    result: dict[str, list[dict[str, Any]]] = {
        "deletes": [],
        "patches": [],
        "puts": [],
        "posts": [],
    }
    with context.store.change() as state:
        for entry in _entries(body, "deletes"):
            result["deletes"].append(_delete(state, entry["id"]))
        for entry in _entries(body, "patches"):
            result["patches"].append(_replace(state, entry["id"], entry, patch=True))
        for entry in _entries(body, "puts"):
            result["puts"].append(_replace(state, entry["id"], entry, patch=False))
        for entry in _entries(body, "posts"):
            result["posts"].append(zone.add_record(state, entry))
    return ok({key: [zone.record_view(r) for r in recs] for key, recs in result.items()})


base = "/zones/{zone_id}/dns_records"
routes = [
    Route(base, list_records, methods=["GET"]),
    Route(base, create_record, methods=["POST"]),
    Route(base + "/batch", batch, methods=["POST"]),
    Route(base + "/{record_id}", get_record, methods=["GET"]),
    Route(base + "/{record_id}", update_record, methods=["PUT"]),
    Route(base + "/{record_id}", edit_record, methods=["PATCH"]),
    Route(base + "/{record_id}", delete_record, methods=["DELETE"]),
]
