"""An independent signer and a raw-socket HTTP client, written from docs/relay-protocol.md.

Deliberately shares no code with polaris_tui.relay: the malformed cases (duplicated headers,
framing conflicts, odd methods and paths) need bytes no well-behaved client library sends.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import os
import socket
import time
from base64 import urlsafe_b64encode


def doc_sign(secret: str, host: str, path: str, body: bytes, *, ts_ms: int | None = None,
             nonce: str | None = None) -> dict[str, str]:  # fmt: skip
    """Section 2 of the protocol, verbatim: seven LF-joined fields, HMAC-SHA256, lowercase hex."""
    ts = str(int(time.time() * 1000) if ts_ms is None else ts_ms)
    nonce = nonce or urlsafe_b64encode(os.urandom(16)).rstrip(b"=").decode()
    signed_host = host.lower()
    for default in (":80", ":443"):
        if signed_host.endswith(default):
            signed_host = signed_host[: -len(default)]
    canonical = "\n".join(
        ["POLARIS-HMAC-SHA256-V1", "POST", signed_host, path, ts, nonce,
         hashlib.sha256(body).hexdigest()]
    )  # fmt: skip
    sig = hmac.new(secret.encode(), canonical.encode(), hashlib.sha256).hexdigest()
    return {"X-Polaris-Ts": ts, "X-Polaris-Nonce": nonce, "X-Polaris-Sig": sig}


def raw_request(
    port: int, head: bytes, body: bytes = b"", *, half_close: bool = True, timeout: float = 20
) -> tuple[int, bytes]:
    """Send ``head`` (request line and headers, no final blank line) and ``body``; (status, body).

    The status is 0 when the server closed the connection without answering.
    """
    data = b""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        # A server may answer before it has read the body (a 413 on Content-Length) and
        # close: the rest of the send, or the half-close, then fails, and the answer waiting
        # in the socket is still read.
        with contextlib.suppress(OSError):
            sock.sendall(head + b"\r\n\r\n" + body)
            if half_close:  # the answer must still come back
                sock.shutdown(socket.SHUT_WR)
        with contextlib.suppress(ConnectionResetError):
            while chunk := sock.recv(65536):
                data += chunk
                if not half_close and _complete(data):
                    break
    if not data:
        return 0, b""
    status_line, _, rest = data.partition(b"\r\n")
    return int(status_line.split()[1]), rest.partition(b"\r\n\r\n")[2]


def _complete(data: bytes) -> bool:
    head, sep, body = data.partition(b"\r\n\r\n")
    if not sep:
        return False
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return len(body) >= int(value)
    return False


def header_block(method: str, path: str, headers: list[tuple[str, str]]) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", *(f"{k}: {v}" for k, v in headers)]
    return "\r\n".join(lines).encode("latin-1")


def signed_case(secret: str, host: str, payload: dict[str, object], *, method: str = "POST",
                path: str = "/send", signed_path: str = "/send",
                extra: list[tuple[str, str]] | None = None,
                drop: tuple[str, ...] = ()) -> tuple[bytes, bytes]:  # fmt: skip
    """A request signed for ``signed_path`` on ``host``, sent as ``method path`` plus ``extra``."""
    body = json.dumps(payload).encode()
    signed = doc_sign(secret, host, signed_path, body)
    headers = [("Host", host), ("Content-Type", "application/json")]
    headers += [(k, v) for k, v in signed.items() if k not in drop]
    headers += extra or []
    if not any(k.lower() in ("content-length", "transfer-encoding") for k, _ in extra or []):
        headers.append(("Content-Length", str(len(body))))
    return header_block(method, path, headers), body
