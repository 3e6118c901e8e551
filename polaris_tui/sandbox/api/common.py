"""Shared pieces of the API handlers: the server context and path/body helpers."""

from __future__ import annotations

import json
import re
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
    bucket_keys: Callable[[str], list[str]] = field(default=lambda name: [])


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
        return parse_json(raw)
    except ValueError as exc:
        raise ApiError(400, 6007, f"Malformed JSON in request body: {exc}") from None


MAX_JSON_DEPTH = 64
"""Nesting beyond this is refused before parsing: no Cloudflare body nests more than a few
levels, and deeper ones exhaust Python's recursion (the parser, the log's redaction, copies)."""
_STRUCTURE = re.compile(r'"(?:[^"\\]|\\.)*"|[\[\]{}]')


def parse_json(raw: str | bytes) -> Any:
    """``json.loads`` that refuses nesting deeper than MAX_JSON_DEPTH with a ValueError."""
    text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw
    depth = 0
    for token in _STRUCTURE.findall(text):  # strings are skipped whole, brackets counted
        if token in ("[", "{"):
            depth += 1
            if depth > MAX_JSON_DEPTH:
                raise ValueError(f"nested deeper than {MAX_JSON_DEPTH} levels")
        elif token in ("]", "}"):
            depth -= 1
    return json.loads(text)


def require_object(body: Any) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise ApiError(400, 9207, "Request body is invalid: expected a JSON object")
    return body
