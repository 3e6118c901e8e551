"""The HTTP edge: routes by Host like Cloudflare's proxy.

``assets.<domain>`` (an attached, active R2 custom domain) serves bucket objects;
a host bound to a deployed Worker (route + proxied record, or a Workers custom domain)
goes to the relay engine; a proxied host without a Worker answers 522; others 404.
"""

from __future__ import annotations

import asyncio
import importlib.util
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from polaris_tui.sandbox import zone
from polaris_tui.sandbox.api.storage import domain_status
from polaris_tui.sandbox.api.workers import match_route
from polaris_tui.sandbox.s3 import INTERNAL_AUTH
from polaris_tui.sandbox.state import Settings, Store, worker_secret_service

RELAY_DEFAULTS = {
    "TS_WINDOW_MS": 300000,
    "NONCE_TTL_SECONDS": 600,
    "RATE_LIMIT_MAX": 10,
    "RATE_LIMIT_WINDOW_SECONDS": 3600,
}
PASS_HEADERS = (
    "content-type",
    "etag",
    "content-length",
    "last-modified",
    "cache-control",
    "content-range",
    "accept-ranges",
)
CONDITIONAL_HEADERS = ("if-none-match", "if-modified-since", "if-match", "range")


def relay_available() -> bool:
    """The relay engine ships separately; without it the edge answers 501."""
    try:
        return importlib.util.find_spec("polaris_tui.relay.engine") is not None
    except ModuleNotFoundError:
        return False


class Edge:
    def __init__(
        self,
        store: Store,
        settings: Callable[[], Settings],
        s3_url: Callable[[], str],
        smtp: Callable[[], tuple[str, int]],
    ) -> None:
        self.store, self.settings, self.s3_url, self.smtp = store, settings, s3_url, smtp
        self.engines: dict[str, tuple[Any, Any]] = {}

    def app(self) -> Starlette:
        methods = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]
        return Starlette(routes=[Route("/{path:path}", self.handle, methods=methods)])

    async def handle(self, request: Request) -> Response:
        delay = self.settings().latency_ms
        if delay > 0:
            await asyncio.sleep(delay / 1000)
        host = request.headers.get("host", "").rsplit(":", 1)[0].lower().rstrip(".")
        with self.store.read() as state:
            if not zone.in_zone(host, state["zone"]["name"]):
                return PlainTextResponse("Unknown host", status_code=404)
            custom = next(
                (
                    (b["name"], e)
                    for b in state["r2_buckets"].values()
                    for d, e in b["custom_domains"].items()
                    if d == host
                ),
                None,
            )
            script = self._bound_script(state, host, request.url.path)
            proxied = any(r.get("proxied") for r in zone.find(state, host))
        if custom is not None:
            bucket, entry = custom
            if domain_status(entry, self.settings().activation_ms)["ssl"] != "active":
                return PlainTextResponse(
                    "error code: 1014 (custom domain not active yet)", status_code=403
                )
            return await self._object(request, bucket)
        if script is not None:
            return await self._relay(request, script, host)
        if proxied:
            return PlainTextResponse("error code: 522", status_code=522)
        return PlainTextResponse("Not found", status_code=404)

    @staticmethod
    def _bound_script(state: dict[str, Any], host: str, path: str) -> dict[str, Any] | None:
        name = next(
            (d["service"] for d in state["worker_domains"].values() if d["hostname"] == host), None
        )
        if name is None and any(r.get("proxied") for r in zone.find(state, host)):
            route = match_route(list(state["routes"].values()), host, path)
            name = route["script"] if route else None
        script = state["scripts"].get(name) if name else None
        return dict(script) if script else None

    async def _object(self, request: Request, bucket: str) -> Response:
        import httpx

        if request.method not in ("GET", "HEAD"):
            return PlainTextResponse("Method not allowed", status_code=405)
        key = request.url.path.lstrip("/")
        if not key:
            return PlainTextResponse("Not found", status_code=404)
        forwarded = {k: v for k, v in request.headers.items() if k.lower() in CONDITIONAL_HEADERS}
        async with httpx.AsyncClient(timeout=30) as client:
            upstream = await client.request(
                request.method,
                f"{self.s3_url()}/{bucket}/{quote(key)}",
                headers={"Authorization": INTERNAL_AUTH, **forwarded},
            )
        if upstream.status_code == 404:
            return PlainTextResponse("Object not found", status_code=404)
        headers = {k: v for k, v in upstream.headers.items() if k.lower() in PASS_HEADERS}
        return Response(
            upstream.content if request.method == "GET" else b"",
            status_code=upstream.status_code,
            headers=headers,
        )

    def relay_settings(self, script: dict[str, Any], settings_cls: Any) -> Any:
        """RelaySettings from the deployed bindings (secret values from the keyring)."""
        secrets = self.store.keyring.entries(worker_secret_service(script["name"]))
        plain = {b["name"]: b.get("text") for b in script["bindings"] if b["type"] == "plain_text"}
        numbers = {k: int(plain.get(k) or v) for k, v in RELAY_DEFAULTS.items()}
        extra = (
            {"max_body_bytes": int(plain["MAX_BODY_BYTES"])} if plain.get("MAX_BODY_BYTES") else {}
        )
        senders = {
            b["allowed_sender_addresses"][0]: b["name"]
            for b in script["bindings"]
            if b["type"] == "send_email" and b.get("allowed_sender_addresses")
        }
        return settings_cls(
            secret_a=secrets.get("POLARIS_SECRET_A", ""),
            secret_b=secrets.get("POLARIS_SECRET_B") or None,
            senders=senders,
            ts_window_ms=numbers["TS_WINDOW_MS"],
            nonce_ttl_seconds=numbers["NONCE_TTL_SECONDS"],
            rate_limit_max=numbers["RATE_LIMIT_MAX"],
            rate_limit_window_seconds=numbers["RATE_LIMIT_WINDOW_SECONDS"],
            **extra,
        )

    async def _relay(self, request: Request, script: dict[str, Any], host: str) -> Response:
        if not relay_available():
            return JSONResponse({"error": "relay engine not available"}, status_code=501)
        from polaris_tui.relay.engine import RelayEngine, RelaySettings, SmtpDelivery

        try:
            settings = self.relay_settings(script, RelaySettings)
        except ValueError as err:  # what the Worker would throw on start-up: error 1101
            return PlainTextResponse(f"error code: 1101 (Worker exception: {err})", status_code=500)
        engine, current = self.engines.get(script["name"], (None, None))
        if engine is None:
            engine = RelayEngine(settings, SmtpDelivery(*self.smtp()))
        elif current != settings:
            engine.update(settings)
        self.engines[script["name"]] = (engine, settings)
        body = await request.body()
        headers = {k.lower(): v for k, v in request.headers.items()}
        resp = await engine.handle(request.method, request.url.path, host, headers, body)
        return Response(resp.body, status_code=resp.status, headers=resp.headers)
