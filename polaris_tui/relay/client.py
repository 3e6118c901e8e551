"""Send one signed /send request, as the app would: ``send-test`` and the rotation probe."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from polaris_tui.adapters.http_probe import post
from polaris_tui.relay.signing import SigningError, sign


@dataclass(frozen=True)
class SendResult:
    status: int
    message_id: str | None
    key_slot: str | None
    body: dict | str


def send_signed(
    url: str,
    secret: str,
    payload: dict[str, Any],
    *,
    connect_to: str | None = None,
    timeout: float = 10.0,
) -> SendResult:
    """POST ``payload`` as JSON to ``url`` signed with ``secret``; Unavailable when nothing answers.

    ``connect_to`` (e.g. "http://127.0.0.1:8787") is where the TCP connection goes; the Host
    header and the signed host and path still come from ``url``, as behind an edge proxy.
    """
    body = json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    headers = {"content-type": "application/json", **sign(secret, "POST", url, body)}
    target = url
    if connect_to is not None:
        parts = urlsplit(url)
        base = urlsplit(connect_to)
        if base.scheme not in ("http", "https") or not base.netloc:
            raise SigningError(
                f"connect_to {connect_to!r} must be a base URL like http://127.0.0.1:8787"
            )
        target = parts._replace(scheme=base.scheme, netloc=base.netloc).geturl()
        headers["host"] = parts.netloc
    response = post(target, body, headers, timeout=timeout)
    try:
        parsed: dict | str = response.json()
    except ValueError:
        parsed = response.text
    if not isinstance(parsed, dict):
        parsed = response.text
    return SendResult(
        status=response.status_code,
        message_id=parsed.get("id") if isinstance(parsed, dict) else None,
        key_slot=parsed.get("key") if isinstance(parsed, dict) else None,
        body=parsed,
    )
