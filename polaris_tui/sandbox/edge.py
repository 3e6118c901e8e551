"""The HTTP edge: routes by Host like Cloudflare's proxy.

``assets.<domain>`` (an attached, active R2 custom domain) serves bucket objects;
a host bound to a deployed Worker (route + proxied record, or a Workers custom domain)
is answered by that Worker's uploaded modules running in workerd (503 with the reason when
Node is missing, never a stand-in); a proxied host without a Worker answers 522; others 404.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from polaris_tui.sandbox import zone
from polaris_tui.sandbox.api.storage import domain_status
from polaris_tui.sandbox.api.workers import match_route
from polaris_tui.sandbox.s3 import INTERNAL_AUTH
from polaris_tui.sandbox.state import Settings, Store, worker_secret_service
from polaris_tui.sandbox.workerd import (
    RuntimeUnavailable,
    WorkerdHost,
    WorkerLoadError,
    worker_spec,
)

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
HOP_HEADERS = ("connection", "keep-alive", "transfer-encoding", "content-length", "upgrade")


class Edge:
    def __init__(
        self,
        store: Store,
        settings: Callable[[], Settings],
        s3_url: Callable[[], str],
        workers: WorkerdHost,
    ) -> None:
        self.store, self.settings, self.s3_url, self.workers = store, settings, s3_url, workers
        self._client: Any = None

    def _http(self) -> Any:
        """One loopback client for the edge's event loop (building one per request costs
        tens of milliseconds)."""
        import httpx

        if self._client is None:
            self._client = httpx.AsyncClient(timeout=60, trust_env=False)
        return self._client

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
            return await self._worker(request, script)
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
        if request.method not in ("GET", "HEAD"):
            return PlainTextResponse("Method not allowed", status_code=405)
        key = request.url.path.lstrip("/")
        if not key:
            return PlainTextResponse("Not found", status_code=404)
        forwarded = {k: v for k, v in request.headers.items() if k.lower() in CONDITIONAL_HEADERS}
        upstream = await self._http().request(
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

    @staticmethod
    def _unavailable(script: dict[str, Any], reason: str) -> Response:
        return PlainTextResponse(
            f"Worker {script['name']} cannot run in this sandbox: {reason}", status_code=503
        )

    def _spec(self, script: dict[str, Any]) -> dict[str, Any]:
        secrets = self.store.keyring.entries(worker_secret_service(script["name"]))
        return worker_spec(script, secrets)

    def load_deployed(self) -> None:
        """Load every deployed Worker in a background thread, as Cloudflare runs a deployed
        Worker before its first request; a failure is left for that request to report."""
        with self.store.read() as state:
            scripts = [dict(script) for script in state["scripts"].values()]

        def load() -> None:
            for script in scripts:
                with contextlib.suppress(RuntimeUnavailable, WorkerLoadError):
                    self.workers.url_for(
                        script["name"], script["etag"], lambda s=script: self._spec(s)
                    )

        if scripts and self.workers.problem is None:
            threading.Thread(target=load, name="edge-load", daemon=True).start()

    async def _worker(self, request: Request, script: dict[str, Any]) -> Response:
        if self.workers.problem:
            return self._unavailable(script, self.workers.problem)
        try:
            url = await asyncio.to_thread(
                self.workers.url_for, script["name"], script["etag"], lambda: self._spec(script)
            )
        except RuntimeUnavailable as err:
            return self._unavailable(script, str(err))
        except WorkerLoadError as err:  # what Cloudflare shows for a Worker that cannot start
            return PlainTextResponse(
                f"error code: 1101 (Worker {script['name']} failed to start: {err})",
                status_code=500,
            )
        headers = [(k, v) for k, v in request.headers.items() if k.lower() not in HOP_HEADERS]
        target = url.rstrip("/") + request.url.path
        if request.url.query:
            target += "?" + request.url.query
        upstream = await self._http().request(
            request.method, target, headers=headers, content=await request.body()
        )
        # httpx hands over the decoded body, so its content-encoding no longer applies.
        passed = [
            (k, v)
            for k, v in upstream.headers.items()
            if k.lower() not in (*HOP_HEADERS, "content-encoding")
        ]
        response = Response(upstream.content, status_code=upstream.status_code)
        response.raw_headers = [
            *(h for h in response.raw_headers if h[0] == b"content-length"),
            *((k.encode("latin-1"), v.encode("latin-1")) for k, v in passed),
        ]
        return response
