"""uvicorn's httptools protocol, made strict for the relay.

Three gaps in the stock protocol, each an attack or a lost answer:
- no header timeout: a client dribbling headers held a connection for ever;
- end-of-file from a client that half-closes after its request closed the connection before
  the answer was written;
- parse errors were a plain-text 400, and a lower-case ``post`` (an unknown method to the
  parser) a 400 rather than the contract's 405.
"""

from __future__ import annotations

import asyncio
import json

import httptools
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

HEADER_TIMEOUT_SECONDS = 10.0


def _raw_json(status: str, payload: dict[str, str], *extra: bytes) -> bytes:
    body = json.dumps(payload, separators=(",", ":")).encode()
    head = [f"HTTP/1.1 {status}".encode(), b"content-type: application/json", *extra,
            b"content-length: %d" % len(body), b"connection: close"]  # fmt: skip
    return b"\r\n".join(head) + b"\r\n\r\n" + body


class StrictHttpToolsProtocol(HttpToolsProtocol):
    """HttpToolsProtocol with a header deadline, half-close support and JSON parse errors."""

    header_timeout: float = HEADER_TIMEOUT_SECONDS
    _header_deadline: asyncio.TimerHandle | None = None
    _eof = False

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm_header_deadline()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm_header_deadline()
        super().connection_lost(exc)

    def _arm_header_deadline(self) -> None:
        self._disarm_header_deadline()
        self._header_deadline = self.loop.call_later(self.header_timeout, self._headers_too_slow)

    def _disarm_header_deadline(self) -> None:
        if self._header_deadline is not None:
            self._header_deadline.cancel()
            self._header_deadline = None

    def _headers_too_slow(self) -> None:
        self._header_deadline = None
        if not self.transport.is_closing():
            self.transport.write(_raw_json("408 Request Timeout", {"error": "request_timeout"}))
            self.transport.close()

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._arm_header_deadline()

    def on_headers_complete(self) -> None:
        self._disarm_header_deadline()
        super().on_headers_complete()

    def eof_received(self) -> bool | None:  # type: ignore[override]
        """Keep the write side open while an answer is owed; close after it (no keep-alive)."""
        self._eof = True
        cycle = self.cycle
        if cycle is not None and not cycle.response_complete:
            cycle.keep_alive = False
            return True
        return None

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if self._eof and not self.transport.is_closing():
            self.transport.close()

    def data_received(self, data: bytes) -> None:
        self._unset_keepalive_if_required()
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserInvalidMethodError:
            self._refuse(_raw_json("405 Method Not Allowed", {"error": "method_not_allowed"},
                                   b"allow: POST"))  # fmt: skip
        except httptools.HttpParserUpgrade:
            if self._should_upgrade():
                self.handle_websocket_upgrade()
            else:
                self._unsupported_upgrade_warning()
        except httptools.HttpParserError as error:
            self._refuse(_raw_json("400 Bad Request", {
                "error": "bad_request", "field": "request",
                "message": f"malformed HTTP request: {error}",
            }))  # fmt: skip

    def _refuse(self, response: bytes) -> None:
        self._disarm_header_deadline()
        self.transport.write(response)
        self.transport.close()
