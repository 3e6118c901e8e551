"""KV values and keys: the one store both the API and the edge's Workers read and write.

Values live in the account state under ``kv_values[namespace_id][key]`` (base64, expiry in
epoch seconds, metadata); an expired key reads as absent, as on Cloudflare.
"""

from __future__ import annotations

import base64
import hmac
import json
import time
from typing import Any

from starlette.applications import Starlette
from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Mount, Route

from polaris_tui.sandbox.api.common import ApiContext, check_account
from polaris_tui.sandbox.api.storage import KV_BASE
from polaris_tui.sandbox.envelope import ApiError, fail, ok

NAMESPACE = KV_BASE + "/{namespace_id}"
MIN_TTL_SECONDS = 60
MAX_KEY_BYTES = 512
MAX_LIST = 1000


def _namespace_values(state: dict[str, Any], ident: str) -> dict[str, Any]:
    if ident not in state["kv_namespaces"]:
        raise ApiError(404, 10013, "namespace not found")
    return state.setdefault("kv_values", {}).setdefault(ident, {})


def _live(entry: dict[str, Any]) -> bool:
    return entry.get("expiration") is None or entry["expiration"] > time.time()


def _entry(state: dict[str, Any], request: Request, what: str) -> dict[str, Any]:
    values = state.get("kv_values", {}).get(request.path_params["namespace_id"], {})
    if request.path_params["namespace_id"] not in state["kv_namespaces"]:
        raise ApiError(404, 10013, "namespace not found")
    entry = values.get(request.path_params["key"])
    if entry is None or not _live(entry):
        raise ApiError(404, 10009, f"{what}: 'key not found'")
    return entry


def _key(request: Request) -> str:
    key = request.path_params["key"]
    if len(key.encode()) > MAX_KEY_BYTES:
        raise ApiError(
            414, 10033, f"key is {len(key.encode())} bytes; the limit is {MAX_KEY_BYTES}"
        )
    if key in (".", ".."):
        raise ApiError(400, 10033, "Illegal key name: '.' and '..' are not allowed")
    return key


def _expiration(request: Request) -> float | None:
    query = request.query_params
    try:
        if query.get("expiration_ttl"):
            ttl = int(query["expiration_ttl"])
            if ttl < MIN_TTL_SECONDS:
                raise ApiError(
                    400,
                    10033,
                    f"Invalid expiration_ttl of {ttl}. Please specify integer greater "
                    f"than {MIN_TTL_SECONDS}.",
                )
            return time.time() + ttl
        if query.get("expiration"):
            expiration = int(query["expiration"])
            if expiration < time.time() + MIN_TTL_SECONDS:
                raise ApiError(
                    400,
                    10033,
                    f"Invalid expiration of {expiration}. Please specify integer greater "
                    f"than the current number of seconds since the UNIX epoch plus "
                    f"{MIN_TTL_SECONDS}.",
                )
            return float(expiration)
    except ValueError:
        raise ApiError(
            400, 10033, "field 'expiration'/'expiration_ttl' must be an integer"
        ) from None
    return None


async def _value_and_metadata(request: Request) -> tuple[bytes, Any]:
    """Multipart ``value`` (+ ``metadata`` JSON) as Cloudflare documents it, or a raw body."""
    if "multipart/form-data" not in request.headers.get("content-type", ""):
        return await request.body(), None
    form = await request.form()
    value = form.get("value")
    if value is None:
        raise ApiError(400, 10021, "field 'value' is required (a multipart part)")
    data = await value.read() if isinstance(value, UploadFile) else value.encode()
    raw = form.get("metadata")
    if isinstance(raw, UploadFile):
        raw = (await raw.read()).decode()
    try:
        metadata = json.loads(raw) if raw else None
    except ValueError:
        raise ApiError(400, 10021, "field 'metadata' is not valid JSON") from None
    return data, metadata


async def get_value(request: Request) -> Response:
    context = check_account(request)
    with context.store.read() as state:
        entry = _entry(state, request, "get")
        data = base64.b64decode(entry["b64"])
    return Response(data, media_type="application/octet-stream")


async def get_metadata(request: Request) -> Response:
    context = check_account(request)
    with context.store.read() as state:
        return ok(_entry(state, request, "metadata").get("metadata"))


async def put_value(request: Request) -> Response:
    context = check_account(request)
    key = _key(request)
    expiration = _expiration(request)
    data, metadata = await _value_and_metadata(request)
    with context.store.change() as state:
        values = _namespace_values(state, request.path_params["namespace_id"])
        values[key] = {
            "b64": base64.b64encode(data).decode(),
            "expiration": expiration,
            "metadata": metadata,
        }
        for name in [k for k, v in values.items() if not _live(v)]:
            del values[name]
    return ok({})


async def delete_value(request: Request) -> Response:
    context = check_account(request)
    with context.store.change() as state:
        _namespace_values(state, request.path_params["namespace_id"]).pop(
            request.path_params["key"], None
        )
    return ok({})


async def list_keys(request: Request) -> Response:
    context = check_account(request)
    query = request.query_params
    try:
        limit = int(query.get("limit") or MAX_LIST)
    except ValueError:
        raise ApiError(400, 10033, "field 'limit' must be an integer") from None
    if not 10 <= limit <= MAX_LIST:
        raise ApiError(400, 10033, f"field 'limit' must be between 10 and {MAX_LIST}")
    prefix = query.get("prefix") or ""
    with context.store.read() as state:
        if request.path_params["namespace_id"] not in state["kv_namespaces"]:
            raise ApiError(404, 10013, "namespace not found")
        values = state.get("kv_values", {}).get(request.path_params["namespace_id"], {})
        names = sorted(k for k, v in values.items() if k.startswith(prefix) and _live(v))
        start = 0
        if query.get("cursor"):
            cursor = base64.urlsafe_b64decode(query["cursor"].encode()).decode()
            start = next((i for i, n in enumerate(names) if n > cursor), len(names))
        page = names[start : start + limit]
        items = []
        for name in page:
            item: dict[str, Any] = {"name": name}
            if values[name].get("expiration") is not None:
                item["expiration"] = int(values[name]["expiration"])
            if values[name].get("metadata") is not None:
                item["metadata"] = values[name]["metadata"]
            items.append(item)
    more = start + limit < len(names)
    cursor = base64.urlsafe_b64encode(page[-1].encode()).decode() if more and page else ""
    return ok(items, result_info={"count": len(items), "cursor": cursor})


routes = [
    Route(NAMESPACE + "/values/{key:path}", get_value, methods=["GET"]),
    Route(NAMESPACE + "/values/{key:path}", put_value, methods=["PUT"]),
    Route(NAMESPACE + "/values/{key:path}", delete_value, methods=["DELETE"]),
    Route(NAMESPACE + "/metadata/{key:path}", get_metadata, methods=["GET"]),
    Route(NAMESPACE + "/keys", list_keys, methods=["GET"]),
]


def worker_backend(context: ApiContext, prefix: str, token: str) -> Any:
    """These routes for the edge's Workers: the same store and handlers, without the API's
    fault injection, latency and request log (a KV binding's reads are not API calls)."""

    async def api_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, ApiError)
        return fail(exc.status, exc.code, exc.message)

    app = Starlette(routes=[Mount(prefix, routes=routes)], exception_handlers={ApiError: api_error})
    app.state.ctx = context

    async def guarded(scope: dict, receive: Any, send: Any) -> None:
        headers = dict(scope.get("headers", []))
        given = headers.get(b"authorization", b"").removeprefix(b"Bearer ")
        if scope["type"] == "http" and not hmac.compare_digest(given, token.encode()):
            await fail(401, 10000, "Authentication error")(scope, receive, send)
            return
        await app(scope, receive, send)

    return guarded
