"""The ASGI app at /client/v4: auth, latency/fault injection and the request log around
the endpoint groups."""

from __future__ import annotations

import asyncio
import hmac
import json
import re
import threading
import time
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Mount

from polaris_tui.sandbox import account_knobs
from polaris_tui.sandbox.address_verification import VERIFY_PATH
from polaris_tui.sandbox.api import accounts, dns, email, kv_values, storage, workers
from polaris_tui.sandbox.api.common import ApiContext, parse_json
from polaris_tui.sandbox.envelope import PAGE_CAP, ApiError, fail

PREFIX = "/client/v4"
# An API token is URL-safe base64 text; anything else in a Bearer header is malformed.
_TOKEN_FORM = re.compile(r"[A-Za-z0-9_-]+")
MALFORMED_TOKEN = {
    "success": False,
    "errors": [
        {
            "code": 6003,
            "message": "Invalid request headers",
            "error_chain": [{"code": 6111, "message": "Invalid format for Authorization header"}],
        }
    ],
    "messages": [],
    "result": None,
}
_REDACT_KEY = re.compile(r"secret|text|token|value|password|key", re.I)
FAULT_CODES = {
    429: (971, "Please wait and consider throttling your request speed"),
    500: (10001, "Internal server error (sandbox fault injection)"),
    502: (10002, "Bad gateway (sandbox fault injection)"),
    503: (10003, "Service unavailable (sandbox fault injection)"),
}


def redact(value: Any, sensitive: bool = False) -> Any:
    """Hide scalar values under keys that may carry secrets (``text``, ``secret``, ``token``,
    ``value`` ...) before anything reaches the log; names and structure stay readable."""
    if isinstance(value, dict):
        return {k: redact(v, bool(_REDACT_KEY.search(str(k)))) for k, v in value.items()}
    if isinstance(value, list):
        return [redact(v, sensitive) for v in value]
    return "[redacted]" if sensitive and value is not None else value


class RequestLog:
    """Append-only JSON lines of every API request (tests count retries with it)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()

    def append(self, entry: dict[str, Any]) -> None:
        line = json.dumps(entry, sort_keys=True) + "\n"
        with self._lock, self.path.open("a", encoding="utf-8") as handle:
            handle.write(line)


async def _api_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    return fail(exc.status, exc.code, exc.message)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if exc.status_code == 405:
        return fail(405, 10405, f"Method {request.method} not allowed for {request.url.path}")
    return fail(
        exc.status_code,
        7003,
        f"Could not route to {request.url.path}, perhaps your object identifier is invalid?",
    )


async def _crash(request: Request, exc: Exception) -> Response:
    return fail(500, 10001, f"Internal sandbox error: {type(exc).__name__}")


class GuardedApi:
    """Pure ASGI wrapper: latency, faults, Bearer auth and the request log."""

    def __init__(self, app: Starlette, context: ApiContext, log: RequestLog) -> None:
        self.app, self.context, self.log = app, context, log

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        method, path = scope["method"], scope["path"]
        if path.startswith(VERIFY_PATH):  # a link opened from a mail: no API token
            await self.app(scope, receive, send)
            return
        rel = path[len(PREFIX) :] if path.startswith(PREFIX) else path
        chunks = []
        while True:
            message = await receive()
            chunks.append(message.get("body", b""))
            if not message.get("more_body") or message["type"] != "http.request":
                break
        body = b"".join(chunks)

        async def replay() -> dict:
            return {"type": "http.request", "body": body, "more_body": False}

        status = [0]
        fault: list[str] = []
        logged = [False]

        def write_log() -> None:
            """Log before the last body byte leaves, so a client that got its answer
            always finds the line (tests count retries right after a call)."""
            if logged[0]:
                return
            logged[0] = True
            entry: dict[str, Any] = {
                "ts": time.time(),
                "method": method,
                "path": rel,
                "query": scope.get("query_string", b"").decode("latin-1"),
                "status": status[0],
                "ms": round((time.perf_counter() - started) * 1000, 2),
            }
            if fault:
                entry["fault"] = fault[0]
            if body and _is_json(scope):
                try:
                    entry["body"] = redact(parse_json(body))
                except ValueError:
                    entry["body"] = "[unparsable]"
            self.log.append(entry)

        async def send_wrapper(message: dict) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
                date = (b"date", self.app.state.knobs.date_header().encode())
                message = {**message, "headers": [*message.get("headers", []), date]}
            elif message["type"] == "http.response.body" and not message.get("more_body"):
                write_log()
            await send(message)

        decision = self.context.faults.decide(method, rel)
        delay = self.context.settings.latency_ms + decision.delay_ms
        try:
            if delay > 0:
                await asyncio.sleep(delay / 1000)
            if decision.reset:
                fault.append("reset")
                write_log()
                # Promise a body and close without it: the client sees a dropped connection.
                await send(
                    {
                        "type": "http.response.start",
                        "status": 200,
                        "headers": [
                            (b"content-type", b"application/json"),
                            (b"content-length", b"4096"),
                        ],
                    }
                )
                return
            if decision.status is not None:
                fault.append(str(decision.status))
                code, message = FAULT_CODES.get(
                    decision.status, (10000 + decision.status, "Sandbox fault injection")
                )
                headers = {"Retry-After": "0"} if decision.status == 429 else None
                await fail(decision.status, code, message, headers)(scope, replay, send_wrapper)
                return
            verdict = self._authorisation(scope)
            if verdict == "malformed":
                answer = JSONResponse(MALFORMED_TOKEN, status_code=400)
                await answer(scope, replay, send_wrapper)
                return
            if verdict != "ok":
                await fail(401, 10000, "Authentication error")(scope, replay, send_wrapper)
                return
            refusal = self.app.state.knobs.refusal(method, rel)
            if refusal is not None:
                await fail(*refusal)(scope, replay, send_wrapper)
                return
            PAGE_CAP.set(self.context.settings.page_cap)
            await self.app(scope, replay, send_wrapper)
        finally:
            write_log()

    def _authorisation(self, scope: dict) -> str:
        """``ok``, ``denied`` (no or wrong token: 401/10000) or ``malformed`` (a header that
        is not ``Bearer <token>``: Cloudflare answers 400/6003 with 6111 in its chain)."""
        for key, value in scope.get("headers", []):
            if key == b"authorization":
                scheme, _, token = value.decode("latin-1").partition(" ")
                if scheme.lower() != "bearer" or not _TOKEN_FORM.fullmatch(token):
                    return "malformed"
                same = hmac.compare_digest(token.encode(), self.context.token.encode())
                return "ok" if same else "denied"
        return "denied"


def _is_json(scope: dict) -> bool:
    return any(k == b"content-type" and b"json" in v for k, v in scope.get("headers", []))


def create_api(context: ApiContext, log_path: Path) -> GuardedApi:
    routes = [
        *accounts.routes,
        *dns.routes,
        *email.routes,
        *storage.routes,
        *kv_values.routes,
        *workers.routes,
        *account_knobs.routes,
    ]
    app = Starlette(
        routes=[Mount(PREFIX, routes=routes), *email.verification_routes],
        exception_handlers={ApiError: _api_error, HTTPException: _http_error, Exception: _crash},
    )
    app.state.ctx = context
    app.state.knobs = account_knobs.AccountKnobs.from_env()
    return GuardedApi(app, context, RequestLog(log_path))
