"""HTTP checks against our public hostnames; in the sandbox they go to the local edge with the
right Host header, so the same step code runs in both modes."""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from polaris_tui.errors import Unavailable
from polaris_tui.ports import HttpResponse

if TYPE_CHECKING:
    import ssl

    import httpx


_tls_lock = threading.Lock()


def tls_context() -> ssl.SSLContext:
    """httpx's default TLS context, built once per process and shared by every client (the
    probes' and the SDK's): building one (loading the CA bundle) takes 30-40 ms of CPU,
    which a client per probe paid each time while every other check of a verify waited.
    Locked: a verify's first SDK call and first probe ask for it at the same moment."""
    with _tls_lock:
        return _tls_built()


@cache
def _tls_built() -> ssl.SSLContext:
    import httpx

    return httpx.create_ssl_context()


@dataclass
class HttpProber:
    connect_to: str | None = None  # e.g. the sandbox edge "http://127.0.0.1:P"
    timeout: float = 10.0

    def route(self, url: str) -> tuple[str, dict[str, str]]:
        """The URL to connect to and the extra headers (Host) for a public URL."""
        if not self.connect_to:
            return url, {}
        parts = urlsplit(url)
        target = self.connect_to.rstrip("/") + (parts.path or "/")
        if parts.query:
            target += "?" + parts.query
        return target, {"Host": parts.netloc}

    async def request(
        self,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str] | None = None,
        content: bytes | None = None,
    ) -> HttpResponse:
        import httpx

        target, extra = self.route(url)
        try:
            async with httpx.AsyncClient(
                timeout=self.timeout, follow_redirects=False, verify=tls_context()
            ) as client:
                response = await client.request(
                    method, target, headers={**extra, **(headers or {})}, content=content
                )
        except httpx.HTTPError as exc:
            raise Unavailable(f"{type(exc).__name__}: {exc}") from exc
        return _response(response)


def _response(response: httpx.Response) -> HttpResponse:
    return HttpResponse(
        response.status_code,
        {k.lower(): v for k, v in response.headers.items()},
        response.content,
    )


def post(
    url: str, content: bytes, headers: Mapping[str, str], *, timeout: float = 10.0
) -> HttpResponse:
    """One synchronous POST (the CLI's send-test); Unavailable when nothing answers."""
    import httpx

    try:
        return _response(httpx.post(url, content=content, headers=dict(headers), timeout=timeout))
    except httpx.HTTPError as exc:
        raise Unavailable(f"{type(exc).__name__}: {exc}") from exc
