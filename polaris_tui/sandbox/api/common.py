"""Shared pieces of the API handlers: the server context and path/body helpers."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from starlette.requests import Request

from polaris_tui.sandbox.envelope import ApiError
from polaris_tui.sandbox.faults import FaultPlan
from polaris_tui.sandbox.state import Settings, Store


@dataclass
class ApiContext:
    """Everything a handler needs; one per running sandbox."""

    store: Store
    settings: Settings
    faults: FaultPlan
    token: str
    create_bucket: Callable[[str], None] = field(default=lambda name: None)
    delete_bucket: Callable[[str], None] = field(default=lambda name: None)


def ctx(request: Request) -> ApiContext:
    return request.app.state.ctx


def check_zone(request: Request) -> ApiContext:
    """404 like Cloudflare for a zone id that is not the sandbox zone."""
    context = ctx(request)
    if request.path_params.get("zone_id") != context.store.zone_id:
        raise ApiError(
            404,
            7003,
            f"Could not route to {request.url.path}, perhaps your object identifier is invalid?",
        )
    return context


def check_account(request: Request) -> ApiContext:
    context = ctx(request)
    if request.path_params.get("account_id") != context.store.account_id:
        raise ApiError(403, 9109, "Unauthorized to access requested resource")
    return context


async def json_body(request: Request, *, required: bool = True) -> Any:
    raw = await request.body()
    if not raw.strip():
        if required:
            raise ApiError(400, 9207, "Request body is invalid: a JSON body is required")
        return {}
    try:
        return json.loads(raw)
    except ValueError:
        raise ApiError(400, 6007, "Malformed JSON in request body") from None


def require_object(body: Any) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise ApiError(400, 9207, "Request body is invalid: expected a JSON object")
    return body
