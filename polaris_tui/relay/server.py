"""A raw ASGI front for RelayEngine: reads the body with the size cap, hands it over verbatim."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from polaris_tui.relay.engine import (
    RelayEngine,
    RelayResponse,
    payload_too_large,
    request_timeout,
    valid_host,
)

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


BODY_TIMEOUT_SECONDS = 30.0


class _TooLarge(Exception):
    pass


async def _read_body(receive: Receive, limit: int, declared: str | None) -> bytes:
    """The whole body, or _TooLarge as soon as it (or its Content-Length) passes ``limit``."""
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise _TooLarge
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise _TooLarge
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


async def _respond(send: Send, response: RelayResponse) -> None:
    headers = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in response.headers.items()]
    headers.append((b"content-length", str(len(response.body)).encode()))
    await send({"type": "http.response.start", "status": response.status, "headers": headers})
    await send({"type": "http.response.body", "body": response.body})


def _headers(raw: list[tuple[bytes, bytes]]) -> tuple[dict[str, str], str | None]:
    """Lower-case names, repeats joined with ", " (as the Fetch API joins them for a Worker).

    The Host comes back apart: None when absent or repeated, which the engine refuses.
    """
    headers: dict[str, str] = {}
    hosts = 0
    for name, value in raw:
        key, text = name.decode("latin-1").lower(), value.decode("latin-1")
        hosts += key == "host"
        headers[key] = f"{headers[key]}, {text}" if key in headers else text
    return headers, headers.get("host") if hosts == 1 else None


def create_app(engine: RelayEngine, *, body_timeout: float = BODY_TIMEOUT_SECONDS) -> ASGIApp:
    """The relay as an ASGI app; the engine decides every status except 413 and 408.

    A body that has not arrived within ``body_timeout`` seconds is a 408 and the connection
    closes, so a slow client holds no connection (nor memory) for long.
    """

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await receive()
            await send({"type": "lifespan.startup.complete"})
            await receive()
            await send({"type": "lifespan.shutdown.complete"})
            return
        if scope["type"] != "http":
            return
        headers, host = _headers(scope["headers"])
        # The path as sent: not percent-decoded, dot segments kept ("/a/../send" is not /send).
        raw_path = scope.get("raw_path") or scope["path"].encode()
        path = raw_path.split(b"?", 1)[0].decode("latin-1")
        limit = engine.settings.max_body_bytes
        try:
            body = b""
            if scope["method"] == "POST" and path == "/send" and valid_host(host):
                async with asyncio.timeout(body_timeout):
                    body = await _read_body(receive, limit, headers.get("content-length"))
        except _TooLarge:
            response = payload_too_large(limit)
        except TimeoutError:
            response = request_timeout()
        else:
            response = await engine.handle(scope["method"], path, host, headers, body)
        await _respond(send, response)

    return app
